"""JobStore's guarded transitions on a real PostgreSQL: every state change happens once, for its owner.

Init ──claim──▶ Processing ──finish──▶ Success | Fail
                  │  ▲
                  └──┘ claim again once the lease has expired
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from service.config import DatabaseSettings
from service.domain.models import JobStatus
from service.store.jobs import Event, JobOutcome, JobRecord, JobStore, NewJob
from service.store.pool import create_pool

pytestmark = pytest.mark.pg


@pytest.fixture
async def store(pg_url: str) -> AsyncIterator[JobStore]:
    pool = await create_pool(DatabaseSettings(url=pg_url, pool_min=1, pool_max=4))
    try:
        yield JobStore(pool)
    finally:
        await pool.close()


#: the seeded default pipeline (migration 0003)
DEFAULT_PIPELINE = "00000000000000000000000000000001"


def new_job(**overrides: Any) -> NewJob:
    values: dict[str, Any] = {
        "job_id": uuid.uuid4().hex,
        "name": "j",
        "type": "Normal",
        "input": {"Type": "OSS", "Media": "oss://media/in.mp4"},
        "output": {"Type": "OSS", "Media": "oss://thumbs/{Count}.jpg"},
        "template_id": "S00000002-000001",
        "template_config": {"Type": "Normal", "Count": 1},
        "pipeline_id": None,
        "user_data": None,
    }
    return NewJob(**{**values, **overrides})


def event(job: JobRecord) -> Event:
    return f"SnapshotComplete.{job.status.value}", {"JobId": job.job_id}, uuid.uuid4().hex


async def outbox(store: JobStore, kind: str) -> list[asyncpg.Record]:
    return await store.pool.fetch("SELECT * FROM outbox WHERE kind = $1 ORDER BY id", kind)


async def test_submit_writes_the_job_and_its_dispatch(store: JobStore) -> None:
    job = new_job()
    await store.submit(job)

    got = await store.get(job.job_id)
    dispatches = await outbox(store, "dispatch")
    assert got is not None and (got.status, got.attempts) == (JobStatus.INIT, 0)
    assert [(d["message_id"], d["body"]) for d in dispatches] == [(job.job_id, {"job_id": job.job_id})]


async def test_a_job_is_claimed_by_one_worker_at_a_time(store: JobStore) -> None:
    job = new_job()
    await store.submit(job)

    claims = await asyncio.gather(*(store.claim(job.job_id, f"w{n}", 60) for n in range(5)))

    winners = [claim for claim in claims if claim is not None]
    assert len(winners) == 1
    assert (winners[0].status, winners[0].attempts) == (JobStatus.PROCESSING, 1)
    assert await store.claim(job.job_id, "late", 60) is None


async def test_only_the_owner_renews_releases_and_finishes(store: JobStore) -> None:
    job = new_job()
    await store.submit(job)
    await store.claim(job.job_id, "owner", 60)

    assert await store.renew_lease(job.job_id, "other", 60) is False
    assert await store.renew_lease(job.job_id, "owner", 60) is True
    assert await store.finish(job.job_id, "other", JobOutcome(JobStatus.SUCCESS, count=1), event) is None
    await store.release(job.job_id, "other")
    assert (await store.get(job.job_id)).status is JobStatus.PROCESSING  # type: ignore[union-attr]
    assert await outbox(store, "event") == []

    finished = await store.finish(job.job_id, "owner", JobOutcome(JobStatus.SUCCESS, count=1), event)

    assert finished is not None and (finished.status, finished.count) == (JobStatus.SUCCESS, 1)
    assert len(await outbox(store, "event")) == 1
    # final: nobody claims, finishes or releases it again, and no second event is written
    assert await store.claim(job.job_id, "owner", 60) is None
    assert await store.finish(job.job_id, "owner", JobOutcome(JobStatus.FAIL), event) is None
    assert len(await outbox(store, "event")) == 1


async def test_an_expired_lease_passes_the_job_on_and_the_late_owner_cannot_finish(store: JobStore) -> None:
    job = new_job()
    await store.submit(job)
    await store.claim(job.job_id, "dead", 0.05)
    await asyncio.sleep(0.1)

    again = await store.claim(job.job_id, "alive", 60)

    assert again is not None and (again.attempts, again.status) == (2, JobStatus.PROCESSING)
    assert await store.finish(job.job_id, "dead", JobOutcome(JobStatus.SUCCESS), event) is None
    assert await store.renew_lease(job.job_id, "dead", 60) is False
    assert (await store.finish(job.job_id, "alive", JobOutcome(JobStatus.SUCCESS), event)) is not None


async def test_release_hands_the_job_back_keeping_its_attempts(store: JobStore) -> None:
    job = new_job()
    await store.submit(job)
    await store.claim(job.job_id, "owner", 60)

    await store.release(job.job_id, "owner")

    back = await store.get(job.job_id)
    assert back is not None and (back.status, back.attempts) == (JobStatus.INIT, 1)
    claimed = await store.claim(job.job_id, "next", 60)
    assert claimed is not None and claimed.attempts == 2


async def test_a_paused_pipeline_holds_the_dispatch(store: JobStore) -> None:
    await store.pool.execute(
        "INSERT INTO pipelines (pipeline_id, name, speed, priority, status, is_default) "
        "VALUES ('held', 'h', 'Standard', 3, 'Paused', false)"
    )
    job = new_job(pipeline_id="held")
    await store.submit(job)

    got = await store.get(job.job_id)
    assert got is not None and (got.pipeline_id, got.priority) == ("held", 3)
    assert await outbox(store, "dispatch") == []


async def test_concurrent_submissions_share_one_statement_each_by_its_own_pipeline_and_asset(store: JobStore) -> None:
    await store.pool.execute(
        "INSERT INTO pipelines (pipeline_id, name, speed, priority, status, is_default) VALUES "
        "('fast', 'f', 'Standard', 9, 'Active', false), ('held', 'h', 'Standard', 3, 'Paused', false)"
    )
    await store.pool.execute(
        "INSERT INTO media (media_id, input_url, source, media_type, status) VALUES "
        "('probing', 'oss://m/a.mp4', 'oss://m/a.mp4', 'video', 'Init'), "
        "('ready', 'oss://m/b.mp4', 'oss://m/b.mp4', 'video', 'Normal')"
    )
    default, fast, held, gone = (
        new_job(),
        new_job(pipeline_id="fast"),
        new_job(pipeline_id="held"),
        new_job(pipeline_id="gone"),
    )
    probing, ready = new_job(media_id="probing"), new_job(media_id="ready")
    many = [new_job() for _ in range(40)]
    batches_before = store.submissions.batches

    written = await asyncio.gather(*(store.submit(job) for job in (default, fast, held, gone, probing, ready, *many)))

    assert written == [True, True, True, False, True, True] + [True] * 40
    assert store.submissions.batches - batches_before <= 3  # coalesced, not one statement per submission
    jobs = {job.job_id: job for job in [await store.get(j.job_id) for j in (default, fast, held)] if job}
    assert [(jobs[j.job_id].pipeline_id, jobs[j.job_id].priority) for j in (default, fast, held)] == [
        (DEFAULT_PIPELINE, 6),
        ("fast", 9),
        ("held", 3),
    ]
    assert await store.get(gone.job_id) is None
    dispatched = {row["message_id"]: row["priority"] for row in await outbox(store, "dispatch")}
    # a paused pipeline's job and a job on an asset still probing wait without a dispatch
    assert set(dispatched) == {j.job_id for j in (default, fast, ready, *many)}
    assert dispatched[fast.job_id] == 9


async def test_a_submission_the_database_refuses_fails_alone_in_its_batch(store: JobStore) -> None:
    good = [new_job() for _ in range(5)]
    bad = new_job(type="Bogus")  # the jobs table's CHECK refuses it
    twin = new_job(job_id=good[0].job_id)

    results = await asyncio.gather(*(store.submit(job) for job in (*good, bad, twin)), return_exceptions=True)

    assert results[:5] == [True] * 5
    assert isinstance(results[5], asyncpg.CheckViolationError), results[5]
    assert isinstance(results[6], asyncpg.UniqueViolationError), results[6]
    assert len(await outbox(store, "dispatch")) == 5
