"""ShardStore on a real PostgreSQL: a fanned-out job's shards are leased like jobs, the last one to finish
takes the job's lease exactly once, a late worker is refused, and a failed shard ends the job once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.config import DatabaseSettings, Settings
from service.domain.models import JobStatus, ObjectRef
from service.errors import DatabaseUnavailable, MediaContentBad, StorageAccessDenied
from service.storage.local import LocalStorage
from service.storage.s3 import S3Storage
from service.store.jobs import SCRATCH_CLEANUP_DELAY_S, JobOutcome, JobStore
from service.store.outbox import requeue_expired_leases, take_batch
from service.store.pool import create_pool
from service.store.shards import ShardFinish, ShardStore
from service.worker.fanout import FanOut, scratch_folder
from service.worker.pool import ExecutorSlot
from tests.integration.store.test_job_store import event, new_job, outbox
from tests.s3server import moto_enforcing_iam

pytestmark = pytest.mark.pg

PLAN = {"duration_ms": 60_000, "shards": [], "bytes_read": 10, "pid": 1, "fan_out": True}


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[tuple[JobStore, ShardStore]]:
    pool = await create_pool(DatabaseSettings(url=pg_url, pool_min=1, pool_max=8))
    try:
        yield JobStore(pool), ShardStore(pool)
    finally:
        await pool.close()


async def fanned_out(jobs: JobStore, shards: ShardStore, count: int) -> str:
    job = new_job()
    await jobs.submit(job)
    assert await jobs.claim(job.job_id, "planner", 60) is not None
    assert await shards.fan_out(job.job_id, "planner", PLAN, [(n * 10, n * 10 + 10) for n in range(count)])
    return job.job_id


async def test_fan_out_writes_a_row_and_a_dispatch_per_shard_and_gives_up_the_lease(
    stores: tuple[JobStore, ShardStore],
) -> None:
    jobs, shards = stores
    job_id = await fanned_out(jobs, shards, 3)

    job = await jobs.get(job_id)
    dispatches = [d["body"] for d in await outbox(jobs, "dispatch") if d["message_id"] != job_id]
    assert job is not None and (job.status, job.shards_total, job.shards_done) == (JobStatus.PROCESSING, 3, 0)
    assert job.fanout == PLAN
    assert dispatches == [{"job_shard": f"{job_id}/{n}"} for n in range(3)]
    # no lease to expire: the sweeper leaves the job to its shards, and a duplicate job delivery is skipped
    assert await jobs.claim(job_id, "other", 60) is None
    assert await shards.fan_out(job_id, "planner", PLAN, [(0, 1)]) is False


async def test_the_last_shard_to_finish_takes_the_jobs_lease_exactly_once(
    stores: tuple[JobStore, ShardStore],
) -> None:
    jobs, shards = stores
    job_id = await fanned_out(jobs, shards, 6)
    for n in range(6):
        assert await shards.claim(f"{job_id}/{n}", f"w{n}", 60) is not None

    done = await asyncio.gather(*(shards.finish(f"{job_id}/{n}", f"w{n}", {"n": n}, 60) for n in range(6)))

    last = [n for n, state in enumerate(done) if state is ShardFinish.LAST]
    assert len(last) == 1 and done.count(ShardFinish.RECORDED) == 5
    job = await jobs.get(job_id)
    assert job is not None and job.shards_done == 6
    assert await shards.results(job_id) == [{"n": n} for n in range(6)]
    # the winner holds the job's lease: it (and only it) finishes the job
    assert await jobs.renew_lease(job_id, f"w{last[0]}", 60)
    finished = await jobs.finish(job_id, f"w{last[0]}", JobOutcome(JobStatus.SUCCESS, count=6), event)
    assert finished is not None and finished.status is JobStatus.SUCCESS


async def test_a_shard_is_claimed_once_and_a_late_worker_cannot_finish_it(stores: tuple[JobStore, ShardStore]) -> None:
    jobs, shards = stores
    job_id = await fanned_out(jobs, shards, 2)
    shard = f"{job_id}/0"

    claims = await asyncio.gather(*(shards.claim(shard, f"w{n}", 60) for n in range(5)))
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1 and winners[0].attempts == 1
    owner = next(f"w{n}" for n, c in enumerate(claims) if c is not None)

    # its lease runs out; the sweeper hands it to another worker, which finishes it
    await jobs.pool.execute("UPDATE job_shards SET lease_expires_at = now() - interval '1 s'")
    async with jobs.pool.acquire() as connection:
        requeued = await requeue_expired_leases(connection, "job")
    assert requeued == [shard]
    again = await shards.claim(shard, "second", 60)
    assert again is not None and again.attempts == 2
    assert await shards.finish(shard, "second", {"by": "second"}, 60) is ShardFinish.RECORDED

    # the first worker comes back: nothing it says is written
    assert await shards.renew_lease(shard, owner, 60) is False
    assert await shards.finish(shard, owner, {"by": "late"}, 60) is ShardFinish.REFUSED
    assert await shards.fail(shard, owner, JobOutcome.failed(MediaContentBad("x")), event) is None
    assert await shards.results(job_id) == [{"by": "second"}]
    job = await jobs.get(job_id)
    assert job is not None and (job.status, job.shards_done) == (JobStatus.PROCESSING, 1)


async def test_a_failed_shard_fails_the_job_once_with_its_event_and_cancels_the_others(
    stores: tuple[JobStore, ShardStore],
) -> None:
    jobs, shards = stores
    job_id = await fanned_out(jobs, shards, 3)
    for n in range(2):
        assert await shards.claim(f"{job_id}/{n}", f"w{n}", 60) is not None

    outcome = JobOutcome.failed(MediaContentBad("The input cannot be decoded."))
    failed = await shards.fail(f"{job_id}/0", "w0", outcome, event)

    assert failed is not None and (failed.status, failed.code) == (JobStatus.FAIL, MediaContentBad.code)
    events = await outbox(jobs, "event")
    assert [e["body"] for e in events] == [{"JobId": job_id}]
    # the shard still running is refused, the one not started cannot be claimed
    assert await shards.finish(f"{job_id}/1", "w1", {}, 60) is ShardFinish.REFUSED
    assert await shards.claim(f"{job_id}/2", "w2", 60) is None
    assert await shards.unfinished(job_id) == 3


async def test_a_fanned_out_job_claimed_before_its_shards_are_done_goes_back_to_them(
    stores: tuple[JobStore, ShardStore],
) -> None:
    jobs, shards = stores
    job_id = await fanned_out(jobs, shards, 2)
    # a lease on the job while a shard is still to run (a hand-edited row, a bug): it must not assemble
    await jobs.pool.execute(
        "UPDATE jobs SET lease_owner = 'x', lease_expires_at = now() - interval '1 s' WHERE job_id = $1", job_id
    )
    claimed = await jobs.claim(job_id, "assembler", 60)
    assert claimed is not None and await shards.unfinished(job_id) == 2

    await shards.return_to_shards(job_id, "assembler")

    owner = await jobs.pool.fetchval("SELECT lease_owner FROM jobs WHERE job_id = $1 AND status = 'Processing'", job_id)
    assert owner is None and await jobs.claim(job_id, "other", 60) is None
    assert await shards.claim(f"{job_id}/0", "w", 60) is not None


async def test_a_fanned_out_job_whose_assembler_died_is_assembled_by_the_next_claim(
    stores: tuple[JobStore, ShardStore],
) -> None:
    jobs, shards = stores
    job_id = await fanned_out(jobs, shards, 2)
    for n in range(2):
        assert await shards.claim(f"{job_id}/{n}", "w", 60) is not None
    assert await shards.finish(f"{job_id}/0", "w", {}, 60) is ShardFinish.RECORDED
    assert await shards.finish(f"{job_id}/1", "w", {}, 60) is ShardFinish.LAST

    # the assembler died: its lease expires, the sweeper dispatches the job, another worker claims it
    await jobs.pool.execute("UPDATE jobs SET lease_expires_at = now() - interval '1 s' WHERE job_id = $1", job_id)
    async with jobs.pool.acquire() as connection:
        assert job_id in await requeue_expired_leases(connection, "job")
    claimed = await jobs.claim(job_id, "assembler", 60)
    assert claimed is not None and claimed.fanout == PLAN and await shards.unfinished(job_id) == 0

    # an assembly handed back is dispatched again (the delivery in hand was a shard's)
    await shards.hand_back_assembly(job_id, "assembler", 0.0)
    job = await jobs.get(job_id)
    dispatches = [d for d in await outbox(jobs, "dispatch") if d["body"] == {"job_id": job_id}]
    assert job is not None and job.status is JobStatus.INIT and len(dispatches) >= 2


async def scratch_cleanups(jobs: JobStore, job_id: str) -> list[float]:
    """Seconds until each of the job's queued scratch clean-ups comes due."""
    rows = await jobs.pool.fetch(
        "SELECT extract(epoch FROM available_at - now()) AS due_in FROM outbox WHERE body = $1",
        {"job_scratch": job_id},
    )
    return [float(row["due_in"]) for row in rows]


