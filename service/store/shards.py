"""The shards of jobs fanned out across workers, in PostgreSQL: the same lease discipline as jobs.

    job:   Processing (its planner's lease) ──fan_out──▶ Processing, no lease, shards_total = n
    shard: Init ──claim──▶ Processing ──finish──▶ Success        (claim again once its lease expired)
                              └────────fail────▶ Fail: the job fails, every other shard with it
    job:   the last shard's finish counts shards_done = shards_total and gives that worker the job's
           lease in the same transaction; it assembles and finishes the job (`store/jobs.py` FINISH_JOB).

Every transition is one guarded UPDATE, so a duplicate delivery or a worker that comes back after its
lease expired is refused rather than written. The count of finished shards lives on the job's row,
whose lock orders concurrent finishes: exactly one of them sees the last shard done. A worker that dies
while assembling lets the job's lease expire; the sweeper sends the job back to Init with a dispatch, and
the worker that claims it finds every shard done and assembles (`worker/handler.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import asyncpg

from service.domain.routing import JOB_ROUTING_KEY, Dispatch, parse_shard_id, scratch_message_id, shard_id
from service.store.jobs import Event, JobOutcome, JobRecord, finish_job
from service.store.outbox import WITHDRAW_MESSAGE, MessageKind
from service.store.pool import store_methods

#: the planner hands the job to its shards: no lease (nothing to renew while they run), the plan kept
FAN_OUT_JOB = """
UPDATE jobs SET fanout = $3, shards_total = $4, shards_done = 0, lease_owner = NULL, lease_expires_at = NULL,
    modified_time = now()
WHERE job_id = $1 AND status = 'Processing' AND lease_owner = $2 AND fanout IS NULL
RETURNING priority
"""

INSERT_SHARDS = """
INSERT INTO job_shards (job_id, number, start_index, stop_index)
SELECT $1, t.n - 1, t.start_index, t.stop_index
FROM unnest($2::integer[], $3::integer[]) WITH ORDINALITY AS t(start_index, stop_index, n)
"""

DISPATCH_SHARDS = f"""
INSERT INTO outbox (kind, routing_key, body, priority, message_id)
SELECT 'dispatch', $2, jsonb_build_object('{Dispatch.SHARD.value}', $1 || '/' || n), $3, $1 || '/' || n
FROM generate_series(0, $4 - 1) AS n
"""

CLAIM_SHARD = """
UPDATE job_shards s
SET status = 'Processing', attempts = s.attempts + 1, lease_owner = $3,
    lease_expires_at = now() + make_interval(secs => $4), modified_time = now()
FROM jobs j
WHERE s.job_id = $1 AND s.number = $2 AND j.job_id = s.job_id AND j.status = 'Processing'
  AND (s.status = 'Init' OR (s.status = 'Processing' AND s.lease_expires_at < now()))
RETURNING s.*
"""

RENEW_SHARD_LEASE = """
UPDATE job_shards SET lease_expires_at = now() + make_interval(secs => $4)
WHERE job_id = $1 AND number = $2 AND status = 'Processing' AND lease_owner = $3
"""

RELEASE_SHARD = """
UPDATE job_shards SET status = 'Init', lease_owner = NULL, lease_expires_at = NULL, modified_time = now()
WHERE job_id = $1 AND number = $2 AND status = 'Processing' AND lease_owner = $3
"""

#: hand an assembly back: the job to Init with a fresh dispatch (`delay_s` from now), since the delivery
#: that assembled it was a shard's; the worker that claims it assembles again
RELEASE_AND_DISPATCH_JOB = f"""
WITH released AS (
    UPDATE jobs SET status = 'Init', lease_owner = NULL, lease_expires_at = NULL, modified_time = now()
    WHERE job_id = $1 AND status = 'Processing' AND lease_owner = $2
    RETURNING job_id, priority
)
INSERT INTO outbox (kind, routing_key, body, priority, message_id, available_at)
SELECT 'dispatch', $3, jsonb_build_object('{Dispatch.SNAPSHOT.value}', job_id), priority, job_id,
       now() + make_interval(secs => $4)
FROM released
"""

FINISH_SHARD = """
UPDATE job_shards SET status = 'Success', result = $4, lease_owner = NULL, lease_expires_at = NULL,
    modified_time = now()
WHERE job_id = $1 AND number = $2 AND status = 'Processing' AND lease_owner = $3
RETURNING number
"""

#: one more shard done; the last one's worker takes the job's lease to assemble it
COUNT_SHARD_DONE = """
UPDATE jobs SET shards_done = shards_done + 1, modified_time = now(),
    lease_owner = CASE WHEN shards_done + 1 = shards_total THEN $2 END,
    lease_expires_at = CASE WHEN shards_done + 1 = shards_total THEN now() + make_interval(secs => $3) END
