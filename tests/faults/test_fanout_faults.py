"""A job fanned out across worker processes survives its workers: one SIGKILLed while it holds a shard
costs that shard only, and one that comes back after its lease expired cannot overwrite anything."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.config import Settings
from tests.e2e.conftest import Stack, running_api, wait_for_workers
from tests.faults.conftest import ServiceProcess
from tests.faults.test_faults import put_local
from tests.ice import call, submit_params
from tests.media_factory import make_video

pytestmark = [pytest.mark.slow, pytest.mark.pg, pytest.mark.amqp, pytest.mark.timeout(240)]

SHARDS = 6
COUNT = 300


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s with 10 s GOPs: 300 exact frames over 6 GOPs, a few seconds of work per shard."""
    return make_video(tmp_path_factory.mktemp("media") / "gops.mp4", seconds=60, fps=25, gop=250, bframes=2)


def fanout_env(base_env: dict[str, str]) -> dict[str, str]:
    return {
        **base_env,
        "SNAPSHOTD_LEASE_S": "5",
        "SNAPSHOTD_WORKER_PROCESSES": "1",
        "SNAPSHOTD_FANOUT_MIN_TARGETS": "50",
        "SNAPSHOTD_FANOUT_SHARDS": str(SHARDS),
        "SNAPSHOTD_SHARD_MIN_FRAMES": "1",
    }


async def shard_owners(settings: Settings, job_id: str) -> dict[int, str]:
    """The worker holding each shard now: shard number → lease owner."""
    connection = await asyncpg.connect(settings.database.url)
    try:
        rows = await connection.fetch(
            "SELECT number, lease_owner FROM job_shards WHERE job_id = $1 AND status = 'Processing'", job_id
        )
    finally:
        await connection.close()
    return {row["number"]: row["lease_owner"] for row in rows}


async def shard_attempts(settings: Settings, job_id: str) -> list[int]:
    connection = await asyncpg.connect(settings.database.url)
    try:
        rows = await connection.fetch("SELECT attempts FROM job_shards WHERE job_id = $1 ORDER BY number", job_id)
    finally:
        await connection.close()
    return [row["attempts"] for row in rows]


@dataclass
class Held:
    stack: Stack
    settings: Settings
    job_id: str
    holder: ServiceProcess
    others: list[ServiceProcess]


@contextlib.asynccontextmanager
async def a_shard_held(
    base_env: dict[str, str], clip: Path, spawn_worker: Callable[[dict[str, str]], ServiceProcess]
) -> AsyncIterator[Held]:
    """Two workers of one capture process each, and the fanned-out job submitted: once some worker holds
    a shard, that worker (the others stay in `workers`)."""
    env = fanout_env(base_env)
    settings = Settings.from_env(env)
    put_local(settings, "gops.mp4", clip)
    async with running_api(settings) as (api, events):
        stack = Stack(api, settings, events)
        workers = {worker.pid: worker for worker in (spawn_worker(env), spawn_worker(env))}
        await wait_for_workers(settings, 2)
        params = submit_params(media="oss://media/gops.mp4", Count=COUNT, FrameType="normal", Interval=0)
        _, body = await call(stack.api, "SubmitSnapshotJob", **params)
        async with asyncio.timeout(60):
            while not (owners := await shard_owners(settings, body["JobId"])):
                await asyncio.sleep(0.01)
        holder = workers.pop(int(next(iter(owners.values())).split(":")[1]))
        yield Held(stack, settings, body["JobId"], holder, list(workers.values()))


def check_images(settings: Settings, job: dict[str, Any]) -> None:
    assert (job["Status"], job["Count"]) == ("Success", COUNT), job
    assert [image["Index"] for image in job["Images"]] == list(range(COUNT))
    assert len({image["Key"] for image in job["Images"]}) == COUNT
    for image in job["Images"]:
        assert (Path(settings.storage.root) / "thumbs" / image["Key"]).stat().st_size == image["Bytes"]


