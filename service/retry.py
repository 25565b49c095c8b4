"""Waiting out PostgreSQL or RabbitMQ: the one back-off rule of every command and background loop.

A dependency that is not there yet (a broker restarting, a database still starting under Kubernetes
or compose) is waited for, never a reason to exit: `wait_until_connected` repeats an attempt with
exponential back-off and jitter, one log line per failed attempt, until it succeeds, `stop` is set or
the start-up deadline (SNAPSHOTD_STARTUP_TIMEOUT_S; 0: none) passes.

What is worth retrying is decided where failures are translated, once: the adapters raise a
retryable `ServiceUnavailable` for any failure to connect and a non-retryable error for a refusal
that only an operator can fix (a wrong password), which propagates at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from service.errors import ServiceError, StartupTimeout

log = logging.getLogger(__name__)

T = TypeVar("T")

#: first pause after a failure; it doubles per failure up to MAX_DELAY_S (a restarting broker or
#: database is typically back within seconds; 15 s bounds the wait after it is)
FIRST_DELAY_S, MAX_DELAY_S = 0.5, 15.0
#: an attempt that neither succeeds nor fails within this (a peer that accepts and never answers) failed
ATTEMPT_TIMEOUT_S = 10.0


class Backoff:
    """Exponential back-off: each delay is the current ceiling jittered down by up to half (so replicas
    restarted together do not retry in lock-step), and the ceiling doubles up to `max_s`."""

    def __init__(self, first_s: float = FIRST_DELAY_S, max_s: float = MAX_DELAY_S) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self._ceiling = first_s

    def next_delay(self) -> float:
        delay = self._ceiling * random.uniform(0.5, 1.0)
        self._ceiling = min(self.max_s, self._ceiling * 2)
        return delay

    def reset(self) -> None:
        """After a success: the next failure starts from the first delay again."""
        self._ceiling = self.first_s


class Deadline:
    """When start-up gives up: `timeout_s` after creation, or never when it is 0."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._at = time.monotonic() + timeout_s if timeout_s > 0 else None

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None without a deadline."""
        return None if self._at is None else max(0.0, self._at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self._at is not None and time.monotonic() >= self._at


async def sleep_unless_stopped(seconds: float, stop: asyncio.Event | None) -> bool:
    """Sleep; return True at once if `stop` is set meanwhile."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True


class Stopped(Exception):
    """`stop` was set before the attempt had an outcome."""


async def one_attempt(attempt: Callable[[], Awaitable[T]], *, timeout_s: float | None, stop: asyncio.Event | None) -> T:
    """Run `attempt()` once: its result or its error; TimeoutError if it has neither within `timeout_s`
    (None: no limit; it is cancelled, so it can close what it opened); Stopped if `stop` is set first."""
    work = asyncio.ensure_future(attempt())
    stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
    try:
        done, _ = await asyncio.wait(
            {work} if stopper is None else {work, stopper}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        if stopper is not None:
            stopper.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
    if work in done:
        return work.result()
    if stopper is not None and stopper in done:
        raise Stopped
    raise TimeoutError


async def wait_until_connected(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    deadline: Deadline,
    stop: asyncio.Event | None = None,
) -> T | None:
    """`attempt()`'s result once it succeeds; None if `stop` was set first.

    Retries a retryable ServiceError (and an attempt that hangs past ATTEMPT_TIMEOUT_S); any other
    error propagates. Raises StartupTimeout when the deadline passes first.
    """
    backoff = Backoff()
    number = 0
    while True:
        number += 1
        if stop is not None and stop.is_set():
            return None
        remaining = deadline.remaining()
        budget = ATTEMPT_TIMEOUT_S if remaining is None else min(ATTEMPT_TIMEOUT_S, remaining)
        try:
            result = await one_attempt(attempt, timeout_s=budget, stop=stop)
        except Stopped:
            return None
        except TimeoutError:
            reason = f"{what} did not answer within {budget:.1f} s"
        except ServiceError as exc:
            if not exc.retryable:
                raise
            reason = exc.message
        else:
            if number > 1:
                log.info("%s reachable after %d attempts", what, number)
            return result
        if deadline.expired:
            raise StartupTimeout(
                f"{what} still not reachable after {deadline.timeout_s:g} s (SNAPSHOTD_STARTUP_TIMEOUT_S), "
                f"{number} attempts: {reason}"
            )
        delay = backoff.next_delay()
        left = deadline.remaining()
        if left is not None:
            delay = min(delay, left)
        log.warning("waiting for %s (attempt %d), retrying in %.1f s: %s", what, number, delay, reason)
        if await sleep_unless_stopped(delay, stop):
            return None
