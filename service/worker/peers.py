"""Whether other workers could take a big job's shards now: a job fans out only when they could.

A worker alone already runs a job's shards on every process it has (`worker/sharded.py`); sending them
through the queue back to itself would only add the scratch round trip. Nor does fanning out help when
the jobs queue has a backlog: the broker holds messages ready only once every consumer's prefetch is
full, so every worker is busy, and the shards would wait behind the backlog while this worker's own
processes could have run them. The broker knows both (the jobs queue's consumers, one per worker, and
its ready messages); they are asked for at most every `TTL_S` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from service.queue.connection import BrokerSession

log = logging.getLogger(__name__)

TTL_S = 2.0
#: the longest a job waits for the answer: a broker away (a reconnecting channel, a black-holed route)
#: must not hold the job, which runs on this worker's pool without it (the answer comes in later)
ASK_TIMEOUT_S = 1.0


class Peers:
    def __init__(self) -> None:
        #: set once the worker's broker session is open
        self.session: BrokerSession | None = None
        self._workers = 1
        self._backlog = 0
        self._asked_at = -TTL_S
        self._asking: asyncio.Task[None] | None = None

    async def free(self) -> bool:
        """Whether another worker consumes the jobs queue and none of its messages waits for one (the last
        known answer when the broker does not answer within ASK_TIMEOUT_S)."""
        if self.session is None:
            return False
        now = time.monotonic()
        if now - self._asked_at >= TTL_S and (self._asking is None or self._asking.done()):
            self._asked_at = now
            self._asking = asyncio.create_task(self._ask(self.session))
            # shielded: cancelling a channel's RPC makes the client close the channel, and with it the
            # deliveries of every job this worker runs; a late answer still updates the counts
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._asking), ASK_TIMEOUT_S)
        return self._workers > 1 and self._backlog == 0

    async def _ask(self, session: BrokerSession) -> None:
        try:
            declared = await session.topology.jobs_queue.declare()
        except Exception as exc:  # the broker is away: keep the last answer; the job runs either way
            log.warning("could not count the workers on the jobs queue: %r", exc)
        else:
            self._workers = max(int(declared.consumer_count or 0), 1)
            self._backlog = int(declared.message_count or 0)
