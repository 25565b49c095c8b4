"""Inputs on plain HTTP(S): read with range requests, behind the SSRF guard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from service.config import Settings
from tests.conftest import free_port
from tests.e2e.conftest import running_stack
from tests.ice import call, submit_params
from tests.media_factory import make_video

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "long.mp4", seconds=60, fps=25, gop=50, faststart=True)


#: the Range header of every request the media server answered
RANGES: list[str | None] = []


@pytest.fixture
async def media_server(long_clip: Path) -> AsyncIterator[str]:
    """Serves the clip over HTTP with Range support (aiohttp's FileResponse)."""
    RANGES.clear()

    async def clip(request: web.Request) -> web.FileResponse:
        RANGES.append(request.headers.get("Range"))
        return web.FileResponse(long_clip)

    app = web.Application()
    app.router.add_get("/videos/long.mp4", clip)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/videos/long.mp4"
    await runner.cleanup()


async def test_loopback_url_is_refused_without_allow_list(settings: Settings, media_server: str) -> None:
    async with running_stack(settings) as stack:
        status, body = await call(stack.api, "SubmitSnapshotJob", **submit_params(media=media_server))

    assert (status, body["Code"]) == (400, "InvalidParameter.AddressNotAllowed")


async def test_allow_listed_url_is_read_with_ranges(
    base_env: dict[str, str], media_server: str, long_clip: Path
) -> None:
    settings = Settings.from_env({**base_env, "SNAPSHOTD_SSRF_ALLOW": "127.0.0.1/32"})
    params = submit_params(media=media_server, Time=45_000, FrameType="normal")

    async with running_stack(settings) as stack:
        _, body = await call(stack.api, "SubmitSnapshotJob", **params)
        job = await stack.wait_final(body["JobId"])
        _, got = await call(stack.api, "GetSnapshotJob", JobId=body["JobId"])

    assert (job["Status"], job["Count"]) == ("Success", 1), job
    assert job["Images"][0]["CapturedMs"] == 45_000
    assert "OssFile" not in got["SnapshotJob"]["Input"]
    # Every request was a bounded range, and no more than the file was fetched.
    assert RANGES and all(r and r.startswith("bytes=") and r.split("-")[1] for r in RANGES), RANGES
    assert 0 < job["Stats"]["BytesRead"] <= long_clip.stat().st_size
    # 45 s is 25 frames into its GOP: the non-reference frames before it were dropped, not decoded
    assert job["Stats"]["FramesSkipped"] > 0