async def test_an_ended_fanned_out_job_queues_one_delayed_scratch_cleanup_until_it_is_withdrawn(
    stores: tuple[JobStore, ShardStore],
) -> None:
    jobs, shards = stores
    succeeded, failed = await fanned_out(jobs, shards, 1), await fanned_out(jobs, shards, 2)
    assert await shards.claim(f"{succeeded}/0", "w", 60) is not None
    assert await shards.finish(f"{succeeded}/0", "w", {}, 60) is ShardFinish.LAST
    assert await scratch_cleanups(jobs, succeeded) == []  # not before the job ends
    assert await jobs.finish(succeeded, "w", JobOutcome(JobStatus.SUCCESS, count=1), event) is not None
    assert await shards.claim(f"{failed}/0", "w", 60) is not None
    assert await shards.fail(f"{failed}/0", "w", JobOutcome.failed(MediaContentBad("bad")), event) is not None

    for job_id in (succeeded, failed):
        [due_in] = await scratch_cleanups(jobs, job_id)
        assert SCRATCH_CLEANUP_DELAY_S - 5 < due_in <= SCRATCH_CLEANUP_DELAY_S
    # the relay takes only what is due: the clean-up waits for the assembler's own delete
    async with jobs.pool.acquire() as connection, connection.transaction():
        assert not [m for m in await take_batch(connection, 100) if "job_scratch" in m.body]
    await shards.withdraw_scratch_cleanup(succeeded)
    assert await scratch_cleanups(jobs, succeeded) == []
    assert len(await scratch_cleanups(jobs, failed)) == 1
    # a plain job queues none
    plain = new_job()
    await jobs.submit(plain)
    assert await jobs.claim(plain.job_id, "w", 60) is not None
    assert await jobs.finish(plain.job_id, "w", JobOutcome(JobStatus.SUCCESS, count=1), event) is not None
    assert await scratch_cleanups(jobs, plain.job_id) == []


