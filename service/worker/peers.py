"""How many workers consume the jobs queue: a big job fans out only when another worker can take shards.

A worker alone already runs a job's shards on every process it has (`worker/sharded.py`); sending them
through the queue back to itself would only add the scratch round trip. The broker knows the jobs
queue's consumers (one per worker); the count is asked for at most every `TTL_S` seconds, since workers
come and go far more slowly than jobs arrive.
"""

from __future__ import annotations

import logging
import time

from service.queue.connection import BrokerSession

log = logging.getLogger(__name__)

TTL_S = 10.0


class Peers:
    def __init__(self) -> None:
        #: set once the worker's broker session is open
        self.session: BrokerSession | None = None
        self._workers = 1
        self._asked_at = -TTL_S

    async def workers(self) -> int:
        """Workers consuming the jobs queue now, this one included (the last known count on a broker error)."""
        if self.session is None:
            return 1
        now = time.monotonic()
        if now - self._asked_at >= TTL_S:
            self._asked_at = now
            try:
                declared = await self.session.topology.jobs_queue.declare()
            except Exception as exc:  # the broker is away: keep the last count; the job runs either way
                log.warning("could not count the workers on the jobs queue: %r", exc)
            else:
                self._workers = max(int(declared.consumer_count or 0), 1)
        return self._workers
