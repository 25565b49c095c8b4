"""The preview page in Chromium: opened by GetSnapshotUrls' `PreviewUrl` alone (a browser signs nothing),
it shows the job's sheet, links its storyboards, and plays the input video in the Plyr the API serves with
the job's thumbnails on the seek bar: hovering it shows the frame of each time, dragging it seeks there.
Nothing comes from anywhere but the API (the browser cannot resolve any other host: `players.mjs`)."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from service.config import Settings
from tests.browser.conftest import BrowserTools
from tests.browser.test_storyboard_players import (
    COUNT,
    TIMEOUT_S,
    check_page_log,
    check_plyr,
    drive,
    fetch_text,
    origin_of,
    served_image_urls,
    stored_cues,
)
from tests.e2e.conftest import running_stack
from tests.ice import call, submit_params
from tests.integration.api.test_snapshot_urls import put_local, run_job
from tests.media_factory import read_index

pytestmark = [pytest.mark.pg, pytest.mark.amqp, pytest.mark.timeout(240)]

CONFIG = re.compile(r'<script type="application/json" id="preview-config">(.*?)</script>', re.S)


async def test_the_preview_page_shows_the_thumbnails(
    browser_tools: BrowserTools, settings: Settings, page_clip: Path, tmp_path: Path
) -> None:
    # the input itself is the WebM the page plays: the job captures from it, the page plays it
    put_local(settings, "media", "clip.webm", page_clip)
    params = submit_params(
        media="oss://media/clip.webm",
        output="oss://thumbs/pv/board.vtt",
        Type="WebVtt",
        Count=COUNT,
        Interval=1,
        Width=160,
        FrameType="normal",
        IsSptFrag=True,
        StoryboardFormats=["json", "hls", "bif"],
    )
    async with running_stack(settings) as stack:
        job = await run_job(stack, **params)
        status, urls = await call(stack.api, "GetSnapshotUrls", JobId=job["JobId"], Timeout=str(TIMEOUT_S))
        assert status == 200, urls
        page = await fetch_text(stack, urls["PreviewUrl"])
        config = json.loads(CONFIG.search(page).group(1))  # type: ignore[union-attr]
        image_urls = served_image_urls(await fetch_text(stack, config["vtt"]))
        result = (await drive(browser_tools, {"preview": urls["PreviewUrl"]}, tmp_path / "profile"))["preview"]

    api = {origin_of(urls["PreviewUrl"])}
    cues = stored_cues((Path(settings.storage.root) / "thumbs" / "pv" / "board.vtt").read_text())
    check_page_log(result, api)
    # the sheet (10x10 cells of 160x90, the first row used), loaded whole: its cells show their frames
    (sheet,) = result["images"]
    assert sheet["natural"] == [10 * 160, 10 * 90]
    with Image.open(io.BytesIO(base64.b64decode(sheet["png"]))) as shot:
        w, h = shot.width / 10, shot.height / 10
        shown = [read_index(shot.convert("RGB"), (round(k * w), 0, round(w), round(h))) for k in (0, COUNT - 1)]
    assert shown == [cues[0].frame, cues[-1].frame]
    assert {link.rsplit("?")[0].rsplit("/", 1)[1] for link in result["links"]} == {
        "board.vtt",
        "board.json",
        "board.m3u8",
        "board.bif",
    }
    # the player: Plyr from the API, the video from the API, the thumbnails the job made
    check_plyr(result["player"], api, cues, image_urls)
    fetched = {r["url"].split("?")[0].rsplit("/", 1)[1] for r in result["player"]["responses"]}
    assert {"plyr.min.js", "plyr.css", "plyr.svg", "preview.js", "clip.webm", "board.vtt"} <= fetched
