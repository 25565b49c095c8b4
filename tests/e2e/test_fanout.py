"""A job fanned out as shard tasks through RabbitMQ (`worker/fanout.py`), end to end: the same images and
files as the job captured by one worker, one event, `Progress` while it runs, no scratch object left."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from alibabacloud_ice20201109 import models

from service.api.docs import openapi
from service.config import Settings
from service.domain.models import ObjectRef
from service.storage.s3 import S3Storage
from service.store.jobs import add_scratch_cleanup
from service.store.pool import create_pool
from service.worker.app import run_worker
from service.worker.fanout import scratch_folder, stored_keys
from tests.e2e.conftest import running_stack, wait_for_workers
from tests.ice import call, sdk_client, submit_params
from tests.media_factory import make_video

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

SHARDS = 4
JOBS = {
    # 40 exact frames a second apart, over 20 GOPs of 2 s
    "exact": {"Count": 40, "Interval": 1, "FrameType": "normal", "Width": 160},
    # sheet cells cross shards: the sheets are filled after every shard is in
    "sprite": {"Count": 40, "Interval": 1, "FrameType": "normal", "Width": 80, "Columns": 6, "Lines": 4},
    # single images named by the .vtt, with a BIF built from every shard's frames
    "webvtt": {
        "Type": "WebVtt",
        "Count": 40,
        "Interval": 1,
        "FrameType": "normal",
        "Width": 96,
        "IsSptFrag": False,
        "StoryboardFormats": ["json", "bif"],
    },
}
TEMPLATES = {"exact": "S00000002-000001", "sprite": "S00000002-000003", "webvtt": "S00000002-000001"}
OUTPUTS = {"exact": "{Count}.jpg", "sprite": "{Count}.jpg", "webvtt": "board.vtt"}


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("fanout") / "gops.mp4", seconds=42, fps=25, gop=50, bframes=2)


def fanned(settings: Settings) -> Settings:
    worker = dataclasses.replace(
        settings.worker,
        processes=2,
        fanout_min_targets=30,
        fanout_shards=SHARDS,
        shard_min_frames=1,
    )
    return dataclasses.replace(settings, worker=worker)


async def run_jobs(
    settings: Settings, clip: Path, prefix: str, workers: int
) -> tuple[dict[str, dict[str, Any]], list[Any], dict[str, int]]:
    """The jobs on one stack, one after the other (a job fans out only onto a queue without a backlog,
    which another job's shards would be): each final job, the `Progress` seen while they ran, their
    events."""
    target = Path(settings.storage.root) / "media" / "gops.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, target)
    jobs: dict[str, dict[str, Any]] = {}
    progress: list[Any] = []
    async with running_stack(settings) as stack:
        # a second worker beside the stack's: only then does a job fan out
        stop = asyncio.Event()
        second = asyncio.create_task(run_worker(settings, stop, handle_signals=False)) if workers > 1 else None
        await wait_for_workers(settings, workers)
        ids = {}
        for name, params in JOBS.items():
            output = f"oss://thumbs/{prefix}/{name}/{OUTPUTS[name]}"
            _, body = await call(
                stack.api,
                "SubmitSnapshotJob",
                **submit_params(media="oss://media/gops.mp4", output=output, template_id=TEMPLATES[name], **params),
            )
            ids[name] = body["JobId"]
            async with asyncio.timeout(120):
                while name not in jobs:
                    _, body = await call(stack.api, "GetSnapshotJob", JobId=ids[name])
                    job = body["SnapshotJob"]
                    if job["Status"] == "Processing" and "Progress" in job:
                        progress.append(job["Progress"])
                    if job["Status"] in ("Success", "Fail"):
                        jobs[name] = job
                    await asyncio.sleep(0.02)
        # the official SDK reads a fanned-out job (its model ignores the extensions, Progress included)
        client = sdk_client(stack.api.server.port)
        for name, job_id in ids.items():
            request = models.GetSnapshotJobRequest(job_id=job_id)
            seen = (await asyncio.to_thread(client.get_snapshot_job, request)).body.snapshot_job
            assert (seen.job_id, seen.status, seen.count) == (job_id, "Success", jobs[name]["Count"])
        if second is not None:
            await a_scratch_left_by_a_dead_assembler_is_deleted(settings, ids["exact"])
        await stack.stop_worker()
        if second is not None:
            stop.set()
            await second
        counts = await stack.count_events(set(ids.values()))
    return jobs, progress, counts


async def a_scratch_left_by_a_dead_assembler_is_deleted(settings: Settings, job_id: str) -> None:
    """An assembler that died between the job's finish and its delete of the scratch objects: they are
    back where its shards put them, beside the uploads of a shard's late worker that died before it
    deleted them (no row names those), and the job's delayed clean-up comes due. Any worker deletes them
    all, and nothing of another job's scratch folder."""
    root = Path(settings.storage.root) / "thumbs"
    late = root / scratch_folder(job_id) / "shard-000-0123456789ab"
    others = root / scratch_folder("another-job") / "shard-000-0123456789ab"
    pool = await create_pool(settings.database)
    try:
        async with pool.acquire() as connection:
            # the assembler's own delete withdrew every ended job's delayed clean-up
            assert not await connection.fetch("SELECT 1 FROM outbox WHERE body ? 'job_scratch'")
            rows = await connection.fetch("SELECT result FROM job_shards WHERE job_id = $1", job_id)
            named = [root / key for row in rows for key in stored_keys(row["result"])]
            left = [*named, late / "00001.jpg", late / "00002.jpg"]
            for path in [*left, others / "00001.jpg"]:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"left behind")
            await add_scratch_cleanup(connection, job_id, 0.0)
    finally:
        await pool.close()
    assert named
    async with asyncio.timeout(30):
        while any(path.exists() for path in left):
            await asyncio.sleep(0.05)
    assert (others / "00001.jpg").read_bytes() == b"left behind"
    shutil.rmtree(others.parent)
    others.parent.parent.rmdir()  # the scratch folder of every job: empty now, as the service leaves it


