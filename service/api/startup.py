"""The API's dependencies come up in the background: the API listens, and answers its probes, while
PostgreSQL and RabbitMQ are still away, instead of holding aiohttp's start-up until they are back.

- PostgreSQL: the pool exists from the start, empty. `open_database` tries once, briefly, before the
  API listens (a database that is up makes the API ready from its first request); failing that, a
  background task keeps filling it, retrying with back-off (service/retry.py). Until it has, the
  database gate (api/middleware.py) answers what needs the database with an ICE-style 503
  `ServiceUnavailable` at once.
- RabbitMQ: the outbox relay connects, and reconnects, by itself; `watch_broker` notes a refusal.
- `failed` is set, and `snapshotd api` exits with `error`, when a server refuses our credentials or
  database, or when SNAPSHOTD_STARTUP_TIMEOUT_S passes with either still unconnected
  (`enforce_deadline` names which).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import asyncpg

from service.config import Settings, mask_url
from service.errors import ServiceError, StartupTimeout
from service.queue.relay import OutboxRelay
from service.retry import Deadline, wait_until_connected
from service.store.pool import fill

log = logging.getLogger(__name__)

#: how long the API's start-up itself waits for PostgreSQL before it listens anyway and keeps trying
FIRST_ATTEMPT_S = 2.0


class Startup:
    """What the API has connected to so far, and why it gave up if it did."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.deadline = Deadline(settings.runtime.startup_timeout_s)
        #: the pool has had a working connection: requests that need PostgreSQL may run
        self.database_ready = False
        #: set when start-up gave up; `error` says why
        self.failed = asyncio.Event()
        self.error: ServiceError | None = None

    async def open_database(self, pool: asyncpg.Pool) -> asyncio.Task[None] | None:
        """Fill `pool` now if PostgreSQL answers at once; else return the task that keeps trying."""
        remaining = self.deadline.remaining()
        budget = FIRST_ATTEMPT_S if remaining is None else min(FIRST_ATTEMPT_S, remaining)
        try:
            async with asyncio.timeout(budget):
                await fill(pool, self.settings.database)
        except (ServiceError, TimeoutError) as exc:
            why = exc.message if isinstance(exc, ServiceError) else f"no answer within {budget:g} s"
            log.warning("PostgreSQL is not reachable yet; the API listens and keeps trying: %s", why)
            return asyncio.create_task(self.watch_database(pool))
        self.database_ready = True
        return None

    async def watch_database(self, pool: asyncpg.Pool) -> None:
        database = self.settings.database
        try:
            # No deadline here: `enforce_deadline` judges both dependencies at once.
            await wait_until_connected(
                f"PostgreSQL at {mask_url(database.url)}", partial(fill, pool, database), deadline=Deadline(0)
            )
        except ServiceError as exc:  # refused: retrying cannot help
            self._give_up(exc)
            return
        self.database_ready = True

    async def watch_broker(self, relay: OutboxRelay) -> None:
        """Give up if the broker refuses the relay's first connection (wrong credentials)."""
        try:
            await relay.wait_connected()
        except ServiceError as exc:
            self._give_up(exc)

    async def enforce_deadline(self, relay: OutboxRelay | None) -> None:
        """At SNAPSHOTD_STARTUP_TIMEOUT_S, give up unless both PostgreSQL and RabbitMQ (when this process
        has a relay) have been reached."""
        remaining = self.deadline.remaining()
        if remaining is None:
            return
        await asyncio.sleep(remaining)
        missing = []
        if not self.database_ready:
            missing.append(f"PostgreSQL at {mask_url(self.settings.database.url)}")
        if relay is not None and not relay.ever_connected:
            why = f" ({relay.last_error.message})" if relay.last_error else ""
            missing.append(f"RabbitMQ at {mask_url(self.settings.amqp.url)}{why}")
        if missing:
            self._give_up(
                StartupTimeout(
                    f"{' and '.join(missing)} still not reachable after {self.deadline.timeout_s:g} s "
                    "(SNAPSHOTD_STARTUP_TIMEOUT_S)"
                )
            )

    def _give_up(self, error: ServiceError) -> None:
        log.error("API start-up gave up: %s", error.message)
        if self.error is None:
            self.error = error
        self.failed.set()
