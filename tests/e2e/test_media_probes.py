"""Probes on the workers: bad inputs end as PrepareFail (or are refused at registration) while the worker
keeps serving; ICE's probe jobs with their MediaInfoComplete event and callback; a snapshot job on an
asset still probing waits, undispatched, and runs once the probe is done."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest

from service.config import Settings
from service.worker.app import run_worker
from tests.conftest import AMQP_URL, free_port
from tests.e2e.conftest import Stack, running_api, running_stack
from tests.e2e.test_callbacks import Receiver
from tests.ice import call, submit_params
from tests.media_factory import make_audio_only, make_corrupt, make_video, remux
from tests.range_server import serve_directory

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver(free_port())
    await receiver.start()
    yield receiver
    await receiver.stop()


def stored(settings: Settings, name: str, source: Path) -> str:
    target = Path(settings.storage.root) / "media" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return f"oss://media/{name}"


async def register(stack: Stack, url: str, **params: Any) -> tuple[int, dict[str, Any]]:
    return await call(stack.api, "RegisterMediaInfo", InputURL=url, **params)


async def settled(stack: Stack, media_id: str, timeout_s: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            status, body = await call(stack.api, "GetMediaInfo", MediaId=media_id)
            assert status == 200, body
            if body["MediaInfo"]["MediaBasicInfo"]["Status"] != "Init":
                return body["MediaInfo"]
            await asyncio.sleep(0.05)


async def probe_done(stack: Stack, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            status, body = await call(stack.api, "GetMediaInfoJob", JobId=job_id)
            assert status == 200, body
            if body["MediaInfoJob"]["Status"] in ("Success", "Fail"):
                return body["MediaInfoJob"]
            await asyncio.sleep(0.05)


async def test_bad_inputs_fail_their_probe_and_the_worker_keeps_serving(
    base_env: dict[str, str], clip: Path, tmp_path: Path
) -> None:
    # one attempt: an unreachable server fails at once rather than after the retries' back-off
    settings = Settings.from_env({**base_env, "SNAPSHOTD_SSRF_ALLOW": "127.0.0.1/32", "SNAPSHOTD_MAX_ATTEMPTS": "1"})
    corrupt = stored(settings, "corrupt.mp4", make_corrupt(tmp_path / "corrupt.mp4"))
    audio = stored(settings, "voice.mp4", make_audio_only(tmp_path / "voice.mp4"))
    good = stored(settings, "good.mp4", clip)
    async with running_stack(settings) as stack:
        cases = {
            "oss://media/missing.mp4": "InvalidParameter.ResourceNotFound",
            corrupt: "InvalidParameter.ResourceContentBad",
            audio: "InvalidParameter.ResourceContentBad",  # registered as a video (its extension), it has none
            f"http://127.0.0.1:{free_port()}/gone.mp4": "ServiceUnavailable",  # nothing listens there
        }
        ids = {}
        for url in cases:
            status, body = await register(stack, url)
            assert status == 200, body
            ids[url] = body["MediaId"]
        for url, code in cases.items():
            info = await settled(stack, ids[url])
            basic = info["MediaBasicInfo"]
            assert (basic["Status"], basic["Code"]) == ("PrepareFail", code), (url, basic)
            assert basic["Message"] and info["FileInfoList"] == []
        assert "no video stream" in (await settled(stack, ids[audio]))["MediaBasicInfo"]["Message"]

        # the same audio file as what it is: Normal, with its audio stream and no video
        status, body = await register(stack, audio, MediaType="audio", Overwrite=True)
        as_audio = await settled(stack, body["MediaId"])
        assert as_audio["MediaBasicInfo"]["Status"] == "Normal"
        (file_info,) = as_audio["FileInfoList"]
        assert file_info["VideoStreamInfoList"] == [] and file_info["AudioStreamInfoList"][0]["CodecName"] == "aac"
        refused = await call(
            stack.api, "SubmitSnapshotJob", **{**submit_params(), "Input": {"Type": "Media", "Media": body["MediaId"]}}
        )
        assert refused[0] == 400 and "audio" in refused[1]["Message"]

        # and the worker is still there for a good file
        status, body = await register(stack, good)
        assert (await settled(stack, body["MediaId"]))["MediaBasicInfo"]["Status"] == "Normal"


async def test_ssrf_targets_and_bad_urls_are_refused_at_registration(settings: Settings) -> None:
    with serve_directory(Path(settings.storage.root)) as base:
        async with running_api(settings) as (api, _):
            blocked = await call(api, "RegisterMediaInfo", InputURL=f"{base}/x.mp4")
            metadata = await call(api, "RegisterMediaInfo", InputURL="http://169.254.169.254/latest/meta-data")
            scheme = await call(api, "RegisterMediaInfo", InputURL="file:///etc/passwd")
            text = await call(api, "RegisterMediaInfo", InputURL="oss://media/a.srt", MediaType="text")

    assert [(s, b["Code"]) for s, b in (blocked, metadata)] == [(400, "InvalidParameter.AddressNotAllowed")] * 2
    assert "InputURL" in blocked[1]["Message"]
    assert (scheme[0], scheme[1]["Code"]) == (400, "InvalidParameter") and "InputURL" in scheme[1]["Message"]
    assert (text[0], text[1]["Code"]) == (400, "InvalidParameter.NotSupport")


async def test_probe_jobs_of_a_url_and_of_an_asset_with_their_event_and_callback(
    base_env: dict[str, str], clip: Path, receiver: Receiver
) -> None:
    settings = Settings.from_env({**base_env, "SNAPSHOTD_SSRF_ALLOW": "127.0.0.1/32"})
    url = stored(settings, "clip.mp4", clip)
    async with running_stack(settings) as stack:
        status, body = await call(
            stack.api, "SetEventCallback", CallbackURL=receiver.url, EventTypeList="MediaInfoComplete"
        )
        assert status == 200, body
        status, body = await call(
            stack.api, "SubmitMediaInfoJob", Input={"Type": "OSS", "Media": url}, Name="p", UserData='{"k": 1}'
        )
        assert status == 200 and body["MediaInfoJob"]["Status"] == "Init", body
        job = await probe_done(stack, body["MediaInfoJob"]["JobId"])
        event = await stack.next_event()

        media_id = (await register(stack, url))[1]["MediaId"]
        await settled(stack, media_id)
        on_asset = (await call(stack.api, "SubmitMediaInfoJob", Input={"Type": "Media", "Media": media_id}))[1]
        asset_job = await probe_done(stack, on_asset["MediaInfoJob"]["JobId"])
        listed = (await call(stack.api, "ListMediaInfoJobs", PageSize=2))[1]
        unknown = await call(stack.api, "SubmitMediaInfoJob", Input={"Type": "Media", "Media": "nope"})
        async with asyncio.timeout(20):
            while len(receiver.unique_messages()) < 3:
                await asyncio.sleep(0.05)

    assert (job["Status"], job["Name"], job["UserData"], job["TriggerSource"]) == ("Success", "p", '{"k": 1}', "API")
    info = job["MediaInfoProperty"]
    assert (info["FileBasicInfo"]["Width"], info["FileBasicInfo"]["FileUrl"]) == ("320", url)
    # the MediaInfoJob model's own spellings
    assert info["VideoStreamInfoList"][0]["Codec_name"] == "h264" and "Avg_fps" in info["VideoStreamInfoList"][0]
    assert event["EventType"] == "MediaInfoComplete" and event["MessageBody"]["JobId"] == job["JobId"]
    assert event["MessageBody"]["FileBasicInfo"]["FileSize"] == str(clip.stat().st_size)
    assert asset_job["MediaId"] == media_id and asset_job["MediaInfoProperty"]["FileBasicInfo"]["MediaId"] == media_id
    assert listed["Jobs"][0]["JobId"] == asset_job["JobId"] and listed["NextPageToken"]
    assert (unknown[0], unknown[1]["Code"]) == (404, "InvalidParameter.ResourceNotFound")
    # the callback subscribed to MediaInfoComplete: the URL probe, the registration's, the asset's
    kinds = {body["EventType"] for _, body in receiver.received}
    assert kinds == {"MediaInfoComplete"} and len(receiver.unique_messages()) == 3


async def test_a_job_on_an_asset_still_probing_waits_undispatched_then_runs(
    base_env: dict[str, str], clip: Path
) -> None:
    settings = Settings.from_env(base_env)
    url = stored(settings, "clip.mp4", clip)
    async with running_api(settings) as (api, events):
        media_id = (await call(api, "RegisterMediaInfo", InputURL=url))[1]["MediaId"]
        status, body = await call(
            api, "SubmitSnapshotJob", **{**submit_params(), "Input": {"Type": "Media", "Media": media_id}}
        )
        assert status == 200, body
        job_id = body["JobId"]
        # no worker yet: once the relay has published everything, the queue holds the probe's dispatch only
        queued = await _queued_once_published(settings)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, stop, handle_signals=False))
        stack = Stack(api, settings, events, stop, worker)
        try:
            job = await stack.wait_final(job_id)
            info = await settled(stack, media_id)
        finally:
            await stack.stop_worker()

    assert queued == 1
    assert job["Status"] == "Success", job
    assert info["MediaBasicInfo"]["Status"] == "Normal"


async def _queued_once_published(settings: Settings) -> int:
    """Messages on the jobs queue after the outbox has emptied (every dispatch written so far published)."""
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=1)
    try:
        async with asyncio.timeout(20):
            while await pool.fetchval("SELECT count(*) FROM outbox"):
                await asyncio.sleep(0.05)
    finally:
        await pool.close()
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(settings.amqp.jobs_queue, passive=True)
        return int(queue.declaration_result.message_count or 0)


async def test_a_snapshot_of_a_probed_asset_skips_measuring_its_duration(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    """A Matroska file written live (as a browser's MediaRecorder or a recorder writes it) states no
    duration, no DURATION tag and no cues: a capture measures it by reading every packet, unless the
    asset's probe measured it already (benchmarks/probe_reuse.py times it)."""
    root = tmp_path / "served"
    root.mkdir()
    recorded = make_video(tmp_path / "recorded.mkv", seconds=12, fps=25, gop=50, noise=True)
    remux(recorded, root / "clip.mkv", {"live": "1"})
    settings = Settings.from_env({**base_env, "SNAPSHOTD_SSRF_ALLOW": "127.0.0.1/32"})
    with serve_directory(root) as base:
        url = f"{base}/clip.mkv"
        async with running_stack(settings) as stack:
            media_id = (await register(stack, url))[1]["MediaId"]
            info = await settled(stack, media_id)
            jobs = {}
            for kind, media in (
                ("url", {"Type": "OSS", "Media": url}),
                ("asset", {"Type": "Media", "Media": media_id}),
            ):
                status, body = await call(stack.api, "SubmitSnapshotJob", **{**submit_params(), "Input": media})
                assert status == 200, body
                jobs[kind] = await stack.wait_final(body["JobId"])

    assert float(info["FileInfoList"][0]["FileBasicInfo"]["Duration"]) == pytest.approx(
        12, abs=0.15
    )  # measured from the packets: no header says it
    assert jobs["url"]["Status"] == jobs["asset"]["Status"] == "Success"
    assert jobs["url"]["Images"] == jobs["asset"]["Images"]
    # without cues the plain capture can only measure by reading every packet; the asset's job has the
    # length its probe measured that way once, and reads only what its frame needs
    probed_ms = round(float(info["FileInfoList"][0]["FileBasicInfo"]["Duration"]) * 1000)
    assert jobs["url"]["Stats"]["DurationMs"] == jobs["asset"]["Stats"]["DurationMs"] == probed_ms
    assert jobs["url"]["Stats"]["BytesRead"] >= (root / "clip.mkv").stat().st_size * 0.9
    assert jobs["asset"]["Stats"]["BytesRead"] < jobs["url"]["Stats"]["BytesRead"] / 2
