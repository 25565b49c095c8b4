"""The whole pipeline in one test process: the real API on a loopback port, a real worker (with its
spawn process pool) consuming RabbitMQ, PostgreSQL, and local or S3-compatible storage."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aiohttp.test_utils import TestClient, TestServer

from service.api.app import create_app
from service.api.docs import asyncapi
from service.config import Settings
from service.events.payloads import EVENT_TYPES
from service.queue import topology
from service.worker.app import run_worker
from tests.asyncapi.contract import check_event
from tests.ice import call

#: generous: the first job also pays for spawning the pool's processes
JOB_WAIT_S = 60.0


@dataclass
class Stack:
    api: TestClient
    settings: Settings
    events: AbstractQueue
    #: the in-process worker, when the stack runs one (fault tests run workers as processes)
    stop_event: asyncio.Event | None = None
    worker: asyncio.Task[None] | None = None
    #: the API's AsyncAPI document, fetched with the first event
    document: dict[str, Any] | None = None

    async def stop_worker(self) -> None:
        """SIGTERM's path: stop consuming, drain in-flight jobs, close."""
        if self.stop_event is not None and self.worker is not None:
            self.stop_event.set()
            await asyncio.wait_for(self.worker, 60)

    async def wait_final(self, job_id: str, timeout_s: float = JOB_WAIT_S) -> dict[str, Any]:
        """Poll GetSnapshotJob until the job is Success or Fail."""
        async with asyncio.timeout(timeout_s):
            while True:
                status, body = await call(self.api, "GetSnapshotJob", JobId=job_id)
                assert status == 200, body
                if body["SnapshotJob"]["Status"] in ("Success", "Fail"):
                    return body["SnapshotJob"]
                await asyncio.sleep(0.05)

    async def next_event(self, timeout_s: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await self.events.get(no_ack=True, fail=False)
                if message is not None:
                    return await self._checked(message)
                await asyncio.sleep(0.05)

    async def drain_events(self) -> list[dict[str, Any]]:
        found = []
        while (message := await self.events.get(no_ack=True, fail=False)) is not None:
            found.append(await self._checked(message))
        return found

    async def count_events(self, job_ids: set[str], timeout_s: float = 60.0) -> dict[str, int]:
        """How many completion events each job produced, drained from the events queue.

        A job can be final in the database before a relay has published its event (it may be backing
        off after an outage), so drain until every job has one, then once more for duplicates.
        """
        counts = dict.fromkeys(job_ids, 0)

        async def drain() -> None:
            while True:
                try:
                    events = await self.drain_events()
                    break
                except (aiormq.exceptions.ChannelInvalidStateError, aio_pika.exceptions.ChannelClosed):
                    # the test's own connection may still be reconnecting after a broker restart
                    # (aio-pika retries every 5 s) when the jobs are already done: wait for it
                    await asyncio.sleep(0.2)
            for event in events:
                if (job_id := event["MessageBody"]["JobId"]) in counts:
                    counts[job_id] += 1

        async with asyncio.timeout(timeout_s):
            await drain()
            while min(counts.values()) == 0:
                await asyncio.sleep(0.2)
                await drain()
        await asyncio.sleep(1.0)  # a duplicate would be published right behind the first
        await drain()
        return counts

    async def _checked(self, message: AbstractIncomingMessage) -> dict[str, Any]:
        """The event's payload, once it has matched what the API's AsyncAPI document says of it."""
        if self.document is None:
            response = await self.api.get(asyncapi.PATH)
            assert response.status == 200, await response.text()
            self.document = await response.json()
        payload: dict[str, Any] = orjson.loads(message.body)
        assert message.routing_key is not None and message.exchange is not None
        check_event(self.document, exchange=message.exchange, routing_key=message.routing_key, payload=payload)
        assert message.content_type == "application/json" and message.message_id == payload["MessageId"]
        return payload


async def wait_for_workers(settings: Settings, count: int, timeout_s: float = 60.0) -> None:
    """Until `count` workers consume the jobs queue (a job fans out only when it has company)."""
    async with await aio_pika.connect(settings.amqp.url) as connection:
        channel = await connection.channel()
        async with asyncio.timeout(timeout_s):
            while True:
                queue = await channel.declare_queue(settings.amqp.jobs_queue, passive=True)
                if (queue.declaration_result.consumer_count or 0) >= count:
                    return
                await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_api(
    settings: Settings, events_queue: str | None = None
) -> AsyncIterator[tuple[TestClient, AbstractQueue]]:
    """The API on a loopback port and a queue bound to every completion event (snapshot and probe jobs).

    With `events_queue` the queue is durable under that name (it survives a broker restart);
    otherwise it is exclusive to this connection.
    """
    async with await aio_pika.connect_robust(settings.amqp.url) as connection:
        channel = await connection.channel()
        topo = await topology.declare(channel, settings.amqp)
        if events_queue:
            events = await channel.declare_queue(events_queue, durable=True)
        else:
            events = await channel.declare_queue(exclusive=True)
        for event in EVENT_TYPES:
            await events.bind(topo.events_exchange, routing_key=f"{event.name}.*")
        try:
            async with TestClient(TestServer(create_app(settings))) as api:
                yield api, events
        finally:
            if events_queue:
                await events.delete(if_unused=False, if_empty=False)


@contextlib.asynccontextmanager
async def running_stack(settings: Settings) -> AsyncIterator[Stack]:
    """API + in-process worker + the events queue; the worker drains on exit."""
    async with running_api(settings) as (api, events):
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, stop, handle_signals=False))
        stack = Stack(api, settings, events, stop, worker)
        try:
            yield stack
        finally:
            await stack.stop_worker()
