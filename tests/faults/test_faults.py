"""Fault injection with real processes and services: nothing accepted is lost, nothing runs twice.

The broker and the database stopped here are the suite's own (tests/faults/servers.py); each test is
bounded in time and restores what it broke (a stopped broker or database is started again in `finally`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import shutil
import signal
import uuid
from pathlib import Path

import asyncpg
import pytest

from service.config import Settings
from service.worker.app import run_worker
from tests.e2e.conftest import Stack, running_api, running_stack
from tests.faults.servers import PrivatePostgres, PrivateRabbitMQ
from tests.ice import call, submit_params
from tests.media_factory import make_video

pytestmark = [pytest.mark.slow, pytest.mark.pg, pytest.mark.amqp, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 s with 10 s GOPs: exact-frame jobs on it take long enough to be interrupted."""
    return make_video(tmp_path_factory.mktemp("media") / "long.mp4", seconds=60, fps=25, gop=250, bframes=2)


def put_local(settings: Settings, key: str, source: Path) -> None:
    target = Path(settings.storage.root) / "media" / key
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def on_one_worker(settings: Settings) -> Settings:
    """The settings with fan-out off: the job runs on the worker that claims it."""
    return dataclasses.replace(settings, worker=dataclasses.replace(settings.worker, fanout_min_targets=0))


async def lease_owner(settings: Settings, job_id: str) -> str | None:
    connection = await asyncpg.connect(settings.database.url)
    try:
        return await connection.fetchval(
            "SELECT lease_owner FROM jobs WHERE job_id = $1 AND status = 'Processing'", job_id
        )
    finally:
        await connection.close()


async def test_killed_worker_job_finishes_exactly_once_on_another(
    base_env: dict[str, str], long_clip: Path, spawn_worker
) -> None:  # type: ignore[no-untyped-def]
    # the job runs whole on one worker (fanned out, a kill costs a shard only: test_fanout_faults.py)
    env = {**base_env, "SNAPSHOTD_LEASE_S": "5", "SNAPSHOTD_WORKER_PROCESSES": "1", "SNAPSHOTD_FANOUT_MIN_TARGETS": "0"}
    settings = Settings.from_env(env)
    put_local(settings, "long.mp4", long_clip)
    params = submit_params(media="oss://media/long.mp4", Count=400, FrameType="normal", Interval=0)

    async with running_api(settings) as (api, events):
        stack = Stack(api, settings, events)
        workers = {worker.pid: worker for worker in (spawn_worker(env), spawn_worker(env))}
        _, body = await call(api, "SubmitSnapshotJob", **params)
        job_id = body["JobId"]
        async with asyncio.timeout(60):
            while (owner := await lease_owner(settings, job_id)) is None:
                await asyncio.sleep(0.01)
        victim = workers.pop(int(owner.split(":")[1]))
        victim.kill()

        job = await stack.wait_final(job_id, timeout_s=90)
        survivor = next(iter(workers.values()))
        assert survivor.terminate() == 0
        counts = await stack.count_events({job_id})

    assert (job["Status"], job["Count"], job["Attempts"]) == ("Success", 400, 2)
    assert counts == {job_id: 1}
    for image in job["Images"]:
        assert (Path(settings.storage.root) / "thumbs" / image["Key"]).stat().st_size == image["Bytes"]


async def test_sigterm_drains_the_job_in_flight(base_env: dict[str, str], long_clip: Path, spawn_worker) -> None:  # type: ignore[no-untyped-def]
    env = {**base_env, "SNAPSHOTD_WORKER_PROCESSES": "1", "SNAPSHOTD_SHUTDOWN_GRACE_S": "60"}
    settings = Settings.from_env(env)
    put_local(settings, "long.mp4", long_clip)

    async with running_api(settings) as (api, _events):
        worker = spawn_worker(env)
        _, body = await call(
            api, "SubmitSnapshotJob", **submit_params(media="oss://media/long.mp4", Count=300, FrameType="normal")
        )
        async with asyncio.timeout(60):
            while await lease_owner(settings, body["JobId"]) is None:
                await asyncio.sleep(0.01)
        exit_code = await asyncio.to_thread(worker.terminate)
        _, got = await call(api, "GetSnapshotJob", JobId=body["JobId"])

    assert exit_code == 0
    assert (got["SnapshotJob"]["Status"], got["SnapshotJob"]["Attempts"]) == ("Success", 1)


async def test_broker_outage_loses_no_job_and_no_event(
    settings: Settings, long_clip: Path, private_rabbitmq: PrivateRabbitMQ
) -> None:
    put_local(settings, "clip.mp4", long_clip)
    params = submit_params(media="oss://media/clip.mp4", Count=3, Interval=5)
    durable_events = f"test.events.{uuid.uuid4().hex[:8]}"
    accepted: list[str] = []

    async with running_api(settings, events_queue=durable_events) as (api, events):
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, stop, handle_signals=False))
        stack = Stack(api, settings, events, stop, worker)
        for _ in range(5):
            accepted.append((await call(api, "SubmitSnapshotJob", **params))[1]["JobId"])
        await asyncio.to_thread(private_rabbitmq.stop_app)
        try:
            for _ in range(5):
                status, body = await call(api, "SubmitSnapshotJob", **params)
                assert status == 200, body  # accepted into the outbox while the broker is down
                accepted.append(body["JobId"])
        finally:
            await asyncio.to_thread(private_rabbitmq.start_app)
        jobs = [await stack.wait_final(job_id, timeout_s=120) for job_id in accepted]
        await stack.stop_worker()
        counts = await stack.count_events(set(accepted))

    assert [job["Status"] for job in jobs] == ["Success"] * 10
    assert sorted(counts.values()) == [1] * 10


