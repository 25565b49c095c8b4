"""The AsyncAPI parser these tests run: npm's `@asyncapi/parser` under Node.js.

`make test` installs it (`npm ci` into the git-ignored `tests/asyncapi/node_modules`, pinned by
package-lock.json) and `.ci/run` installs Node.js when it is missing. Without them the parser test skips
with the command to run, except when `CI` is set: there it fails, so CI always parses the document.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

ASYNCAPI_DIR = Path(__file__).parent
PARSER = ASYNCAPI_DIR / "node_modules" / "@asyncapi" / "parser" / "package.json"
INSTALL_HINT = "install them with `apt-get install -y nodejs npm` and `npm ci --prefix tests/asyncapi`"


@pytest.fixture(scope="session")
def node() -> str:
    """Node.js with the pinned parser installed, or a skip (locally) / failure (CI) saying how to get them."""
    node = shutil.which("node")
    missing = ([] if node else ["node"]) + ([] if PARSER.is_file() else ["the npm package @asyncapi/parser"])
    if missing:
        message = f"the AsyncAPI parser test needs {', '.join(missing)}: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so it must run)")
        pytest.skip(message)
    assert node
    return node


async def parse(node: str, document: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """What validate.mjs reports for the document: the parser's diagnostics and what it read."""
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        node,
        str(ASYNCAPI_DIR / "validate.mjs"),
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ASYNCAPI_DIR,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    report: dict[str, Any] = json.loads(out)
    return report
