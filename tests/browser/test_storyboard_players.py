"""Storyboards in real players: a WebVtt job's `WebVTTUrl`, handed as it is to Chromium's own `<track>`,
to Plyr 3.8 and to video.js 8 with videojs-vtt-thumbnails, on a page of another origin, shows the frame of
each cue's time. For the local backend and for the S3 server, and locally for a keyframe (`intra`)
storyboard of a 720p clip, whose keyframes decode without the deblocking filter (thumbnail decode).

The clip's frames carry their own index (tests/media_factory.py), so a picture of what a player shows
says which frame it is: the test hovers the seek bar at a time and decodes the thumbnail the player drew.
With Plyr the seek bar is also dragged: the frame shows over the whole picture, and on release the
video is at that time. The pages (tests/browser/pages) come from a second server on `localhost` (the
API is on 127.0.0.1 and another port), the way a site's pages and its media API differ. `players.mjs`
drives the browser.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import webvtt
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

from service.config import Settings
from service.domain.models import CaptureSpec, FrameType, ObjectRef, SnapshotConfig, SnapshotType
from service.media import capture
from service.media.source import open_source
from service.storage.s3 import S3Storage
from tests.browser.conftest import BROWSER_DIR, NODE_MODULES, BrowserTools
from tests.e2e.conftest import Stack, running_stack
from tests.ice import call, submit_params
from tests.integration.api.test_snapshot_urls import put_local, run_job
from tests.media_factory import make_video, read_index

pytestmark = [pytest.mark.pg, pytest.mark.amqp, pytest.mark.timeout(240)]

FPS = 25
COUNT = 10
#: the storyboard's cell width
WIDTH = 160
#: hover times, in seconds: the middle of cues spread over the clip (Plyr clamps to duration - 1)
HOVER_TIMES = [0.5, 3.5, 6.5, 8.5]
#: where the Plyr test drags the seek bar to
SCRUB_TIME = 5.5
#: a player gets this long for any one step (loading the track, showing a thumbnail)
STEP_TIMEOUT_MS = 20_000
#: URL lifetime asked of GetSnapshotUrls
TIMEOUT_S = 900


@dataclass(frozen=True)
class StoredCue:
    start: float
    end: float
    xywh: tuple[int, int, int, int]

    @property
    def frame(self) -> int:
        """The clip's frame shown at the cue's time (FrameType normal captures it exactly; intra takes the
        keyframe at or before it, which is that frame: the clips have a keyframe every second)."""
        return round(self.start * FPS)


@pytest.fixture
async def site(page_clip: Path) -> AsyncIterator[str]:
    """The second origin: the player pages, the players from node_modules, and the clip."""
    app = web.Application()
    app.router.add_static("/pages/", BROWSER_DIR / "pages")
    app.router.add_static("/node_modules/", NODE_MODULES)

    async def clip(_: web.Request) -> web.FileResponse:
        return web.FileResponse(page_clip, headers={"Content-Type": "video/webm"})

    app.router.add_get("/media/clip.webm", clip)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://localhost:{server.port}"
    finally:
        await server.close()


def webvtt_params(media: str, output: str, frame_type: str = "normal") -> dict[str, Any]:
    return submit_params(
        media=media,
        output=output,
        Type="WebVtt",
        Count=COUNT,
        Interval=1,
        Width=WIDTH,
        FrameType=frame_type,
        IsSptFrag=True,
    )


@pytest.fixture(scope="module")
def clip_720p(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clip's frames at 1280x720: 160-pixel cells of its keyframes decode as thumbnails."""
    return make_video(
        tmp_path_factory.mktemp("media") / "clip-720p.mp4", seconds=COUNT, fps=FPS, gop=FPS, size=(1280, 720)
    )


def decodes_as_thumbnails(clip: Path, tmp_path: Path) -> bool:
    """Whether the engine decodes this clip's intra storyboard without the deblocking filter."""
    config = SnapshotConfig(
        type=SnapshotType.WEBVTT, frame_type=FrameType.INTRA, count=COUNT, interval_s=1, width=WIDTH, is_spt_frag=True
    )
    spec = CaptureSpec(str(clip), config, "board.vtt", str(tmp_path))
    with open_source(str(clip)) as src:
        return capture.decodes_as_thumbnails(src, spec, capture.make_sink(spec, str(tmp_path)))


