"""Jobs of a higher-priority pipeline are taken first: pipeline Priority is the AMQP message priority."""

from __future__ import annotations

import asyncio

import aio_pika
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from service.config import Settings
from service.queue import topology
from tests.conftest import AMQP_URL
from tests.ice import call, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


async def test_higher_priority_jobs_are_delivered_first(api: TestClient, settings: Settings) -> None:
    _, created = await call(api, "CreatePipeline", Name="urgent", Speed="Standard", Priority=10)
    urgent = created["Pipeline"]["PipelineId"]
    normal_ids = [(await call(api, "SubmitSnapshotJob", **submit_params()))[1]["JobId"] for _ in range(3)]
    urgent_params = {**submit_params(), "ScheduleConfig": {"PipelineId": urgent}}
    urgent_id = (await call(api, "SubmitSnapshotJob", **urgent_params))[1]["JobId"]
    connection = await asyncpg.connect(settings.database.url)
    try:
        async with asyncio.timeout(10):
            while await connection.fetchval("SELECT count(*) FROM outbox"):
                await asyncio.sleep(0.02)
    finally:
        await connection.close()

    async with await aio_pika.connect(AMQP_URL) as amqp:
        topo = await topology.declare(await amqp.channel(), settings.amqp)
        order = []
        while (message := await topo.jobs_queue.get(no_ack=True, fail=False)) is not None:
            order.append((message.message_id, message.priority))

    assert order[0] == (urgent_id, 10)
    assert sorted(order[1:]) == sorted((job_id, 6) for job_id in normal_ids)