async def test_a_clean_up_right_after_the_end_leaves_a_database_outage_to_the_delayed_one(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings.from_env({"SNAPSHOTD_DATABASE_URL": pg_url, "SNAPSHOTD_STORAGE_ROOT": str(tmp_path)})
    pool = await create_pool(settings.database)
    jobs = JobStore(pool)
    job_id = await fanned_out(jobs, ShardStore(pool), 2)
    job = await jobs.get(job_id)
    assert job is not None
    executors = ExecutorSlot(settings.worker)
    fanout = FanOut(settings, ShardStore(pool), LocalStorage(tmp_path), executors)
    await pool.close()  # PostgreSQL away once the job has ended
    try:
        with pytest.raises(DatabaseUnavailable):
            await fanout.clean(job)  # the delayed clean-up's own path: fails, so its message is retried

        with caplog.at_level(logging.WARNING, logger="service.worker.fanout"):
            await fanout.tidy(job)  # the finishing worker's: the job is final, its delivery must not fail
    finally:
        executors.close()

    assert "left to its delayed retry" in caplog.text


@pytest.mark.s3
async def test_a_store_that_may_not_list_gets_the_objects_the_shard_rows_name_deleted(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Credentials allowed to get, put and delete objects but not to list the bucket (a common least-
    privilege policy): the clean-up cannot see a late worker's unnamed uploads, but still deletes every
    object the shard rows name, says why the rest may stay, and is done (its delayed retry withdrawn)."""
    allowed = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    with moto_enforcing_iam("thumbs", allowed) as (url, credentials, inspector_credentials):
        env = {
            "SNAPSHOTD_DATABASE_URL": pg_url,
            "SNAPSHOTD_STORAGE_BACKEND": "s3",
            "SNAPSHOTD_S3_ENDPOINT_URL": url,
            "SNAPSHOTD_S3_REGION": "us-east-1",
            "SNAPSHOTD_S3_ADDRESSING_STYLE": "path",
        }
        settings = Settings.from_env(env)
        pool = await create_pool(settings.database)
        jobs, shards = JobStore(pool), ShardStore(pool)
        job_id = await fanned_out(jobs, shards, 1)
        named = f"{scratch_folder(job_id)}shard-000-aaaaaaaaaaaa/00001.jpg"
        unnamed = f"{scratch_folder(job_id)}shard-000-bbbbbbbbbbbb/00001.jpg"
        assert await shards.claim(f"{job_id}/0", "w", 60) is not None
        row = {"images": [{"path": named, "bif_path": None}]}
        assert await shards.finish(f"{job_id}/0", "w", row, 60) is ShardFinish.LAST
        assert await jobs.finish(job_id, "w", JobOutcome(JobStatus.SUCCESS, count=1), event) is not None
        job = await jobs.get(job_id)
        assert job is not None
        executors = ExecutorSlot(settings.worker)
        storage = await S3Storage.open(settings.storage, credentials=credentials)
        inspector = await S3Storage.open(settings.storage, credentials=inspector_credentials)
        try:
            for key in (named, unnamed):
                await storage.put_bytes(ObjectRef("thumbs", key), b"scratch", "application/octet-stream")
            with pytest.raises(StorageAccessDenied):
                await storage.keys_under("thumbs", scratch_folder(job_id))
            with caplog.at_level(logging.WARNING, logger="service.worker.fanout"):
                await FanOut(settings, shards, storage, executors).clean(job)
            assert not await inspector.exists(ObjectRef("thumbs", named))
            assert await inspector.exists(ObjectRef("thumbs", unnamed))
            assert await scratch_cleanups(jobs, job_id) == []
        finally:
            await inspector.aclose()
            await storage.aclose()
            executors.close()
            await pool.close()
    assert "cannot list the scratch folder" in caplog.text
