"""A job that outlives its time limit fails with JobTimeout; its stuck decoder is killed and the
worker goes on serving with a fresh pool."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from service.config import Settings
from tests.conftest import free_port
from tests.e2e.conftest import running_stack
from tests.ice import call, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


@pytest.fixture
async def stalling_server() -> AsyncIterator[str]:
    """Answers a range request with a few bytes, then stops sending (until the test ends)."""
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            status=206, headers={"Content-Range": "bytes 0-262143/50000000", "Content-Length": "262144"}
        )
        await response.prepare(request)
        await response.write(b"\x00\x00\x00\x20ftypisom" + b"\x00" * 1000)
        await release.wait()
        return response

    app = web.Application()
    app.router.add_get("/stuck.mp4", stall)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/stuck.mp4"
    release.set()
    await runner.cleanup()


async def test_stuck_job_times_out_and_the_pool_is_replaced(
    base_env: dict[str, str], stalling_server: str, clip: Path
) -> None:
    settings = Settings.from_env(
        {
            **base_env,
            "SNAPSHOTD_SSRF_ALLOW": "127.0.0.1/32",
            "SNAPSHOTD_JOB_TIMEOUT_BASE_S": "2",
            "SNAPSHOTD_JOB_TIMEOUT_PER_IMAGE_S": "0",
        }
    )
    target = Path(settings.storage.root) / "media" / "clip.mp4"
    target.parent.mkdir(parents=True)
    shutil.copyfile(clip, target)

    async with running_stack(settings) as stack:
        _, stuck = await call(stack.api, "SubmitSnapshotJob", **submit_params(media=stalling_server))
        timed_out = await stack.wait_final(stuck["JobId"], timeout_s=30)
        _, good = await call(stack.api, "SubmitSnapshotJob", **submit_params())
        after = await stack.wait_final(good["JobId"], timeout_s=30)

    assert (timed_out["Status"], timed_out["Code"]) == ("Fail", "JobTimeout")
    assert "2 s" in timed_out["Message"]
    assert after["Status"] == "Success"
