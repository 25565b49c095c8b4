"""SIGTERM/SIGINT set a stop event; the long-running commands drain when it is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterable

log = logging.getLogger(__name__)

#: how long a background loop that was told to stop gets to finish its pass (a pass stuck on a
#: database that does not answer is cancelled after it: what it had taken stays in the outbox)
BACKGROUND_GRACE_S = 5.0


async def first_of(*events: asyncio.Event, timeout_s: float | None = None) -> None:
    """Return once any of `events` is set (or after `timeout_s`); the waiters are cancelled either way,
    so a loop that calls this every pass leaves no task behind."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Only the main thread may own signal handlers; elsewhere (tests) the caller sets `stop`.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)


async def finish(tasks: Iterable[asyncio.Task[None]], grace_s: float = BACKGROUND_GRACE_S) -> None:
    """Wait up to `grace_s` for background tasks already told to stop; cancel the ones still running."""
    pending = set(tasks)
    if not pending:
        return
    _, late = await asyncio.wait(pending, timeout=grace_s)
    for task in late:
        log.warning("cancelling %s: still running %.0f s after stop", task.get_name(), grace_s)
        task.cancel()
    results = await asyncio.gather(*pending, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.error("background task failed: %r", result)
