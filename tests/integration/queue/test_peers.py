"""A big job fans out only when another worker could take its shards now: another consumer on the jobs
queue, and no message of the queue waiting for one (a backlog means every worker is busy)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from service.config import Settings
from service.domain.routing import JOB_ROUTING_KEY
from service.queue.connection import BrokerSession, open_session
from service.worker.peers import ASK_TIMEOUT_S, TTL_S, Peers
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.amqp


async def free_now(session: BrokerSession) -> bool:
    """The answer of a worker that has not asked the broker within its TTL."""
    peers = Peers()
    peers.session = session
    return await peers.free()


async def test_a_job_fans_out_only_to_other_workers_with_room(settings: Settings) -> None:
    held: list[AbstractIncomingMessage] = []

    async def hold(message: AbstractIncomingMessage) -> None:
        held.append(message)  # a busy worker: it never acks, so its prefetch of one stays full

    this = await open_session(settings.amqp, "this-worker", prefetch=1, consumer=hold)
    try:
        assert await free_now(this) is False  # alone
        other = await open_session(settings.amqp, "other-worker", prefetch=1, consumer=hold)
        try:
            assert await free_now(this) is True  # another worker, idle
            for n in range(3):
                message = aio_pika.Message(b"{}", message_id=f"job-{n}")
                await this.topology.jobs_exchange.publish(message, routing_key=JOB_ROUTING_KEY)
            async with asyncio.timeout(10):
                while len(held) < 2:  # one job each: both busy, the third waits in the queue
                    await asyncio.sleep(0.01)
            assert await free_now(this) is False
            await held.pop().ack()  # one finishes and takes the waiting job: busy again, nothing waits
            async with asyncio.timeout(10):
                while len(held) < 2:
                    await asyncio.sleep(0.01)
            assert await free_now(this) is True
        finally:
            await other.connection.close()
    finally:
        await this.connection.close()


async def test_a_worker_keeps_its_last_answer_while_the_broker_is_away(settings: Settings) -> None:
    async def take(message: AbstractIncomingMessage) -> None:
        await message.ack()

    proxy = TcpProxy.for_url(settings.amqp.url)
    await proxy.start()
    through_proxy = dataclasses.replace(settings.amqp, url=proxy.url(settings.amqp.url))
    this = await open_session(through_proxy, "this-worker", prefetch=1, consumer=take)
    other = await open_session(settings.amqp, "other-worker", prefetch=1, consumer=take)
    peers = Peers()
    peers.session = this
    try:
        assert await peers.free() is True
        proxy.cut("hang")  # a black-holed route: the channel reconnects and nothing answers
        await asyncio.sleep(0.5)  # the connection has seen the cut: reconnecting into the hang
        peers._asked_at = -TTL_S  # due to ask again
        started = time.monotonic()
        assert await peers.free() is True
        assert time.monotonic() - started < ASK_TIMEOUT_S + 1
        # the question was left to finish, not cancelled: back on the route, the worker asks again
        proxy.restore()
        assert peers._asking is not None
        await asyncio.wait_for(peers._asking, 60)
        # and answers again through the restored connection: alone now, it no longer fans out
        await other.connection.close()
        async with asyncio.timeout(30):
            while True:
                peers._asked_at = -TTL_S
                if await peers.free() is False:
                    break
                await asyncio.sleep(0.1)
    finally:
        await other.connection.close()
        proxy.restore()
        await this.connection.close()
        await proxy.aclose()