def scratch_files(settings: Settings) -> list[Path]:
    """The files in the output bucket's scratch folder now. Polled while workers delete them, and the
    folders with them: os.walk passes over a folder gone mid-walk, where Path.rglob raises."""
    top = Path(settings.storage.root) / "thumbs" / ".snapshotd-scratch"
    return [Path(folder) / name for folder, _, names in os.walk(top) for name in names]


async def test_a_worker_killed_holding_a_shard_costs_that_shard_only(
    base_env: dict[str, str], gop_clip: Path, spawn_worker: Callable[[dict[str, str]], ServiceProcess]
) -> None:
    async with a_shard_held(base_env, gop_clip, spawn_worker) as held:
        held.holder.kill()
        job = await held.stack.wait_final(held.job_id, timeout_s=150)
        assert [worker.terminate() for worker in held.others] == [0]
        counts = await held.stack.count_events({held.job_id})

    settings = held.settings
    check_images(settings, job)
    assert job["Stats"]["Shards"] == SHARDS and job["Progress"] == {"Done": SHARDS, "Total": SHARDS}
    assert counts == {held.job_id: 1}
    # the killed worker's shard ran twice, every other shard once; the job's own attempt is the planner's
    attempts = await shard_attempts(settings, held.job_id)
    assert sorted(attempts) == [1] * (SHARDS - 1) + [2] and job["Attempts"] == 1
    assert not scratch_files(settings)


async def test_a_shards_worker_that_comes_back_late_cannot_overwrite(
    base_env: dict[str, str], gop_clip: Path, spawn_worker: Callable[[dict[str, str]], ServiceProcess]
) -> None:
    async with a_shard_held(base_env, gop_clip, spawn_worker) as held:
        settings, late = held.settings, held.holder
        # frozen mid-shard (a long GC pause, a VM migration): its lease runs out, another worker takes over
        os.killpg(late.pid, signal.SIGSTOP)
        try:
            job = await held.stack.wait_final(held.job_id, timeout_s=150)
            stored = {image["Key"]: image["Bytes"] for image in job["Images"]}
            files = {key: (Path(settings.storage.root) / "thumbs" / key).read_bytes() for key in stored}
        finally:
            os.killpg(late.pid, signal.SIGCONT)
        # the late worker finishes its capture, uploads under its own prefix, is refused and cleans up
        async with asyncio.timeout(90):
            while not re.search(rf"shard {held.job_id}/\d+ refused", late.output()):
                await asyncio.sleep(0.1)
        assert [worker.terminate() for worker in (late, *held.others)] == [0, 0]
        _, after = await call(held.stack.api, "GetSnapshotJob", JobId=held.job_id)
        counts = await held.stack.count_events({held.job_id})

    check_images(settings, job)
    assert after["SnapshotJob"] == job
    assert {key: (Path(settings.storage.root) / "thumbs" / key).read_bytes() for key in stored} == files
    assert counts == {held.job_id: 1}
    assert not scratch_files(settings)


def sprite_params(media: str) -> dict[str, Any]:
    """A sprite job of big cells: its assembly (download every cell, fill and encode three large sheets)
    lasts long enough to stop or kill its worker in."""
    return submit_params(
        media=media,
        output="oss://thumbs/sheets/{TileCount}.jpg",
        template_id="S00000002-000003",
        Count=COUNT,
        FrameType="normal",
        Interval=0,
        Width=480,
        Columns=10,
        Lines=10,
    )


def check_sheets(settings: Settings, job: dict[str, Any]) -> None:
    assert (job["Status"], job["Count"]) == ("Success", COUNT), job
    assert [image["Index"] for image in job["Images"]] == list(range(COUNT))
    sheets = {image["Key"]: image["Bytes"] for image in job["Images"]}
    assert sorted(sheets) == ["sheets/00001.jpg", "sheets/00002.jpg", "sheets/00003.jpg"]
    for key, size in sheets.items():
        assert (Path(settings.storage.root) / "thumbs" / key).stat().st_size == size
    assert job["Progress"] == {"Done": SHARDS, "Total": SHARDS}


