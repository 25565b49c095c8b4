"""MediaStore and ProbeJobStore on a real PostgreSQL: a registration writes its probe job and dispatch; a
snapshot job on an asset still probing is neither dispatched nor claimable; the probe's finish (by its
owner only) records the asset and dispatches the waiting job; deleting an asset dispatches its waiting
jobs; an abandoned probe's lease is swept like a snapshot job's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.config import DatabaseSettings
from service.domain.media import MediaStatus, MediaType, Probe
from service.domain.models import JobStatus
from service.domain.routing import JOB_ROUTING_KEY
from service.store.jobs import JobStore
from service.store.media import MediaStore, NewMedia
from service.store.outbox import requeue_expired_leases
from service.store.pool import create_pool
from service.store.probe_jobs import Event, ProbeJobRecord, ProbeJobStore, ProbeOutcome
from tests.integration.store.test_job_store import new_job

pytestmark = pytest.mark.pg

PROBE = Probe(format_name="mov,mp4", format_long_name="QuickTime / MOV", size=10, duration_ms=1000, bitrate=80)


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(DatabaseSettings(url=pg_url, pool_min=1, pool_max=4))
    try:
        yield pool
    finally:
        await pool.close()


def event(job: ProbeJobRecord) -> Event:
    return f"MediaInfoComplete.{job.status.value}", {"JobId": job.job_id}, uuid.uuid4().hex


async def dispatches(pool: asyncpg.Pool) -> list[dict[str, str]]:
    return [r["body"] for r in await pool.fetch("SELECT body FROM outbox WHERE kind = 'dispatch' ORDER BY id")]


async def registered(pool: asyncpg.Pool, url: str = "oss://media/a.mp4") -> tuple[str, str]:
    media_id = (await MediaStore(pool).register(NewMedia(url, url, MediaType.VIDEO, "t"), overwrite=False)).media_id
    probe_id = str(await pool.fetchval("SELECT job_id FROM probe_jobs WHERE media_id = $1", media_id))
    return media_id, probe_id


async def test_a_job_waits_for_its_asset_probe_then_is_dispatched_and_claimed(pool: asyncpg.Pool) -> None:
    media_id, probe_id = await registered(pool)
    jobs, probes = JobStore(pool), ProbeJobStore(pool)
    job = new_job(input={"Type": "Media", "Media": media_id}, media_id=media_id)
    await jobs.submit(job)

    assert await dispatches(pool) == [{"probe_job_id": probe_id}]
    assert await jobs.claim(job.job_id, "w1", 30) is None  # a resume's early dispatch would be refused too

    claimed = await probes.claim(probe_id, "w1", 30)
    assert claimed is not None and claimed.attempts == 1
    assert await probes.finish(probe_id, "w2", ProbeOutcome(JobStatus.SUCCESS, result=PROBE), event) is None
    finished = await probes.finish(probe_id, "w1", ProbeOutcome(JobStatus.SUCCESS, result=PROBE), event)
    asset = await MediaStore(pool).get(media_id)

    assert finished is not None and finished.result == PROBE
    assert asset is not None and (asset.status, asset.probe) == (MediaStatus.NORMAL, PROBE)
    assert (await dispatches(pool))[-1] == {"job_id": job.job_id}
    assert await jobs.claim(job.job_id, "w1", 30) is not None
    events = await pool.fetch("SELECT routing_key FROM outbox WHERE kind = 'event'")
    assert [e["routing_key"] for e in events] == ["MediaInfoComplete.Success"]


async def test_a_failed_probe_records_why_and_still_releases_the_waiting_jobs(pool: asyncpg.Pool) -> None:
    media_id, probe_id = await registered(pool)
    job = new_job(input={"Type": "Media", "Media": media_id}, media_id=media_id)
    await JobStore(pool).submit(job)
    probes = ProbeJobStore(pool)
    await probes.claim(probe_id, "w1", 30)
    failed = ProbeOutcome(JobStatus.FAIL, code="InvalidParameter.ResourceNotFound", message="gone")
    await probes.finish(probe_id, "w1", failed, event)
    asset = await MediaStore(pool).get(media_id)

    assert asset is not None and (asset.status, asset.code, asset.message) == (
        MediaStatus.PREPARE_FAIL,
        "InvalidParameter.ResourceNotFound",
        "gone",
    )
    assert (await dispatches(pool))[-1] == {"job_id": job.job_id}


async def test_deleting_an_asset_dispatches_its_waiting_jobs(pool: asyncpg.Pool) -> None:
    media_id, _ = await registered(pool)
    job = new_job(input={"Type": "Media", "Media": media_id}, media_id=media_id)
    await JobStore(pool).submit(job)
    deleted = await MediaStore(pool).delete([media_id], [])

    assert deleted == [(media_id, "oss://media/a.mp4")]
    assert (await dispatches(pool))[-1] == {"job_id": job.job_id}
    # the claim goes ahead: the job then fails, its asset gone (worker/inputs.py)
    assert await JobStore(pool).claim(job.job_id, "w1", 30) is not None
    assert await MediaStore(pool).get_live(media_id=media_id) is None


async def test_one_live_asset_per_file_and_an_expired_probe_lease_is_swept(pool: asyncpg.Pool) -> None:
    store = MediaStore(pool)
    first, probe_id = await registered(pool)
    again = await store.register(
        NewMedia("oss://media/a.mp4", "oss://media/a.mp4", MediaType.VIDEO, "t"), overwrite=False
    )
    assert (again.media_id, again.created) == (first, False)
    assert await pool.fetchval("SELECT count(*) FROM probe_jobs") == 1

    await ProbeJobStore(pool).claim(probe_id, "dead", 0.01)
    await pool.execute("SELECT pg_sleep(0.05)")
    async with pool.acquire() as connection:
        swept = await requeue_expired_leases(connection, JOB_ROUTING_KEY)
    job = await ProbeJobStore(pool).get(probe_id)
    assert swept == [probe_id] and job is not None and job.status is JobStatus.INIT
    assert (await dispatches(pool))[-1] == {"probe_job_id": probe_id}
