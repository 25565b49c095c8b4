"""The outbox: jobs accepted while RabbitMQ is unreachable are dispatched once it is back; relays
share rows without double-sending; jobs abandoned by a dead worker are re-dispatched."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.api.app import create_app
from service.config import Settings
from service.domain.models import JobStatus
from service.domain.routing import JOB_ROUTING_KEY
from service.queue import topology
from service.queue.relay import OutboxRelay
from service.store.jobs import JobOutcome, JobStore, NewJob
from service.store.outbox import MessageKind, add_message, backlog
from service.store.pool import create_pool
from tests.conftest import AMQP_URL, free_port
from tests.ice import call, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database)
    yield pool
    await pool.close()


async def queued_job_ids(settings: Settings) -> list[str]:
    """Every job message waiting on the jobs queue (consumed, so each is counted once)."""
    async with await aio_pika.connect(AMQP_URL) as connection:
        channel = await connection.channel()
        topo = await topology.declare(channel, settings.amqp)
        ids = []
        while (message := await topo.jobs_queue.get(no_ack=True, fail=False)) is not None:
            ids.append(message.message_id)
        return ids


async def relay_until_empty(relays: list[OutboxRelay], pool: asyncpg.Pool) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)) for relay in relays]
    try:
        async with asyncio.timeout(20):
            while await backlog(pool):
                for relay in relays:
                    relay.poke()
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_jobs_accepted_while_the_broker_is_unreachable_run_when_it_is_back(
    base_env: dict[str, str], settings: Settings, pool: asyncpg.Pool
) -> None:
    dead_broker = Settings.from_env({**base_env, "SNAPSHOTD_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"})
    async with TestClient(TestServer(create_app(dead_broker))) as api:
        accepted = [await call(api, "SubmitSnapshotJob", **submit_params()) for _ in range(3)]
        ready = await api.get("/readyz")
        readiness = await ready.json()

    assert [status for status, _ in accepted] == [200, 200, 200]
    assert (ready.status, readiness["rabbitmq"], readiness["postgres"]) == (503, "down", "ok")
    assert await backlog(pool) == 3

    await relay_until_empty([OutboxRelay(pool, settings.amqp, name="test", sweep_every_s=60)], pool)

    assert sorted(await queued_job_ids(settings)) == sorted(body["JobId"] for _, body in accepted)


async def test_concurrent_relays_send_each_message_once(settings: Settings, pool: asyncpg.Pool) -> None:
    jobs = JobStore(pool)
    ids = [uuid.uuid4().hex for _ in range(300)]
    for job_id in ids:
        await jobs.submit(new_job(job_id))

    relays = [OutboxRelay(pool, settings.amqp, name=f"test-{n}", sweep_every_s=60) for n in range(3)]
    await relay_until_empty(relays, pool)

    assert sorted(await queued_job_ids(settings)) == sorted(ids)


async def test_a_batch_deletes_what_the_broker_confirmed_and_keeps_what_it_did_not(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    # Three dispatches the jobs queue takes, and one no queue is bound for: published with `mandatory`,
    # the broker returns it instead of confirming it, in the same batch as the others.
    async with pool.acquire() as connection:
        for n in range(3):
            await add_message(
                connection, MessageKind.DISPATCH, JOB_ROUTING_KEY, {"job_id": f"job-{n}"}, message_id=f"job-{n}"
            )
        await add_message(connection, MessageKind.DISPATCH, "nowhere", {"job_id": "lost"}, message_id="lost")

    relay = OutboxRelay(pool, settings.amqp, name="test", sweep_every_s=60, lanes=2)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        async with asyncio.timeout(20):
            while await pool.fetchval("SELECT count(*) FROM outbox WHERE attempts = 0"):
                relay.poke()
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task

    assert sorted(await queued_job_ids(settings)) == ["job-0", "job-1", "job-2"]
    left = await pool.fetch("SELECT message_id, attempts, available_at > now() AS later FROM outbox")
    assert [(row["message_id"], row["attempts"], row["later"]) for row in left] == [("lost", 1, True)]


async def test_expired_lease_is_dispatched_again_and_the_late_worker_cannot_finish(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    jobs = JobStore(pool)
    job_id = uuid.uuid4().hex
    # A paused pipeline gets no dispatch at submission: the only message will be the sweeper's.
    await pool.execute("UPDATE pipelines SET status = 'Paused' WHERE is_default")
    await jobs.submit(new_job(job_id))
    assert await jobs.claim(job_id, "worker-a", lease_s=0.2) is not None
    assert await jobs.claim(job_id, "worker-b", lease_s=30) is None  # a live lease is respected
    await asyncio.sleep(0.3)

    relay = OutboxRelay(pool, settings.amqp, name="sweeper", sweep_every_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    async with asyncio.timeout(20):
        while (job := await jobs.get(job_id)) is None or job.status is not JobStatus.INIT or await backlog(pool):
            await asyncio.sleep(0.02)
    stop.set()
    await task
    assert await queued_job_ids(settings) == [job_id]

    reclaimed = await jobs.claim(job_id, "worker-b", lease_s=30)
    late = await jobs.finish(job_id, "worker-a", JobOutcome(JobStatus.SUCCESS, count=1), no_event)
    assert reclaimed is not None and reclaimed.attempts == 2
    assert late is None
    done = await jobs.finish(job_id, "worker-b", JobOutcome(JobStatus.SUCCESS, count=1), no_event)
    assert done is not None and done.status is JobStatus.SUCCESS


def no_event(job: object) -> tuple[str, dict[str, object], str]:
    return "SnapshotComplete.Success", {"test": True}, uuid.uuid4().hex


def new_job(job_id: str) -> NewJob:
    return NewJob(
        job_id=job_id,
        name=None,
        type="Normal",
        input={"Type": "OSS", "Media": "oss://media/a.mp4"},
        output={"Type": "OSS", "Media": "oss://thumbs/a.jpg"},
        template_id="S00000002-000001",
        template_config={"Type": "Normal", "Count": 1},
        pipeline_id=None,
        user_data=None,
    )