def fetch(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], response.read()


def files_of(settings: Settings, job: dict[str, Any]) -> dict[str, bytes]:
    root = Path(settings.storage.root) / "thumbs"
    return {a["Key"].split("/", 2)[2]: (root / a["Key"]).read_bytes() for a in job["Artifacts"]}


def undocumented(job: dict[str, Any]) -> list[str]:
    """What in the job does not match the OpenAPI document's SnapshotJobDetail (Progress included)."""
    document = openapi.build_document()
    schema = {"$ref": "#/components/schemas/SnapshotJobDetail", "components": document["components"]}
    return [error.message for error in jsonschema_rs.validator_for(schema).iter_errors(job)]


def pictures(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in image.items() if k != "Key"} for image in job["Images"]]


async def test_a_fanned_out_job_gives_the_images_of_one_worker_with_one_event(
    settings: Settings, gop_clip: Path
) -> None:
    # a worker alone runs a big job on its own pool: fanning out to itself would only cost
    alone, _, _ = await run_jobs(fanned(settings), gop_clip, "alone", workers=1)
    spread, progress, counts = await run_jobs(fanned(settings), gop_clip, "spread", workers=2)

    for name in JOBS:
        one, many = alone[name], spread[name]
        assert (many["Status"], many["Count"]) == ("Success", one["Count"]), many
        assert many["Stats"]["Shards"] == SHARDS and one["Stats"]["Shards"] <= 2
        assert one["Stats"]["Workers"] == 1 and many["Stats"]["Processes"] >= 2
        assert many["Progress"] == {"Done": SHARDS, "Total": SHARDS} and "Progress" not in one
        assert pictures(many) == pictures(one)
        assert many["DroppedSlots"] == one["DroppedSlots"]
        assert files_of(settings, many) == files_of(settings, one)
        assert not undocumented(many)
    assert counts == {job["JobId"]: 1 for job in spread.values()}
    assert progress and all(p["Total"] == SHARDS and 0 <= p["Done"] <= SHARDS for p in progress)
    # the shards' images went through the output bucket's scratch prefix, and are gone, with their folders
    scratch = Path(settings.storage.root) / "thumbs" / ".snapshotd-scratch"
    assert not scratch.exists(), list(scratch.rglob("*"))


@pytest.mark.s3
async def test_a_job_fanned_out_over_s3_gives_the_same_images_and_leaves_no_scratch(
    s3_service_env: dict[str, str],
    s3_storage: S3Storage,
    s3_bucket: str,
    blob_prefix: str,
    settings: Settings,
    gop_clip: Path,
) -> None:
    """The same exact-frame job on S3 storage, as production stores it: the shards' images go through the
    output bucket's scratch folder (PutObject), the assembler copies them to their keys inside the store
    (CopyObject), and the clean-up lists the folder (ListObjectsV2) and deletes it. The images are the
    ones a worker alone writes to local storage."""
    alone, _, _ = await run_jobs(fanned(settings), gop_clip, "alone", workers=1)
    s3 = fanned(Settings.from_env(s3_service_env))
    await s3_storage.put_file(ObjectRef(s3_bucket, f"{blob_prefix}/gops.mp4"), str(gop_clip), "video/mp4")
    params = submit_params(
        media=f"oss://{s3_bucket}/{blob_prefix}/gops.mp4",
        output=f"oss://{s3_bucket}/{blob_prefix}/out/{OUTPUTS['exact']}",
        template_id=TEMPLATES["exact"],
        **JOBS["exact"],
    )
    async with running_stack(s3) as stack:
        stop = asyncio.Event()
        second = asyncio.create_task(run_worker(s3, stop, handle_signals=False))
        await wait_for_workers(s3, 2)
        _, body = await call(stack.api, "SubmitSnapshotJob", **params)
        job = await stack.wait_final(body["JobId"], timeout_s=120)
        # the assembler's clean-up runs right after the job's finish
        folder = scratch_folder(job["JobId"])
        async with asyncio.timeout(30):
            while await s3_storage.keys_under(s3_bucket, folder):
                await asyncio.sleep(0.05)
        await stack.stop_worker()
        stop.set()
        await second

    one = alone["exact"]
    assert (job["Status"], job["Stats"]["Shards"], job["Stats"]["Workers"]) == ("Success", SHARDS, 2), job
    assert pictures(job) == pictures(one)
    local = Path(settings.storage.root) / "thumbs"
    for mine, theirs in zip(job["Images"], one["Images"], strict=True):
        # as a page fetches it: by the store's presigned URL, with the type it was stored with
        url = await s3_storage.presigned_url(ObjectRef(s3_bucket, mine["Key"]), 60)
        content_type, stored = await asyncio.to_thread(fetch, url)
        assert (content_type, stored) == ("image/jpeg", (local / theirs["Key"]).read_bytes())