async def storyboard_url(stack: Stack, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    job = await run_job(stack, **params)
    status, body = await call(stack.api, "GetSnapshotUrls", JobId=job["JobId"], Timeout=str(TIMEOUT_S))
    assert status == 200, body
    assert body["WebVTTUrl"], body
    return body["WebVTTUrl"], job


def stored_cues(text: str) -> list[StoredCue]:
    """The stored track's cues, read by an independent WebVTT parser."""
    cues = []
    for cue in webvtt.from_buffer(io.StringIO(text)):
        fragment = cue.text.strip().partition("#xywh=")[2]
        x, y, w, h = (int(v) for v in fragment.split(","))
        cues.append(StoredCue(cue.start_in_seconds, cue.end_in_seconds, (x, y, w, h)))
    return cues


async def run_players(tools: BrowserTools, site: str, vtt_url: str, profile: Path) -> dict[str, Any]:
    query = urlencode({"vtt": vtt_url, "video": f"{site}/media/clip.webm"})
    return await drive(
        tools, {name: f"{site}/pages/{name}.html?{query}" for name in ("track", "plyr", "videojs")}, profile
    )


async def drive(tools: BrowserTools, pages: dict[str, str], profile: Path) -> dict[str, Any]:
    """What Chromium showed on each page (`players.mjs` names the drivers: track, plyr, videojs, preview)."""
    spec = {
        "chromium": tools.chromium,
        "profile": str(profile),
        "timeout_ms": STEP_TIMEOUT_MS,
        "hover_times": HOVER_TIMES,
        "scrub_time": SCRUB_TIME,
        "pages": pages,
    }
    process = await asyncio.create_subprocess_exec(
        tools.node,
        str(BROWSER_DIR / "players.mjs"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=BROWSER_DIR,
    )
    out, err = await asyncio.wait_for(process.communicate(json.dumps(spec).encode()), 180)
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


def shown_frame(png_base64: str) -> int:
    with Image.open(io.BytesIO(base64.b64decode(png_base64.partition(",")[2] or png_base64))) as image:
        return read_index(image.convert("RGB"))


def px(value: str) -> float:
    assert value.endswith("px"), value
    return float(value[:-2])


def cue_at(cues: list[StoredCue], time: float) -> int:
    return next(i for i, cue in enumerate(cues) if cue.start <= time < cue.end)


def check_page_log(page: dict[str, Any], api_origins: set[str]) -> None:
    """Nothing failed, and every cross-origin answer the page needed carried CORS headers."""
    # a video element cancels its own range read when it seeks or reloads (net::ERR_ABORTED): that is
    # the browser changing its mind, not an answer that failed
    failures = [f for f in page["failures"] if (f["type"], f["error"]) != ("media", "net::ERR_ABORTED")]
    assert failures == [], failures
    assert page["console"] == [], page["console"]
    delivered = [r for r in page["responses"] if origin_of(r["url"]) in api_origins]
    assert delivered, "the page fetched nothing from the API or the store"
    for response in delivered:
        assert response["status"] in (200, 206, 304), response
        if response["origin"] is not None:  # a CORS request: the browser needed the header to use it
            assert response["headers"].get("access-control-allow-origin") in ("*", response["origin"]), response


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def object_and_expiry(url: str) -> tuple[str, int]:
    """What a URL grants: which object, until when. Two answers for one .vtt URL may presign its images
    in different seconds (the store stamps its signing time), but they grant the same."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if "X-Amz-Date" in query:
        signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(signed.timestamp()) + int(query["X-Amz-Expires"][0])
    else:
        expires = int(query["Expires"][0])
    return f"{origin_of(url)}{parts.path}", expires


def same_grants(urls: list[str], expected: list[str]) -> bool:
    got, wanted = [object_and_expiry(u) for u in urls], [object_and_expiry(u) for u in expected]
    # one second of leeway: the store's signing second may follow the API's
    return len(got) == len(wanted) and all(
        g[0] == w[0] and abs(g[1] - w[1]) <= 1 for g, w in zip(got, wanted, strict=True)
    )


def check_players(result: dict[str, Any], vtt_url: str, cues: list[StoredCue], image_urls: list[str]) -> None:
    """What each player showed is the right crop of the right sheet, fetched through the signed URLs."""
    api_origins = {origin_of(vtt_url), *(origin_of(url) for url in image_urls)}
    vtt_expires = object_and_expiry(vtt_url)[1]
    assert all(0 <= object_and_expiry(url)[1] - vtt_expires <= 1 for url in image_urls)
    assert len(cues) == COUNT
    assert [round(cue.start, 3) for cue in cues] == list(range(COUNT))

    # Chromium's own parser: every cue, its times, and its image crossing origins into a canvas.
    track = result["track"]
    check_page_log(track, api_origins)
    assert [(c["start"], c["end"]) for c in track["cues"]] == [(c.start, c.end) for c in cues]
    assert [tuple(c["xywh"]) for c in track["cues"]] == [c.xywh for c in cues]
    assert same_grants([c["url"] for c in track["cues"]], image_urls)
    assert [shown_frame(c["png"]) for c in track["cues"]] == [c.frame for c in cues]

    check_plyr(result["plyr"], api_origins, cues, image_urls)

    videojs = result["videojs"]
    check_page_log(videojs, api_origins)
    for hover in videojs["hovers"]:
        k = cue_at(cues, math.floor(hover["time"]))
        x, y, w, h = cues[k].xywh
        style = hover["style"]
        assert style["backgroundImage"].startswith('url("') and style["backgroundImage"].endswith('")')
        assert same_grants([style["backgroundImage"][5:-2]], [image_urls[k]]), hover["time"]
        assert [px(v) for v in style["backgroundPosition"].split()] == [-x, -y]
        assert (style["width"], style["height"]) == (f"{w}px", f"{h}px")
        assert shown_frame(hover["png"]) == cues[k].frame, hover["time"]


def check_plyr(plyr: dict[str, Any], api_origins: set[str], cues: list[StoredCue], image_urls: list[str]) -> None:
    """Plyr's seek-bar previews: the right crop of the right sheet, fetched through the signed URLs."""
    check_page_log(plyr, api_origins)
    assert plyr["duration"] == pytest.approx(COUNT, abs=0.1)
    for hover in plyr["hovers"]:
        k = cue_at(cues, hover["time"])
        x, y, _, h = cues[k].xywh
        scale = hover["container"][1] / h
        assert hover["index"] == k, hover["time"]
        assert same_grants([hover["src"]], [image_urls[k]])
        assert px(hover["style"]["left"]) == pytest.approx(-x * scale, abs=0.5)
        assert px(hover["style"]["top"]) == pytest.approx(-y * scale, abs=0.5)
        assert px(hover["style"]["width"]) == pytest.approx(hover["natural"][0] * scale, abs=0.5)
        assert shown_frame(hover["png"]) == cues[k].frame, hover["time"]
    # dragging the seek bar: the frame over the whole picture, then the video is there
    seek = plyr["seek"]
    k = cue_at(cues, seek["time"])
    assert seek["index"] == k and same_grants([seek["src"]], [image_urls[k]])
    assert shown_frame(seek["png"]) == cues[k].frame
    assert seek["currentTime"] == pytest.approx(SCRUB_TIME, abs=0.5)


def served_image_urls(served_vtt: str) -> list[str]:
    return [cue.text.strip().partition("#")[0] for cue in webvtt.from_buffer(io.StringIO(served_vtt))]


async def fetch_text(stack: Stack, url: str) -> str:
    async with stack.api.session.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.text()


@pytest.mark.parametrize(
    ("frame_type", "clip_name"),
    # intra: 160-pixel cells of 720p keyframes, which decode without the deblocking filter
    [("normal", "clip"), ("intra", "clip_720p")],
)
async def test_local_storyboard_plays_in_real_players(
    browser_tools: BrowserTools,
    settings: Settings,
    site: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    frame_type: str,
    clip_name: str,
) -> None:
    clip: Path = request.getfixturevalue(clip_name)
    if frame_type == "intra":
        assert decodes_as_thumbnails(clip, tmp_path)
    put_local(settings, "media", "clip.mp4", clip)
    params = webvtt_params("oss://media/clip.mp4", "oss://thumbs/story/board.vtt", frame_type)
    async with running_stack(settings) as stack:
        vtt_url, _ = await storyboard_url(stack, params)
        image_urls = served_image_urls(await fetch_text(stack, vtt_url))
        result = await run_players(browser_tools, site, vtt_url, tmp_path / "profile")

    stored = (Path(settings.storage.root) / "thumbs" / "story" / "board.vtt").read_text()
    assert {origin_of(url) for url in image_urls} == {origin_of(vtt_url)}
    check_players(result, vtt_url, stored_cues(stored), image_urls)


@pytest.mark.s3
async def test_s3_storyboard_plays_in_real_players(
    browser_tools: BrowserTools,
    s3_service_env: dict[str, str],
    s3_storage: S3Storage,
    s3_bucket: str,
    blob_prefix: str,
    clip: Path,
    site: str,
    tmp_path: Path,
) -> None:
    settings = Settings.from_env(s3_service_env)
    await s3_storage.put_file(ObjectRef(s3_bucket, f"{blob_prefix}/in.mp4"), str(clip), "video/mp4")
    # A private bucket serves other origins only with a CORS rule: the one the README gives.
    await s3_storage.put_bucket_cors(s3_bucket, settings.http.allowed_origins())
    params = webvtt_params(f"oss://{s3_bucket}/{blob_prefix}/in.mp4", f"oss://{s3_bucket}/{blob_prefix}/board.vtt")
    async with running_stack(settings) as stack:
        vtt_url, _ = await storyboard_url(stack, params)
        image_urls = served_image_urls(await fetch_text(stack, vtt_url))
        result = await run_players(browser_tools, site, vtt_url, tmp_path / "profile")

    stored = (await s3_storage.get_bytes(ObjectRef(s3_bucket, f"{blob_prefix}/board.vtt"))).decode()
    assert urlsplit(vtt_url).path == f"/files/{s3_bucket}/{blob_prefix}/board.vtt"
    for url in image_urls:
        query = parse_qs(urlsplit(url).query)
        assert urlsplit(url).path == f"/{s3_bucket}/{blob_prefix}/board/snapshot-tile-00001.jpg"
        assert "X-Amz-Signature" in query
        assert 0 < int(query["X-Amz-Expires"][0]) <= TIMEOUT_S
    check_players(result, vtt_url, stored_cues(stored), image_urls)
