"""The worker's composition root: consume job messages and run them, draining cleanly on SIGTERM.

Start-up waits for PostgreSQL, then RabbitMQ, retrying with back-off (service/retry.py) for as long
as SNAPSHOTD_STARTUP_TIMEOUT_S allows (by default forever); SIGTERM during the wait exits cleanly.

Shutdown order (invariant: no job is lost and none is left owned by a dead worker):
1. stop consuming (cancel the consumer tag): no new deliveries;
2. wait up to SHUTDOWN_GRACE_S for the jobs in flight;
3. cancel what is left: each cancelled job is handed back (Processing → Init) and its message
   nacked with requeue, so another worker runs it;
4. unwind the exit stack: process pool, storage, broker, database, in reverse order of opening.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Mapping
from concurrent.futures.process import BrokenProcessPool
from contextlib import AsyncExitStack
from functools import partial
from typing import Protocol

import orjson
from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import start_http_server

from service import metrics
from service.config import Settings, mask_url
from service.domain.routing import Dispatch, dispatch_target
from service.events.callbacks import CallbackSender
from service.queue.connection import BrokerSession, open_session
from service.queue.relay import OutboxRelay
from service.retry import Deadline, wait_until_connected
from service.signals import finish, stop_on_signals
from service.storage.factory import open_storage
from service.store.jobs import JobStore
from service.store.media import MediaStore
from service.store.pool import create_pool
from service.store.probe_jobs import ProbeJobStore
from service.worker import heartbeat
from service.worker.attempt import Delivery
from service.worker.fanout import ScratchHandler, ShardHandler
from service.worker.handler import JobHandler
from service.worker.pool import ExecutorSlot
from service.worker.probe import ProbeHandler

log = logging.getLogger(__name__)

#: ceiling of the pause before a failed job's message is requeued
MAX_RETRY_DELAY_S = 30.0


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def run_worker(settings: Settings, stop: asyncio.Event | None = None, *, handle_signals: bool = True) -> None:
    """Consume and run jobs until `stop` is set (or SIGTERM/SIGINT arrives), then drain."""
    stop = stop or asyncio.Event()
    if handle_signals:
        stop_on_signals(stop)
    owner = worker_identity()
    deadline = Deadline(settings.runtime.startup_timeout_s)
    session: BrokerSession | None = None
    async with AsyncExitStack() as stack:
        if settings.worker.heartbeat_file:
            # Beating from the start: waiting for a dependency is healthy, a lost broker connection is not.
            heart = asyncio.create_task(
                heartbeat.beat(
                    settings.worker.heartbeat_file,
                    settings.worker.heartbeat_s,
                    lambda: session is None or not session.connection.is_closed,
                )
            )
            stack.callback(heart.cancel)
        pool = await wait_until_connected(
            f"PostgreSQL at {mask_url(settings.database.url)}",
            partial(create_pool, settings.database, max_size=max(4, settings.worker.pool_size * 2)),
            deadline=deadline,
            stop=stop,
        )
        if pool is None:
            log.info("worker stopped before PostgreSQL was reachable")
            return
        stack.push_async_callback(pool.close)
        storage = await open_storage(settings.storage)
        stack.push_async_callback(storage.aclose)
        executors = ExecutorSlot(settings.worker)
        stack.push_async_callback(asyncio.to_thread, executors.close)
        # every process started before the first job: a job's shards run at once, not behind a spawn
        await executors.warm()
        metrics.POOL_SIZE.set(settings.worker.pool_size)
        if settings.worker.metrics_port:
            # prometheus_client's own small HTTP server, on a thread: never on the event loop.
            start_http_server(settings.worker.metrics_port, addr=settings.http.host)

        # Completion events leave through the outbox; this worker's relay publishes them (and sweeps
        # expired leases) on its own connection, so a broker outage only delays them. HTTP callbacks
        # are sent from here too. Both stop after the jobs have drained (the stack unwinds last-in first).
        relay = OutboxRelay(
            pool, settings.amqp, name=f"snapshotd-relay {owner}", sweep_every_s=settings.worker.lease_s / 2
        )
        background_stop = asyncio.Event()
        background = [
            asyncio.create_task(relay.run(background_stop), name="outbox relay"),
            asyncio.create_task(CallbackSender(pool, settings.callbacks).run(background_stop), name="callback sender"),
        ]

        async def stop_background() -> None:
            background_stop.set()
            await finish(background)

        stack.push_async_callback(stop_background)
        jobs = JobHandler(settings, JobStore(pool), storage, relay, executors, owner)
        handlers: dict[Dispatch, Handler] = {
            Dispatch.SNAPSHOT: jobs,
            Dispatch.PROBE: ProbeHandler(
                settings, ProbeJobStore(pool), MediaStore(pool), storage, relay, executors, owner
            ),
            Dispatch.SHARD: ShardHandler(settings, jobs.jobs, jobs.fanout, relay, executors, owner, jobs),
            Dispatch.SCRATCH: ScratchHandler(jobs.jobs, jobs.fanout),
        }
        in_flight: set[asyncio.Task[None]] = set()

        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.create_task(_deliver(message, handlers, executors))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

        # Backpressure: the broker hands this worker no more jobs than its pool can run at once.
        session = await wait_until_connected(
            f"RabbitMQ at {mask_url(settings.amqp.url)}",
            partial(
                open_session,
                settings.amqp,
                f"snapshotd-worker {owner}",
                prefetch=settings.worker.pool_size,
                consumer=on_message,
            ),
            deadline=deadline,
            stop=stop,
        )
        if session is None:
            log.info("worker stopped before RabbitMQ was reachable")
            return
        stack.push_async_callback(session.connection.close)
        jobs.peers.session = session
        log.info("worker %s consuming %s with %d processes", owner, settings.amqp.jobs_queue, settings.worker.pool_size)
        await stop.wait()

        log.info("worker stopping: %d jobs in flight", len(in_flight))
        if session.consumer_tag is not None:
            await session.topology.jobs_queue.cancel(session.consumer_tag)
        if in_flight:
            _, pending = await asyncio.wait(set(in_flight), timeout=settings.worker.shutdown_grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        log.info("worker stopped")


class Handler(Protocol):
    """Runs one kind of job: snapshot jobs (`handler.py`) or probe jobs (`probe.py`)."""

    async def handle(self, job_id: str) -> Delivery: ...

    async def release(self, job_id: str) -> None: ...


async def _deliver(
    message: AbstractIncomingMessage, handlers: Mapping[Dispatch, Handler], executors: ExecutorSlot
) -> None:
    """Run one delivery with the handler of its kind and settle it with the broker by the job's outcome."""
    try:
        kind, job_id = dispatch_target(orjson.loads(message.body))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        log.error("malformed job message dropped to the dead-letter queue: %r", message.body[:200])
        await message.reject(requeue=False)
        return
    handler = handlers[kind]
    try:
        delivery = await handler.handle(job_id)
    except asyncio.CancelledError:
        # Shutdown ran out of grace: give the job back so another worker takes it now.
        await asyncio.shield(_release(handler, job_id))
        try:
            await asyncio.shield(message.nack(requeue=True))
        except Exception as exc:  # the broker requeues unacked messages when our channel closes anyway
            log.warning("could not nack job %s on shutdown: %r", job_id, exc)
        raise
    except Exception as exc:
        if isinstance(exc, BrokenProcessPool):
            executors.replace_if_broken()
        else:
            log.exception("job %s failed unexpectedly; it will be retried", job_id)
            await _release(handler, job_id)
        delivery = Delivery.RETRY
    if delivery is Delivery.ACK:
        await message.ack()
    elif delivery is Delivery.DEAD:
        await message.reject(requeue=False)
    else:
        # Exponential back-off with jitter before the redelivery, by the delivery count we know of.
        attempt = 1 + int(bool(message.redelivered))
        await asyncio.sleep(min(MAX_RETRY_DELAY_S, 0.5 * 2**attempt) * random.uniform(0.5, 1.0))
        await message.nack(requeue=True)


async def _release(handler: Handler, job_id: str) -> None:
    """Hand a job back for a retry. If even that fails (the database is down), the lease expires and
    the sweeper re-dispatches it: log, do not raise over the error being handled."""
    try:
        await handler.release(job_id)
    except Exception as exc:
        log.warning("could not hand back job %s; its lease will expire instead: %r", job_id, exc)
