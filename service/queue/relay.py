"""The outbox relay: publishes what PostgreSQL says must be published, until the broker confirms.

It owns its broker connection and keeps trying to (re)connect, so the API accepts jobs while RabbitMQ
is down and they are dispatched when it is back. It also runs the lease sweeper: jobs whose worker
died are put back to Init with a fresh dispatch. Any number of relays (API replicas, workers) can run
at once: rows are shared out with `FOR UPDATE SKIP LOCKED`.

A pass takes a batch in a transaction, publishes all of it, waits for the broker's confirms of the
whole batch together (service/queue/publisher.py), deletes the confirmed rows and postpones the others,
then commits: a row leaves the outbox only after its confirm, and a relay that dies mid-batch rolls
back, so nothing is lost (a message may go out twice; claims and MessageIds make that harmless).
Up to `lanes` such passes run at once, each on its own connection, so the broker's confirm latency of
one batch overlaps the next one's work; the lanes beyond the first join only while batches come back
full, so below saturation a pass costs what it did with one lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from functools import partial

import asyncpg
import orjson
from aio_pika.abc import AbstractChannel

from service.config import AmqpSettings, mask_url
from service.domain.routing import JOB_ROUTING_KEY
from service.errors import DatabaseUnavailable, QueueUnavailable, ServiceError
from service.queue.connection import open_session
from service.queue.publisher import Outgoing, publish_batch
from service.queue.topology import Topology
from service.retry import ATTEMPT_TIMEOUT_S, Backoff, Stopped, one_attempt
from service.signals import first_of
from service.store.outbox import (
    MessageKind,
    OutboxMessage,
    delete_messages,
    postpone_messages,
    requeue_expired_leases,
    take_batch,
)
from service.store.pool import translated
from service.store.sql import Connection

log = logging.getLogger(__name__)

#: rows published per transaction
BATCH_SIZE = 200
#: batches the API's relay keeps in flight: while one waits for its confirms the next is taken and
#: published (measured alone on 2 busy cores: 1,264–1,539/s with one lane, 1,624/s with two, no better
#: with three or four: the broker's CPU is then the limit)
RELAY_LANES = 2
#: how often the relay looks for rows written by other processes when nobody pokes it
IDLE_POLL_S = 1.0


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: AmqpSettings,
        *,
        name: str,
        sweep_every_s: float,
        lanes: int = 1,
        linger_s: float = 0.0,
    ) -> None:
        self.pool = pool
        #: after a poke, how long to let more rows arrive before taking a batch (a relay of its own,
        #: woken per NOTIFY, would otherwise publish batches of one or two at a round trip each)
        self.linger_s = linger_s
        #: batches in flight at once, each in its own transaction on its own connection
        self.lanes = lanes
        self.settings = settings
        self.name = name
        self.sweep_every_s = sweep_every_s
        self.topology: Topology | None = None
        self.channel: AbstractChannel | None = None
        self._wake = asyncio.Event()
        #: set while batches come back full (a backlog): the lanes other than the first run only then
        self._backlog = asyncio.Event()
        self._connected = False
        self._ever_connected = asyncio.Event()
        self._refused = asyncio.Event()
        #: why the last connection attempt failed, for start-up's error message
        self.last_error: ServiceError | None = None
        self._backoff = Backoff()

    @property
    def connected(self) -> bool:
        return self._connected

    def poke(self) -> None:
        """Something was written to the outbox: publish it now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Connect (retrying with back-off), then relay until `stop` is set."""
        while not stop.is_set():
            try:
                session = await one_attempt(
                    partial(open_session, self.settings, self.name), timeout_s=ATTEMPT_TIMEOUT_S, stop=stop
                )
            except Stopped:
                return
            except (ServiceError, TimeoutError) as exc:
                # Unreachable or refusing: either way the relay keeps trying, and says why each time
                # (a refusal may be fixed on the broker's side); start-up learns of a refusal first.
                if isinstance(exc, TimeoutError):
                    exc = QueueUnavailable(
                        f"RabbitMQ at {mask_url(self.settings.url)} did not answer within {ATTEMPT_TIMEOUT_S:g} s"
                    )
                self.last_error = exc
                if not exc.retryable:
                    self._refused.set()
                delay = self._backoff.next_delay()
                log.warning("relay cannot reach RabbitMQ, retrying in %.1f s: %s", delay, exc.message)
                await self._sleep(stop, delay, wake_on_poke=False)
                continue
            try:
                self.topology = session.topology
                self.channel = session.channel
                self._connected = True
                self._ever_connected.set()
                await self._relay(stop)
            except Exception:
                # A relay that dies silently strands every job submitted after it: log loudly, reconnect.
                delay = self._backoff.next_delay()
                log.exception("relay failed; reconnecting in %.1f s", delay)
                await self._sleep(stop, delay, wake_on_poke=False)
            finally:
                self._connected = False
                with contextlib.suppress(Exception):
                    await session.connection.close()

    @property
    def ever_connected(self) -> bool:
        return self._ever_connected.is_set()

    async def wait_connected(self) -> None:
        """Return once the relay has had a broker connection (start-up readiness); raise the broker's
        refusal (wrong credentials) if that came first."""
        await first_of(self._ever_connected, self._refused)
        if not self._ever_connected.is_set() and self.last_error is not None:
            raise self.last_error

    async def _relay(self, stop: asyncio.Event) -> None:
        """Run the lanes until `stop`; one that fails ends them all (and `run` reconnects)."""
        lanes = [
            asyncio.create_task(self._lane(stop, sweeps=n == 0), name=f"outbox relay lane {n}")
            for n in range(self.lanes)
        ]
        try:
            await asyncio.gather(*lanes)
        finally:
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)

    async def _lane(self, stop: asyncio.Event, *, sweeps: bool) -> None:
        """Take a batch, publish it, wait for its confirms, delete it; again at once while batches come
        back full, else at the next poke or poll (lane 0) or the next backlog (the others). Lane 0 also
        runs the lease sweeper."""
        next_sweep = 0.0
        while not stop.is_set():
            sweep = sweeps and time.monotonic() >= next_sweep
            try:
                # Waiting for a database connection is the one step `stop` cuts short (nothing is
                # taken yet): a shutdown does not wait on a database that does not answer.
                with translated():
                    connection = await one_attempt(self.pool.acquire, timeout_s=None, stop=stop)
                try:
                    sent = await self.flush(connection)
                    requeued = await requeue_expired_leases(connection, JOB_ROUTING_KEY) if sweep else []
                finally:
                    await self.pool.release(connection)
            except Stopped:
                return
            except DatabaseUnavailable as exc:
                # PostgreSQL restarting is an outage to wait out, not a reason for the relay to die:
                # nothing is lost, the rows stay in the outbox until the next pass reaches them.
                delay = self._backoff.next_delay()
                log.warning("relay cannot reach PostgreSQL, retrying in %.1f s: %r", delay, exc)
                await self._sleep(stop, delay, wake_on_poke=False)
                continue
            if sweep:
                next_sweep = time.monotonic() + self.sweep_every_s
            if requeued:
                log.warning("re-dispatching %d jobs whose worker stopped renewing the lease", len(requeued))
                continue
            if sent >= BATCH_SIZE:
                self._backlog.set()
                continue
            # The outbox is drained: the first lane waits for a poke or the poll, the others until a
            # backlog again (below saturation, one lane's batches cost fewer round trips than two).
            self._backlog.clear()
            if sweeps:
                if await self._sleep(stop, IDLE_POLL_S) and self.linger_s:
                    await self._sleep(stop, self.linger_s, wake_on_poke=False)
            else:
                await self._wait_for_backlog(stop)

    async def flush(self, connection: Connection) -> int:
        """Publish one batch of due rows; return how many were taken."""
        async with connection.transaction():
            batch = await take_batch(connection, BATCH_SIZE)
            if not batch:
                return 0
            results = await self._publish(batch)
            sent = [m.id for m, error in zip(batch, results, strict=True) if error is None]
            failed = [m.id for m, error in zip(batch, results, strict=True) if error is not None]
            if sent:
                await delete_messages(connection, sent)
            if failed:
                first_error = next(error for error in results if error is not None)
                delay = self._backoff.next_delay()
                log.warning("%d outbox messages not confirmed, retry in %.1f s: %r", len(failed), delay, first_error)
                await postpone_messages(connection, failed, delay)
            else:
                self._backoff.reset()
        return len(batch)

    async def _publish(self, batch: list[OutboxMessage]) -> list[QueueUnavailable | None]:
        """Publish the batch, every confirm awaited together; None for each message confirmed."""
        if self.topology is None or self.channel is None:
            return [QueueUnavailable("The relay has no broker connection.") for _ in batch]
        jobs, events = self.topology.jobs_exchange.name, self.topology.events_exchange.name
        outgoing = [
            Outgoing(
                jobs if m.kind is MessageKind.DISPATCH else events,
                m.routing_key,
                orjson.dumps(m.body),
                m.message_id,
                m.priority,
                # A dispatch nobody can route is lost work; an event nobody subscribed to is normal.
                mandatory=m.kind is MessageKind.DISPATCH,
            )
            for m in batch
        ]
        return await publish_batch(self.channel, outgoing, timeout_s=self.settings.confirm_timeout_s)

    async def _wait_for_backlog(self, stop: asyncio.Event) -> None:
        await first_of(stop, self._backlog)

    async def _sleep(self, stop: asyncio.Event, seconds: float, *, wake_on_poke: bool = True) -> bool:
        """Wait for a poke, `stop`, or the timeout, whichever comes first; True if it was a poke."""
        if not wake_on_poke:
            await first_of(stop, timeout_s=seconds)
            return False
        try:
            await first_of(stop, self._wake, timeout_s=seconds)
            return self._wake.is_set()
        finally:
            self._wake.clear()
