"""The wheel: `pip install .` (not editable) into a fresh virtualenv, then `snapshotd migrate` on an empty database.

The wheel is built from a copy of what the image's build context holds (pyproject.toml, setup.py, README.md,
service/, migrations/), away from the checkout, and run from elsewhere: nothing of the checkout can be found at
run time, so the SQL files must come from inside the wheel. The virtualenv gets the wheel without its
dependencies and sees this environment's site-packages as a plain path (one `.pth` line: the editable install's
finder there never runs), so it installs in seconds, with no index.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import database_url
from tests.deploy.support import BUILD_CONTEXT, ROOT

pytestmark = [pytest.mark.pg, pytest.mark.timeout(180)]


@dataclass(frozen=True, slots=True)
class Install:
    wheel: Path
    venv: Path
    site_packages: Path


def _run(*command: str | Path, cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=150, env=_clean_env())
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would put the checkout on sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    return {**env, **extra}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    for name in BUILD_CONTEXT:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", work / "dist", source, cwd=work)
    (wheel,) = (work / "dist").glob("snapshotd-*.whl")
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    python = venv / "bin" / "python"
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=work,
    )
    site_packages = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=work).strip())
    # The dependencies: this environment's, after the venv's own packages (so `service` is the wheel's).
    (site_packages / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    yield Install(wheel, venv, site_packages)


async def _snapshotd(install: Install, *args: str, cwd: Path, **env: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        install.venv / "bin" / "snapshotd",
        *args,
        cwd=cwd,
        env=_clean_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def _tables(dsn: str) -> dict[str, set[str]]:
    """Table name → column names, of the public schema."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        )
    finally:
        await connection.close()
    tables: dict[str, set[str]] = {}
    for row in rows:
        tables.setdefault(row["table_name"], set()).add(row["column_name"])
    return tables


def test_the_wheel_carries_every_module_and_every_migration(installed: Install) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())

    modules = {path.relative_to(ROOT).as_posix() for path in (ROOT / "service").rglob("*.py")}
    migrations = {f"service/migrations/{path.name}" for path in (ROOT / "migrations").glob("*.sql")}
    assert migrations, "the checkout has migrations"
    assert modules <= names, sorted(modules - names)
    assert migrations <= names, sorted(migrations - names)
    assert "service/py.typed" in names


async def test_installed_snapshotd_migrates_an_empty_database(
    installed: Install, empty_database_url: str, template_database: str, tmp_path: Path
) -> None:
    code, output = await _snapshotd(installed, "migrate", cwd=tmp_path, SNAPSHOTD_DATABASE_URL=empty_database_url)

    assert code == 0, output
    versions = sorted(path.stem for path in (ROOT / "migrations").glob("*.sql"))
    assert f"migrations applied: {', '.join(versions)}" in output, output
    # Every table and column, as the checkout's own migration run made them for the tests' template database.
    assert await _tables(empty_database_url) == await _tables(database_url(template_database))
    connection = await asyncpg.connect(empty_database_url)
    try:
        recorded = [r["version"] for r in await connection.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
    finally:
        await connection.close()
    assert recorded == versions

    code, output = await _snapshotd(installed, "migrate", cwd=tmp_path, SNAPSHOTD_DATABASE_URL=empty_database_url)
    assert code == 0 and "migrations applied: none (up to date)" in output, output


async def test_the_installed_code_is_the_wheels_not_the_checkouts(installed: Install, tmp_path: Path) -> None:
    script = "import service.store.migrate as m; print(m.__file__); print(m.MIGRATIONS_DIR)"
    process = await asyncio.create_subprocess_exec(
        installed.venv / "bin" / "python", "-c", script, cwd=tmp_path, env=_clean_env(), stdout=subprocess.PIPE
    )
    output, _ = await process.communicate()

    module, migrations = output.decode().split()
    assert Path(module).is_relative_to(installed.site_packages), module
    assert Path(migrations) == installed.site_packages / "service" / "migrations"


async def test_an_install_without_its_sql_files_fails_to_migrate_loudly(
    installed: Install, empty_database_url: str, tmp_path: Path
) -> None:
    # The installed package, minus its SQL files, first on sys.path: a wheel built without its package data.
    stripped = tmp_path / "stripped"
    shutil.copytree(installed.site_packages / "service", stripped / "service", ignore=shutil.ignore_patterns("*.sql"))

    code, output = await _snapshotd(
        installed, "migrate", cwd=tmp_path, SNAPSHOTD_DATABASE_URL=empty_database_url, PYTHONPATH=str(stripped)
    )

    assert code == 1, output
    assert "no migration (*.sql) found" in output, output
    assert "up to date" not in output
    assert await _tables(empty_database_url) == {}, "nothing is created, not even schema_migrations"
