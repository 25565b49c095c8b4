"""The transactional outbox and the lease sweeper, in SQL.

Writers add a row in the same transaction as the state change it announces; the relay takes rows
with `FOR UPDATE SKIP LOCKED` (so any number of relays share the work without double-sending a row
inside one transaction), publishes them, and deletes them when the broker has confirmed. A relay that
dies mid-batch rolls back: the rows come back for the next relay. A message may therefore be
published twice, never zero times; job claims and event MessageIds make duplicates harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import asyncpg

from service.store.pool import database_errors
from service.store.sql import Connection

INSERT_MESSAGE = """
INSERT INTO outbox (kind, routing_key, body, priority, message_id, available_at)
VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
"""

#: a message not yet published is withdrawn (a delayed safety net whose work got done another way)
WITHDRAW_MESSAGE = "DELETE FROM outbox WHERE kind = $1 AND message_id = $2"

TAKE_BATCH = """
SELECT id, kind, routing_key, body, priority, message_id FROM outbox
WHERE available_at <= now()
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""

DELETE_MESSAGES = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"

POSTPONE_MESSAGES = """
UPDATE outbox SET attempts = attempts + 1, available_at = now() + make_interval(secs => $2)
WHERE id = ANY($1::bigint[])
"""

#: Processing jobs whose worker stopped renewing the lease go back to Init and are dispatched again.
REQUEUE_EXPIRED = """
WITH expired AS (
    UPDATE jobs SET status = 'Init', lease_owner = NULL, lease_expires_at = NULL, modified_time = now()
    WHERE job_id IN (
        SELECT job_id FROM jobs
        WHERE status = 'Processing' AND lease_expires_at < now()
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING job_id, priority
)
INSERT INTO outbox (kind, routing_key, body, priority, message_id)
SELECT 'dispatch', $2, jsonb_build_object('job_id', job_id), priority, job_id FROM expired
RETURNING message_id
"""

#: the same for probe jobs, with their own dispatch body
REQUEUE_EXPIRED_PROBES = """
WITH expired AS (
    UPDATE probe_jobs SET status = 'Init', lease_owner = NULL, lease_expires_at = NULL, modified_time = now()
    WHERE job_id IN (
        SELECT job_id FROM probe_jobs
        WHERE status = 'Processing' AND lease_expires_at < now()
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING job_id, priority
)
INSERT INTO outbox (kind, routing_key, body, priority, message_id)
SELECT 'dispatch', $2, jsonb_build_object('probe_job_id', job_id), priority, job_id FROM expired
RETURNING message_id
"""

#: the same for the shards of jobs fanned out across workers (`store/shards.py`)
REQUEUE_EXPIRED_SHARDS = """
WITH expired AS (
    UPDATE job_shards SET status = 'Init', lease_owner = NULL, lease_expires_at = NULL, modified_time = now()
    WHERE (job_id, number) IN (
        SELECT job_id, number FROM job_shards
        WHERE status = 'Processing' AND lease_expires_at < now()
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING job_id, number
)
INSERT INTO outbox (kind, routing_key, body, priority, message_id)
SELECT 'dispatch', $2, jsonb_build_object('job_shard', e.job_id || '/' || e.number), j.priority,
       e.job_id || '/' || e.number
FROM expired e JOIN jobs j USING (job_id)
RETURNING message_id
"""

BACKLOG = "SELECT count(*) FROM outbox"


class MessageKind(StrEnum):
    DISPATCH = "dispatch"
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    kind: MessageKind
    routing_key: str
    body: dict[str, Any]
    priority: int
    message_id: str


@database_errors
async def add_message(
    connection: Connection,
    kind: MessageKind,
    routing_key: str,
    body: dict[str, Any],
    *,
    message_id: str,
    priority: int = 0,
    delay_s: float = 0.0,
) -> None:
    """Queue a message for publishing (`delay_s` from now); call inside the transaction of the change it
    announces."""
    await connection.execute(INSERT_MESSAGE, kind.value, routing_key, body, priority, message_id, delay_s)


@database_errors
async def take_batch(connection: Connection, limit: int) -> list[OutboxMessage]:
    """Lock up to `limit` due rows; call inside a transaction and delete or postpone them before commit."""
    rows = await connection.fetch(TAKE_BATCH, limit)
    return [
        OutboxMessage(r["id"], MessageKind(r["kind"]), r["routing_key"], r["body"], r["priority"], r["message_id"])
        for r in rows
    ]


@database_errors
async def delete_messages(connection: Connection, ids: list[int]) -> None:
    await connection.execute(DELETE_MESSAGES, ids)


@database_errors
async def postpone_messages(connection: Connection, ids: list[int], delay_s: float) -> None:
    await connection.execute(POSTPONE_MESSAGES, ids, delay_s)


async def requeue_expired_leases(connection: Connection, dispatch_key: str, limit: int = 100) -> list[str]:
    """Send jobs (snapshot and probe) and job shards abandoned by a dead worker back to Init with a fresh
    dispatch; return their ids."""
    async with connection.transaction():
        rows = await connection.fetch(REQUEUE_EXPIRED, limit, dispatch_key)
        rows += await connection.fetch(REQUEUE_EXPIRED_PROBES, limit, dispatch_key)
        rows += await connection.fetch(REQUEUE_EXPIRED_SHARDS, limit, dispatch_key)
    return [row["message_id"] for row in rows]


@database_errors
async def backlog(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(BACKLOG))
