"""One attempt at a claimed job, snapshot or probe: the lease kept alive, the time limit, and what
each failure means for the message (ack, hand back for a retry, dead-letter). The rules live here once,
so a snapshot job and a probe job can never disagree on when something is retried."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from service.errors import AttemptsExhausted, DatabaseUnavailable, JobTimeout, MediaContentBad, ServiceError
from service.worker.pool import ExecutorSlot

log = logging.getLogger(__name__)

Outcome = TypeVar("Outcome")


class Delivery(StrEnum):
    ACK = "ack"
    RETRY = "retry"
    DEAD = "dead"


class LeasedStore(Protocol):
    async def renew_lease(self, job_id: str, owner: str, lease_s: float) -> bool: ...

    async def release(self, job_id: str, owner: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Attempt(Generic[Outcome]):
    """Who runs the job and on what terms."""

    store: LeasedStore
    job_id: str
    owner: str
    #: this attempt's number (the claim counted it) and the most a job gets
    attempts: int
    max_attempts: int
    lease_s: float
    limit_s: float
    executors: ExecutorSlot
    #: "job" or "probe", for messages
    what: str
    #: the job's outcome for an error that ends it
    failed: Callable[[ServiceError], Outcome]

    async def run(self, work: Callable[[], Awaitable[Outcome]]) -> tuple[Outcome | None, Delivery]:
        """The outcome to record and the message's fate; no outcome when the job was handed back.

        A job claimed more often than it may be attempted is failed without running `work`.

        BrokenProcessPool (a decoder child died) is re-raised after the hand-back so that the caller
        replaces the pool; on the last attempt it is blamed on the input instead.
        """
        if self.attempts > self.max_attempts:
            # Its workers keep dying mid-job (killed, out of memory): stop feeding it to new ones.
            exhausted = f"The {self.what} was started {self.attempts - 1} times without finishing."
            return self.failed(AttemptsExhausted(exhausted)), Delivery.DEAD
        last_attempt = self.attempts >= self.max_attempts
        try:
            async with asyncio.timeout(self.limit_s):
                return await self._with_lease(work), Delivery.ACK
        except TimeoutError:
            self.executors.kill_and_replace()
            message = f"The {self.what} did not finish within its {self.limit_s:g} s time limit."
            return self.failed(JobTimeout(message)), Delivery.ACK
        except ServiceError as exc:
            if exc.retryable and not last_attempt:
                await self._hand_back(exc.message)
                return None, Delivery.RETRY
            return self.failed(exc), Delivery.DEAD if exc.retryable else Delivery.ACK
        except BrokenProcessPool:
            # e.g. a segfault on hostile input: another try in a fresh child before the input is blamed
            if not last_attempt:
                await self._hand_back("the capture process died")
                raise
            return self.failed(MediaContentBad("The decoder crashed while reading the input.")), Delivery.ACK

    async def _hand_back(self, why: str) -> None:
        await asyncio.shield(self.store.release(self.job_id, self.owner))
        log.info("%s handed back for a retry: %s", self.what, why, extra={"action": "job_retry", "job_id": self.job_id})

    async def _with_lease(self, work: Callable[[], Awaitable[Outcome]]) -> Outcome:
        renewer = asyncio.create_task(self._renew_lease())
        try:
            return await work()
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _renew_lease(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                renewed = await self.store.renew_lease(self.job_id, self.owner, self.lease_s)
            except DatabaseUnavailable as exc:
                # Keep working: two more tries remain before the lease runs out, and if the outage
                # outlasts it the guarded finish refuses this worker's result anyway.
                log.warning(
                    "could not renew the lease: %r", exc, extra={"action": "lease_renew", "job_id": self.job_id}
                )
                continue
            if not renewed:
                log.warning("lost the lease", extra={"action": "lease_lost", "job_id": self.job_id})
                return
