"""Soak: 2,000 mixed jobs submitted concurrently; every one ends final, once, and worker memory stays flat.

Prints the figures (throughput, memory) so a run's output can be quoted.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from service.config import Settings
from tests.e2e.conftest import Stack, running_api
from tests.ice import call, submit_params
from tests.media_factory import make_corrupt

pytestmark = [pytest.mark.slow, pytest.mark.pg, pytest.mark.amqp, pytest.mark.timeout(600)]

JOBS = 2000
#: submissions in flight at once
CONCURRENCY = 64


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and its children (the capture pool), in KiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue  # a child recycled between the listing and the read
    return total


async def finished_count(settings: Settings) -> int:
    connection = await asyncpg.connect(settings.database.url)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM jobs WHERE status IN ('Success', 'Fail')"))
    finally:
        await connection.close()


async def test_soak_2000_mixed_jobs(base_env: dict[str, str], clip: Path, tmp_path: Path, spawn_worker) -> None:  # type: ignore[no-untyped-def]
    env = {**base_env, "SNAPSHOTD_WORKER_PROCESSES": "2", "SNAPSHOTD_LOG_LEVEL": "WARNING"}
    settings = Settings.from_env(env)
    media = Path(settings.storage.root) / "media"
    media.mkdir(parents=True)
    shutil.copyfile(clip, media / "good.mp4")
    make_corrupt(media / "corrupt.mp4")
    rng = random.Random(7)
    kinds = rng.choices(["good", "missing", "corrupt"], weights=[8, 1, 1], k=JOBS)
    inputs = {
        "good": "oss://media/good.mp4",
        "missing": "oss://media/missing.mp4",
        "corrupt": "oss://media/corrupt.mp4",
    }

    async with running_api(settings, events_queue=f"test.soak.{uuid.uuid4().hex[:8]}") as (api, events):
        stack = Stack(api, settings, events)
        worker = spawn_worker(env)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def submit(kind: str) -> str:
            params = submit_params(media=inputs[kind], Count=rng.randint(1, 3), Interval=2)
            async with gate:
                status, body = await call(api, "SubmitSnapshotJob", **params)
            assert status == 200, body
            return str(body["JobId"])

        started = time.monotonic()
        ids = await asyncio.gather(*(submit(kind) for kind in kinds))
        submitted_s = time.monotonic() - started
        rss_early = None
        async with asyncio.timeout(480):
            while (done := await finished_count(settings)) < JOBS:
                if rss_early is None and done >= JOBS // 10:
                    rss_early = tree_rss_kb(worker.pid)
                await asyncio.sleep(0.5)
        finished_s = time.monotonic() - started
        rss_late = tree_rss_kb(worker.pid)
        assert worker.terminate() == 0

        connection = await asyncpg.connect(settings.database.url)
        try:
            rows = await connection.fetch("SELECT job_id, status, code, attempts FROM jobs")
        finally:
            await connection.close()
        event_counts: dict[str, int] = {}
        async with asyncio.timeout(60):
            while len(event_counts) < JOBS:
                for event in await stack.drain_events():
                    job_id = event["MessageBody"]["JobId"]
                    event_counts[job_id] = event_counts.get(job_id, 0) + 1
                await asyncio.sleep(0.2)

    by_id = {row["job_id"]: row for row in rows}
    assert sorted(by_id) == sorted(ids)  # none lost, none invented
    for job_id, kind in zip(ids, kinds, strict=True):
        row = by_id[job_id]
        expected = {"good": "Success", "missing": "Fail", "corrupt": "Fail"}[kind]
        assert (row["status"], row["attempts"]) == (expected, 1), (kind, dict(row))
    assert set(event_counts.values()) == {1}  # one completion each: nothing ran twice to completion
    assert rss_early is not None
    growth_mb = (rss_late - rss_early) / 1024
    print(
        f"\nsoak: {JOBS} jobs submitted in {submitted_s:.1f} s ({JOBS / submitted_s:.0f}/s), all final after "
        f"{finished_s:.1f} s ({JOBS / finished_s:.0f} jobs/s); worker+pool RSS {rss_early / 1024:.0f} MB at 10% "
        f"-> {rss_late / 1024:.0f} MB at the end ({growth_mb:+.0f} MB)"
    )
    assert growth_mb < 100, "worker memory grew during the soak"
