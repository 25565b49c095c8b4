"""The start-up retry rule: back-off with jitter, a log line per attempt, the deadline, `stop`, and
no retry of what cannot succeed."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from service.errors import DatabaseUnavailable, DependencyMisconfigured, QueueUnavailable, StartupTimeout
from service.retry import Backoff, Deadline, wait_until_connected


def test_backoff_doubles_up_to_its_ceiling_with_jitter_and_resets() -> None:
    backoff = Backoff(first_s=0.5, max_s=4.0)
    delays = [backoff.next_delay() for _ in range(6)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]

    assert all(ceiling / 2 <= delay <= ceiling for delay, ceiling in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_a_zero_timeout_never_expires() -> None:
    assert Deadline(0).remaining() is None
    assert not Deadline(0).expired
    soon = Deadline(0.01)
    time.sleep(0.02)
    assert soon.expired and soon.remaining() == 0


class FailingTimes:
    """An attempt that fails `failures` times with `error`, then answers 'connected'."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "connected"


async def test_retries_until_connected_with_a_log_line_per_attempt(caplog: pytest.LogCaptureFixture) -> None:
    attempt = FailingTimes(2, QueueUnavailable("RabbitMQ at amqp://x is not reachable: StopAsyncIteration()"))
    with caplog.at_level(logging.WARNING, logger="service.retry"):
        result = await wait_until_connected("RabbitMQ", attempt, deadline=Deadline(0))

    assert (result, attempt.calls) == ("connected", 3)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "attempt 1" in lines[0] and "attempt 2" in lines[1]
    assert all("StopAsyncIteration" in line for line in lines)


@pytest.mark.parametrize(
    "error", [DependencyMisconfigured("wrong password"), ValueError("a bug")], ids=["refused", "other"]
)
async def test_what_cannot_succeed_is_not_retried(error: Exception) -> None:
    attempt = FailingTimes(5, error)
    with pytest.raises(type(error)):
        await wait_until_connected("PostgreSQL", attempt, deadline=Deadline(0))
    assert attempt.calls == 1


async def test_gives_up_at_the_deadline_naming_the_setting() -> None:
    attempt = FailingTimes(1000, DatabaseUnavailable("PostgreSQL at x is not reachable: refused"))
    started = time.monotonic()
    with pytest.raises(StartupTimeout, match="SNAPSHOTD_STARTUP_TIMEOUT_S") as caught:
        await wait_until_connected("PostgreSQL", attempt, deadline=Deadline(1.0))

    assert 1.0 <= time.monotonic() - started < 1.5
    assert "not reachable: refused" in caught.value.message
    assert attempt.calls >= 3


async def test_an_attempt_that_hangs_is_cut_at_the_deadline() -> None:
    async def never_answers() -> None:
        await asyncio.Event().wait()

    started = time.monotonic()
    with pytest.raises(StartupTimeout, match="did not answer"):
        await wait_until_connected("RabbitMQ", never_answers, deadline=Deadline(0.5))
    assert time.monotonic() - started < 1.0


async def test_stop_ends_the_wait_at_once() -> None:
    stop = asyncio.Event()
    attempt = FailingTimes(1000, QueueUnavailable("away"))
    asyncio.get_running_loop().call_later(0.3, stop.set)
    started = time.monotonic()

    assert await wait_until_connected("RabbitMQ", attempt, deadline=Deadline(0), stop=stop) is None
    assert time.monotonic() - started < 0.6


async def test_stop_also_ends_an_attempt_that_hangs_and_cancels_it() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def never_answers() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()  # an attempt gets to close what it opened

    asyncio.get_running_loop().call_later(0.2, stop.set)
    started = time.monotonic()

    assert await wait_until_connected("RabbitMQ", never_answers, deadline=Deadline(0), stop=stop) is None
    assert time.monotonic() - started < 0.5
    assert cancelled.is_set()
