"""The orchestrator's own view of the outbox and the jobs queue, sampled once a second during a run.

No worker runs during the throughput phases: the API's outbox relay publishes what is accepted and the
jobs just queue, so the outbox backlog and the queue depth show whether the relay keeps up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import aio_pika
import asyncpg

from benchmarks.api.services import AMQP_URL, Environment, database_url


@dataclass
class Broker:
    """Gauges over the bench database and broker: outbox rows, jobs, queue depth."""

    env: Environment
    pg: asyncpg.Connection
    amqp: aio_pika.abc.AbstractConnection
    channel: aio_pika.abc.AbstractChannel

    @classmethod
    async def open(cls, env: Environment) -> Broker:
        pg = await asyncpg.connect(database_url(env.db_name), timeout=5)
        # not connect_robust: a robust channel hands back its cached queue, with a stale message count
        amqp = await aio_pika.connect(AMQP_URL, timeout=5)
        return cls(env, pg, amqp, await amqp.channel())

    async def close(self) -> None:
        await self.pg.close()
        await self.amqp.close()

    async def outbox(self) -> int:
        return int(await self.pg.fetchval("SELECT count(*) FROM outbox"))

    async def jobs(self) -> int:
        return int(await self.pg.fetchval("SELECT count(*) FROM jobs"))

    async def queue_depth(self) -> int:
        queue = await self.channel.declare_queue(self.env.jobs_queue, passive=True)
        return int(queue.declaration_result.message_count or 0)

    async def purge(self) -> None:
        queue = await self.channel.declare_queue(self.env.jobs_queue, passive=True)
        await queue.purge()

    async def drain(self, timeout_s: float = 180.0) -> float:
        """Wait for the relay to empty the outbox; return how long it took."""
        started = time.monotonic()
        for _ in range(int(timeout_s / 0.2)):
            if not await self.outbox():
                break
            await asyncio.sleep(0.2)
        return time.monotonic() - started

    async def flood_outbox(self, count: int) -> None:
        """`count` dispatches of jobs that do not exist, in one statement: work for the relays alone."""
        await self.pg.execute(
            """
            INSERT INTO outbox (kind, routing_key, body, priority, message_id)
            SELECT 'dispatch', 'job', jsonb_build_object('job_id', 'relaybench' || g), 0, 'relaybench' || g
            FROM generate_series(1, $1) AS g
            """,
            count,
        )

    async def time_drain(self, count: int, timeout_s: float = 300.0) -> tuple[float, int, float]:
        """(when the relays took the first of `count` new rows, rows left then, when the outbox was empty),
        polled every 50 ms: the relays notice new rows at their next poll, which is not theirs to count. A
        drain too quick to be seen under way counts from the call (the poll's delay included)."""
        called = time.monotonic()
        started, left_at_start = 0.0, count
        deadline = called + timeout_s
        while time.monotonic() < deadline:
            left = await self.outbox()
            now = time.monotonic()
            if left == 0:
                return (started, left_at_start, now) if started else (called, count, now)
            if not started and left < count:
                started, left_at_start = now, left
            await asyncio.sleep(0.05)
        raise RuntimeError(f"the outbox still held rows after {timeout_s:.0f} s")

    async def sample(self, stop: asyncio.Event, into: list[tuple[float, int, int]]) -> None:
        while not stop.is_set():
            into.append((time.monotonic(), await self.outbox(), await self.queue_depth()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        into.append((time.monotonic(), await self.outbox(), await self.queue_depth()))

    async def wait_consumer(self, timeout_s: float = 30.0) -> None:
        """Until the jobs queue reports a consumer: the worker is consuming."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(aio_pika.exceptions.ChannelClosed):
                queue = await self.channel.declare_queue(self.env.jobs_queue, passive=True)
                if queue.declaration_result.consumer_count:
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError("the worker did not start consuming in time")
