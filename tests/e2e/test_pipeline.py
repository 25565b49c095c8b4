"""SubmitSnapshotJob over HTTP → worker → images in storage → GetSnapshotJob → completion event."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import aio_pika
import orjson
import pytest
from PIL import Image

from service.config import Settings
from service.domain.models import ObjectRef
from service.domain.routing import JOB_ROUTING_KEY
from service.queue import topology
from service.queue.publisher import publish_json
from service.storage.s3 import S3Storage
from tests.conftest import AMQP_URL
from tests.e2e.conftest import running_stack
from tests.ice import call, submit_params
from tests.media_factory import make_audio_only, make_corrupt, make_truncated, make_zero_byte, read_index

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

FPS = 25


@pytest.mark.s3
async def test_normal_job_to_s3(
    s3_service_env: dict[str, str],
    s3_storage: S3Storage,
    s3_bucket: str,
    blob_prefix: str,
    clip: Path,
) -> None:
    settings = Settings.from_env(s3_service_env)
    await s3_storage.put_file(ObjectRef(s3_bucket, f"{blob_prefix}/in.mp4"), str(clip), "video/mp4")
    params = submit_params(
        media=f"oss://{s3_bucket}/{blob_prefix}/in.mp4",
        output=f"oss://{s3_bucket}/{blob_prefix}/out/{{Count}}.jpg",
        Count=3,
        Interval=2,
        Time=1000,
        Width=160,
        FrameType="normal",
    )

    async with running_stack(settings) as stack:
        status, body = await call(stack.api, "SubmitSnapshotJob", **params, UserData='{"k": "v"}')
        assert status == 200, body
        job = await stack.wait_final(body["JobId"])
        event = await stack.next_event()

    assert (job["Status"], job["Count"], job["Code"]) == ("Success", 3, "")
    assert [image["RequestedMs"] for image in job["Images"]] == [1000, 3000, 5000]
    assert [image["CapturedMs"] for image in job["Images"]] == [1000, 3000, 5000]
    for n, image in enumerate(job["Images"], start=1):
        assert image["Key"] == f"{blob_prefix}/out/{n:05d}.jpg"
        stored = await s3_storage.get_bytes(ObjectRef(s3_bucket, image["Key"]))
        picture = Image.open(io.BytesIO(stored))
        assert picture.size == (160, 90) == (image["Width"], image["Height"])
        assert read_index(picture) == image["CapturedMs"] * FPS // 1000
        assert image["Bytes"] == len(stored)
    body_ = event["MessageBody"]
    assert event["EventType"] == "SnapshotComplete"
    assert (body_["JobId"], body_["Status"], body_["Count"], body_["UserData"]) == (
        job["JobId"],
        "Success",
        3,
        '{"k": "v"}',
    )


def put_local(settings: Settings, bucket: str, key: str, source: Path) -> None:
    target = Path(settings.storage.root) / bucket / key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


async def test_intra_job_to_local_storage(settings: Settings, clip: Path) -> None:
    put_local(settings, "media", "clip.mp4", clip)
    params = submit_params(Count=4, Interval=3, Height=90, FrameType="intra")

    async with running_stack(settings) as stack:
        _, body = await call(stack.api, "SubmitSnapshotJob", **params)
        job = await stack.wait_final(body["JobId"])

    assert (job["Status"], job["Count"]) == ("Success", 4)
    # Keyframes every second: each requested time is itself a keyframe time.
    assert [image["CapturedMs"] for image in job["Images"]] == [0, 3000, 6000, 9000]
    assert all(image["KeyFrame"] for image in job["Images"])
    for image in job["Images"]:
        picture = Image.open(Path(settings.storage.root) / "thumbs" / image["Key"])
        assert picture.size == (160, 90)
        assert read_index(picture) == image["CapturedMs"] * FPS // 1000


async def test_bad_media_fails_the_job_and_the_worker_keeps_serving(
    settings: Settings, clip: Path, tmp_path: Path
) -> None:
    bad = {
        "zero.mp4": make_zero_byte(tmp_path / "zero.mp4"),
        "corrupt.mp4": make_corrupt(tmp_path / "corrupt.mp4"),
        "audio.m4a": make_audio_only(tmp_path / "audio.m4a"),
        "truncated.mp4": make_truncated(clip, tmp_path / "truncated.mp4", fraction=0.02),
    }
    for name, path in bad.items():
        put_local(settings, "media", name, path)
    put_local(settings, "media", "good.mp4", clip)
    expected = {
        "missing.mp4": "InvalidParameter.ResourceNotFound",
        **{name: "InvalidParameter.ResourceContentBad" for name in bad},
    }

    async with running_stack(settings) as stack:
        ids = {}
        for name in [*expected, "good.mp4"]:
            _, body = await call(stack.api, "SubmitSnapshotJob", **submit_params(media=f"oss://media/{name}"))
            ids[name] = body["JobId"]
        jobs = {name: await stack.wait_final(job_id) for name, job_id in ids.items()}
        events = [await stack.next_event() for _ in ids]

    for name, code in expected.items():
        assert (jobs[name]["Status"], jobs[name]["Code"]) == ("Fail", code), (name, jobs[name])
        assert jobs[name]["Message"]
    assert jobs["good.mp4"]["Status"] == "Success"
    by_job = {event["MessageBody"]["JobId"]: event["MessageBody"] for event in events}
    assert {by_job[ids[name]]["Status"] for name in expected} == {"Fail"}
    assert by_job[ids["missing.mp4"]]["Code"] == "InvalidParameter.ResourceNotFound"


async def test_single_snapshot_past_the_end_fails_clearly(settings: Settings, clip: Path) -> None:
    put_local(settings, "media", "clip.mp4", clip)

    async with running_stack(settings) as stack:
        _, body = await call(stack.api, "SubmitSnapshotJob", **submit_params(Time=60_000, FrameType="normal"))
        job = await stack.wait_final(body["JobId"])

    assert (job["Status"], job["Code"]) == ("Fail", "InvalidParameter.OutOfRange")


async def test_same_message_delivered_twice_runs_once(settings: Settings, clip: Path) -> None:
    put_local(settings, "media", "clip.mp4", clip)
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel(publisher_confirms=True)
        topo = await topology.declare(channel, settings.amqp)

        async with running_stack(settings) as stack:
            _, body = await call(stack.api, "SubmitSnapshotJob", **submit_params(Count=2, Interval=1))
            # The same dispatch again, as a broker redelivery or a relay retry would send it.
            await publish_json(
                topo.jobs_exchange, JOB_ROUTING_KEY, {"job_id": body["JobId"]}, timeout_s=5, message_id=body["JobId"]
            )
            job = await stack.wait_final(body["JobId"])
            await stack.stop_worker()
            counts = await stack.count_events({body["JobId"]})

    assert (job["Status"], job["Attempts"]) == ("Success", 1)
    assert counts == {body["JobId"]: 1}


async def test_a_dispatch_naming_no_row_goes_to_the_dead_letters_once(settings: Settings, clip: Path) -> None:
    """Messages no retry can make sense of (a shard id that is not one, a job id that is not text) are
    dead-lettered at once, and the worker goes on with real jobs."""
    put_local(settings, "media", "clip.mp4", clip)
    bad = [{"job_shard": "no-number"}, {"job_shard": "job/"}, {"job_id": 42}, {"nothing": "here"}]
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel(publisher_confirms=True)
        topo = await topology.declare(channel, settings.amqp)
        async with running_stack(settings) as stack:
            for n, body in enumerate(bad):
                await publish_json(topo.jobs_exchange, JOB_ROUTING_KEY, body, timeout_s=5, message_id=f"bad-{n}")
            _, submitted = await call(stack.api, "SubmitSnapshotJob", **submit_params(Count=1))
            job = await stack.wait_final(submitted["JobId"])
        dead = await channel.declare_queue(f"{settings.amqp.jobs_queue}.dead", durable=True, passive=True)
        bodies = []
        while (message := await dead.get(no_ack=True, fail=False)) is not None:
            bodies.append(orjson.loads(message.body))

    assert job["Status"] == "Success"
    assert sorted(map(str, bodies)) == sorted(map(str, bad))
