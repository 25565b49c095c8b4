"""Waking a relay in another process: the API's NOTIFY, the relay's LISTEN (PostgreSQL's own channel).

With SNAPSHOTD_API_RELAY=none the API runs no relay of its own: its event loop serves requests only,
and `snapshotd relay` processes publish the outbox (`queue/relay_process.py`). A poke is then one
`NOTIFY` after the rows committed (so the relay that wakes finds them), coalesced: while one is in
flight the next pokes make one more, never one each. A lost notification costs nothing but time: a
relay polls the outbox every second anyway, and wakes once whenever it starts listening again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from service import metrics
from service.config import DatabaseSettings, mask_url
from service.retry import Backoff
from service.signals import first_of
from service.store.pool import CONNECT_TIMEOUT_S

log = logging.getLogger(__name__)

#: the channel every relay listens on and the API notifies
CHANNEL = "snapshotd_outbox"
NOTIFY = "SELECT pg_notify($1, '')"
#: how often a listening connection is checked for a loss its termination callback did not report
CHECK_EVERY_S = 5.0


class OutboxNotifier:
    """The API's poke when the relays run elsewhere: `poke` never waits and never fails."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._again = False
        self._sender: asyncio.Task[None] | None = None
        #: notifications sent (how well pokes coalesce)
        self.sent = 0

    def poke(self) -> None:
        """Rows were committed to the outbox: wake a relay."""
        self._again = True
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())

    async def _send(self) -> None:
        try:
            while self._again:
                self._again = False
                try:
                    await self.pool.execute(NOTIFY, CHANNEL)
                    self.sent += 1
                except Exception as exc:  # the database is away: the relays' own poll finds the rows later
                    # Counted, logged at DEBUG only: requests are getting 503s meanwhile, which say it louder.
                    metrics.OUTBOX_NOTIFY_FAILURES.inc()
                    log.debug("outbox notification not sent: %r", exc)
                    return
        finally:
            self._sender = None

    async def close(self) -> None:
        """Let a notification in flight go out (a shutdown's last submissions wake a relay too)."""
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)


async def listen(database: DatabaseSettings, wake: Callable[[], None], stop: asyncio.Event) -> None:
    """Call `wake` at every notification on CHANNEL until `stop`, on a connection of its own, reconnected
    with back-off whenever it is lost; `wake` once more after each (re)connection, for what was notified
    while nobody listened."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            connection = await asyncpg.connect(database.url, timeout=CONNECT_TIMEOUT_S)
        except Exception as exc:
            delay = backoff.next_delay()
            log.warning(
                "relay cannot listen on PostgreSQL at %s, retrying in %.1f s: %r", mask_url(database.url), delay, exc
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            continue
        try:
            await _listen_on(connection, wake, stop)
            backoff.reset()
        except Exception as exc:
            log.warning("relay's listening connection failed: %r", exc)
        finally:
            connection.terminate()
        if not stop.is_set():
            delay = backoff.next_delay()
            log.info("relay's listening connection was lost; listening again in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def _listen_on(connection: asyncpg.Connection, wake: Callable[[], None], stop: asyncio.Event) -> None:
    """Listen until `stop` or until the connection is lost."""
    lost = asyncio.Event()
    connection.add_termination_listener(lambda _: lost.set())
    await connection.add_listener(CHANNEL, lambda *_: wake())
    wake()
    while not (stop.is_set() or lost.is_set() or connection.is_closed()):
        await first_of(stop, lost, timeout_s=CHECK_EVERY_S)
