"""The one packaging rule pyproject.toml cannot state: the top-level `migrations/` folder ships as `service.migrations`.

The SQL files stay where an operator looks for them (`migrations/`, one copy in git), and the wheel carries
them inside the package, where `service/store/migrate.py` reads them with `importlib.resources`: an installed
service never depends on a source checkout. pyproject's `packages.find` cannot add a package whose folder
sits outside its parent's, hence this file; everything else is in pyproject.toml.
"""

from __future__ import annotations

from setuptools import find_packages, setup

setup(
    # Every sub-package of service/ (so new ones need no listing), plus the mapped migrations package.
    packages=[*find_packages(include=["service", "service.*"]), "service.migrations"],
    package_dir={"service.migrations": "migrations"},
)