async def test_postgres_restart_answers_503_then_recovers_without_losing_jobs(
    base_env: dict[str, str], long_clip: Path, private_postgres: PrivatePostgres
) -> None:
    # A job whose finish was cut off keeps its lease until it expires: keep that short here.
    settings = Settings.from_env({**base_env, "SNAPSHOTD_LEASE_S": "5"})
    put_local(settings, "clip.mp4", long_clip)
    # Two keyframes 10 s apart: two distinct images per job.
    params = submit_params(media="oss://media/clip.mp4", Count=2, Interval=10)

    async with running_stack(settings) as stack:
        accepted = [(await call(stack.api, "SubmitSnapshotJob", **params))[1]["JobId"] for _ in range(3)]
        await asyncio.to_thread(private_postgres.stop)
        try:
            status, body = await call(stack.api, "SubmitSnapshotJob", **params)
            assert (status, body["Code"]) == (503, "ServiceUnavailable")
            # Stay down long enough for every background loop (relay, sweeper, callback sender,
            # lease renewal) to meet the outage: none of them may die of it.
            await asyncio.sleep(2.5)
        finally:
            await asyncio.to_thread(private_postgres.start)
        async with asyncio.timeout(60):
            while (status := (await call(stack.api, "SubmitSnapshotJob", **params))[0]) != 200:
                await asyncio.sleep(0.2)
        accepted += [(await call(stack.api, "SubmitSnapshotJob", **params))[1]["JobId"] for _ in range(3)]
        jobs = [await stack.wait_final(job_id, timeout_s=120) for job_id in accepted]
        await stack.stop_worker()
        counts = await stack.count_events(set(accepted))

    assert {job["Status"] for job in jobs} == {"Success"}
    assert set(counts.values()) == {1}
    # Complete after the restart: both images of every job recorded, and each stored with its size.
    assert [(job["Count"], len(job["Images"])) for job in jobs] == [(2, 2)] * 6
    for job in jobs:
        for image in job["Images"]:
            assert (Path(settings.storage.root) / "thumbs" / image["Key"]).stat().st_size == image["Bytes"]


async def test_a_crashing_shard_retries_the_whole_job_once(settings: Settings, long_clip: Path) -> None:
    """One pool process dies under a job in shards on its worker's pool: the job is handed back once and
    its retry, in shards again, writes every image once, with one event. (Fanned out across workers, only
    the shard is retried: `test_fanout_faults.py`.)"""
    settings = on_one_worker(settings)
    put_local(settings, "long.mp4", long_clip)
    params = submit_params(media="oss://media/long.mp4", Count=400, FrameType="normal", Interval=0)

    async with running_stack(settings) as stack:
        _, body = await call(stack.api, "SubmitSnapshotJob", **params)
        async with asyncio.timeout(60):
            while await lease_owner(settings, body["JobId"]) is None:
                await asyncio.sleep(0.01)
        # at once: on a quiet machine the whole job takes well under a second (a kill during the plan
        # breaks the pool just the same)
        await asyncio.sleep(0.05)
        children = multiprocessing.active_children()
        assert len(children) == 2
        os.kill(children[0].pid, signal.SIGKILL)
        job = await stack.wait_final(body["JobId"], timeout_s=90)
        await stack.stop_worker()
        counts = await stack.count_events({body["JobId"]})

    assert (job["Status"], job["Count"], job["Attempts"]) == ("Success", 400, 2)
    assert (job["Stats"]["Shards"], job["Stats"]["Processes"]) == (2, 2)
    assert counts == {body["JobId"]: 1}
    keys = [image["Key"] for image in job["Images"]]
    assert len(set(keys)) == 400 and [image["Index"] for image in job["Images"]] == list(range(400))
    for image in job["Images"]:
        assert (Path(settings.storage.root) / "thumbs" / image["Key"]).stat().st_size == image["Bytes"]


async def test_crashed_decoder_process_does_not_take_the_worker_down(settings: Settings, long_clip: Path) -> None:
    settings = on_one_worker(settings)
    put_local(settings, "long.mp4", long_clip)
    params = submit_params(media="oss://media/long.mp4", Count=400, FrameType="normal", Interval=0)

    async with running_stack(settings) as stack:
        _, body = await call(stack.api, "SubmitSnapshotJob", **params)
        async with asyncio.timeout(60):
            while await lease_owner(settings, body["JobId"]) is None:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the capture has started in a pool process; it lasts about a second
        # The in-process worker's capture processes are children of this process: crash them all.
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGSEGV)
        job = await stack.wait_final(body["JobId"], timeout_s=90)
        _, after = await call(stack.api, "SubmitSnapshotJob", **submit_params(media="oss://media/long.mp4"))
        next_job = await stack.wait_final(after["JobId"])

    assert (job["Status"], job["Count"], job["Attempts"]) == ("Success", 400, 2)
    assert next_job["Status"] == "Success"
