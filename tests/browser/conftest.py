"""What the browser tests need beyond the services: Debian's Chromium, Node.js, and the players from npm.

`make test` installs the npm packages (`npm ci` into the git-ignored `tests/browser/node_modules`, pinned
by package-lock.json) and `.ci/run` installs Chromium and Node.js when they are missing. Without them the
tests skip with the command to run, except when `CI` is set: there they fail, so a CI run can never
pass without having shown the storyboards in a browser.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.media_factory import make_video

BROWSER_DIR = Path(__file__).parent
NODE_MODULES = BROWSER_DIR / "node_modules"
#: the packages the pages and the driver load, as pinned in package.json
PACKAGES = ("playwright-core", "plyr", "video.js", "videojs-vtt-thumbnails")
INSTALL_HINT = "install them with `apt-get install -y chromium nodejs npm` and `npm ci --prefix tests/browser`"


@dataclass(frozen=True)
class BrowserTools:
    chromium: str
    node: str


def _missing(chromium: str | None, node: str | None) -> list[str]:
    missing = [] if chromium and os.access(chromium, os.X_OK) else ["chromium"]
    missing += [] if node else ["node"]
    missing += [f"the npm package {name}" for name in PACKAGES if not (NODE_MODULES / name / "package.json").is_file()]
    return missing


@pytest.fixture(scope="session")
def browser_tools() -> BrowserTools:
    """Chromium (`SNAPSHOTD_TEST_CHROMIUM`, else `chromium` on PATH) and Node.js with the pinned players,
    or a skip (locally) / failure (CI) saying how to get them."""
    chromium = os.environ.get("SNAPSHOTD_TEST_CHROMIUM") or shutil.which("chromium")
    node = shutil.which("node")
    missing = _missing(chromium, node)
    if missing:
        message = f"the browser tests need {', '.join(missing)}: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set, so they must run)")
        pytest.skip(message)
    assert chromium and node
    return BrowserTools(chromium, node)


#: the browser tests' clips: 10 s at 25 fps, a keyframe a second
CLIP_SECONDS, CLIP_FPS = 10, 25


@pytest.fixture(scope="session")
def page_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The job's clip as the page plays it: the same frames, in a container every Chromium build plays."""
    path = tmp_path_factory.mktemp("page") / "clip.webm"
    return make_video(path, codec="libvpx-vp9", seconds=CLIP_SECONDS, fps=CLIP_FPS, gop=CLIP_FPS)