@dataclass
class Assembling:
    stack: Stack
    settings: Settings
    job_id: str
    assembler: ServiceProcess
    other: ServiceProcess


@contextlib.asynccontextmanager
async def a_job_assembling(
    env: dict[str, str], clip: Path, spawn_worker: Callable[[dict[str, str]], ServiceProcess]
) -> AsyncIterator[Assembling]:
    """Two workers of one capture process each and a fanned-out sprite job: once a worker has finished
    its last shard (it assembles the job now), that worker and the other."""
    settings = Settings.from_env(env)
    put_local(settings, "gops.mp4", clip)
    async with running_api(settings) as (api, events):
        stack = Stack(api, settings, events)
        workers = [spawn_worker(env), spawn_worker(env)]
        await wait_for_workers(settings, 2)
        _, body = await call(stack.api, "SubmitSnapshotJob", **sprite_params("oss://media/gops.mp4"))
        job_id = body["JobId"]
        async with asyncio.timeout(120):
            while not (last := [w for w in workers if re.search(rf"shard {job_id}/\d+ last", w.output())]):
                await asyncio.sleep(0.005)
        [other] = [w for w in workers if w is not last[0]]
        yield Assembling(stack, settings, job_id, last[0], other)


async def test_a_worker_killed_while_it_assembles_leaves_the_job_to_another(
    base_env: dict[str, str], gop_clip: Path, spawn_worker: Callable[[dict[str, str]], ServiceProcess]
) -> None:
    async with a_job_assembling(fanout_env(base_env), gop_clip, spawn_worker) as held:
        held.assembler.kill()  # SIGKILL mid-assembly, pool processes and all
        # its lease on the job expires (SNAPSHOTD_LEASE_S=5); the other worker finds every shard done
        job = await held.stack.wait_final(held.job_id, timeout_s=120)
        async with asyncio.timeout(90):  # the new assembler deletes the scratch objects itself
            while scratch_files(held.settings):
                await asyncio.sleep(0.05)
        assert held.other.terminate() == 0
        counts = await held.stack.count_events({held.job_id})

    check_sheets(held.settings, job)
    assert counts == {held.job_id: 1}
    assert job["Attempts"] == 2  # the planner's claim, then the new assembler's


async def test_a_worker_stopped_while_it_assembles_hands_the_job_to_another_at_once(
    base_env: dict[str, str], gop_clip: Path, spawn_worker: Callable[[dict[str, str]], ServiceProcess]
) -> None:
    # a lease far longer than the test may wait: only a hand-back, not its expiry, can finish the job
    env = {**fanout_env(base_env), "SNAPSHOTD_LEASE_S": "120", "SNAPSHOTD_SHUTDOWN_GRACE_S": "0"}
    async with a_job_assembling(env, gop_clip, spawn_worker) as held:
        stopped = held.assembler
        # a rollout's SIGTERM with no grace left, delivered while the assembler is mid-assembly
        os.killpg(stopped.pid, signal.SIGSTOP)
        stopped.process.send_signal(signal.SIGTERM)
        os.killpg(stopped.pid, signal.SIGCONT)
        handed_back = asyncio.get_running_loop().time()
        assert await asyncio.to_thread(stopped.process.wait, 30) == 0
        job = await held.stack.wait_final(held.job_id, timeout_s=60)
        waited_s = asyncio.get_running_loop().time() - handed_back
        # its scratch objects go right after the job's finish, before the worker is stopped (no grace)
        async with asyncio.timeout(30):
            while scratch_files(held.settings):
                await asyncio.sleep(0.05)
        assert held.other.terminate() == 0
        counts = await held.stack.count_events({held.job_id})

    assert "assembly handed back on shutdown" in stopped.output()
    check_sheets(held.settings, job)
    assert waited_s < 60  # far inside the 120 s lease
    assert counts == {held.job_id: 1}