WHERE job_id = $1 AND status = 'Processing' AND lease_owner IS NULL AND fanout IS NOT NULL
RETURNING shards_done = shards_total AS last
"""

FAIL_SHARD = """
UPDATE job_shards SET status = 'Fail', lease_owner = NULL, lease_expires_at = NULL, modified_time = now()
WHERE job_id = $1 AND number = $2 AND status = 'Processing' AND lease_owner = $3
RETURNING number
"""

#: the job failed: its shards not yet done will not run (a running one's finish is refused)
CANCEL_SHARDS = """
UPDATE job_shards SET status = 'Fail', lease_owner = NULL, lease_expires_at = NULL, modified_time = now()
WHERE job_id = $1 AND status IN ('Init', 'Processing')
"""

SHARD_RESULTS = "SELECT result FROM job_shards WHERE job_id = $1 AND result IS NOT NULL ORDER BY number"

UNFINISHED_SHARDS = "SELECT count(*) FROM job_shards WHERE job_id = $1 AND status <> 'Success'"

#: a fanned-out job claimed again before its shards were all done goes back to them (no lease)
RETURN_TO_SHARDS = """
UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL, modified_time = now()
WHERE job_id = $1 AND status = 'Processing' AND lease_owner = $2 AND fanout IS NOT NULL
"""


@dataclass(frozen=True, slots=True)
class ShardRecord:
    job_id: str
    number: int
    start_index: int
    stop_index: int
    attempts: int
    modified_time: datetime

    @property
    def shard_id(self) -> str:
        return shard_id(self.job_id, self.number)


class ShardFinish(Enum):
    """What a shard's finish did."""

    #: the shard was not this worker's any more (its lease expired and another took it): nothing written
    REFUSED = "refused"
    #: recorded; other shards are still running
    RECORDED = "recorded"
    #: recorded, and it was the last: this worker now holds the job's lease and assembles it
    LAST = "last"
    #: recorded, but the job ended meanwhile (another shard failed it)
    JOB_ENDED = "job_ended"


@store_methods
class ShardStore:
    """All SQL touching the job_shards table, and the job row transitions a fan-out makes."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def fan_out(self, job_id: str, owner: str, plan: dict[str, Any], bounds: Sequence[tuple[int, int]]) -> bool:
        """Hand the job `owner` holds to its shards, each with its dispatch, in one transaction; False (nothing
        written) when `owner` no longer holds it."""
        async with self.pool.acquire() as connection, connection.transaction():
            priority = await connection.fetchval(FAN_OUT_JOB, job_id, owner, plan, len(bounds))
            if priority is None:
                return False
            await connection.execute(INSERT_SHARDS, job_id, [b[0] for b in bounds], [b[1] for b in bounds])
            await connection.execute(DISPATCH_SHARDS, job_id, JOB_ROUTING_KEY, priority, len(bounds))
        return True

    async def claim(self, shard_id: str, owner: str, lease_s: float) -> ShardRecord | None:
        """Take the shard; None when it is done, another worker's lease is live, or its job has ended."""
        job_id, number = parse_shard_id(shard_id)
        row = await self.pool.fetchrow(CLAIM_SHARD, job_id, number, owner, lease_s)
        if row is None:
            return None
        return ShardRecord(
            row["job_id"], row["number"], row["start_index"], row["stop_index"], row["attempts"], row["modified_time"]
        )

    async def renew_lease(self, shard_id: str, owner: str, lease_s: float) -> bool:
        job_id, number = parse_shard_id(shard_id)
        result = await self.pool.execute(RENEW_SHARD_LEASE, job_id, number, owner, lease_s)
        return result.endswith(" 1")

    async def release(self, shard_id: str, owner: str) -> None:
        """Hand the shard back (Processing → Init); its message is requeued by the caller."""
        job_id, number = parse_shard_id(shard_id)
        await self.pool.execute(RELEASE_SHARD, job_id, number, owner)

    async def finish(self, shard_id: str, owner: str, result: dict[str, Any], lease_s: float) -> ShardFinish:
        """Record the shard's result and count it on its job, in one transaction."""
        job_id, number = parse_shard_id(shard_id)
        async with self.pool.acquire() as connection, connection.transaction():
            if await connection.fetchval(FINISH_SHARD, job_id, number, owner, result) is None:
                return ShardFinish.REFUSED
            last = await connection.fetchval(COUNT_SHARD_DONE, job_id, owner, lease_s)
        if last is None:
            return ShardFinish.JOB_ENDED
        return ShardFinish.LAST if last else ShardFinish.RECORDED

    async def fail(
        self, shard_id: str, owner: str, outcome: JobOutcome, event: Callable[[JobRecord], Event]
    ) -> JobRecord | None:
        """The shard failed for good: it, its job (with the job's event) and the job's other shards end, in
        one transaction. None when the shard was not `owner`'s any more or the job had ended."""
        job_id, number = parse_shard_id(shard_id)
        async with self.pool.acquire() as connection, connection.transaction():
            if await connection.fetchval(FAIL_SHARD, job_id, number, owner) is None:
                return None
            await connection.execute(CANCEL_SHARDS, job_id)
            return await finish_job(connection, job_id, None, outcome, event)

    async def results(self, job_id: str) -> list[dict[str, Any]]:
        """The results of the job's finished shards, in shard order."""
        return [row["result"] for row in await self.pool.fetch(SHARD_RESULTS, job_id)]

    async def unfinished(self, job_id: str) -> int:
        return int(await self.pool.fetchval(UNFINISHED_SHARDS, job_id))

    async def hand_back_assembly(self, job_id: str, owner: str, delay_s: float) -> None:
        """The job's assembly failed and may be retried: back to Init, dispatched again `delay_s` from now."""
        await self.pool.execute(RELEASE_AND_DISPATCH_JOB, job_id, owner, JOB_ROUTING_KEY, delay_s)

    async def withdraw_scratch_cleanup(self, job_id: str) -> None:
        """The job's scratch objects are gone: its delayed clean-up (`finish_job`) has nothing left to do."""
        await self.pool.execute(WITHDRAW_MESSAGE, MessageKind.DISPATCH.value, scratch_message_id(job_id))

    async def return_to_shards(self, job_id: str, owner: str) -> None:
        """Give up the lease of a fanned-out job whose shards are not all done: they finish it."""
        await self.pool.execute(RETURN_TO_SHARDS, job_id, owner)
