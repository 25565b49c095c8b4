"""HTTP callback deliveries in PostgreSQL: created with the job's final state, claimed by senders,
every attempt recorded.

A sender claims due deliveries by pushing their due time forward (a short hold) rather than by
holding row locks over network calls, so a sender that dies mid-attempt only delays the next try.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from service.domain.notify import callback_targets
from service.store.pool import database_errors
from service.store.sql import Connection

SELECT_CALLBACK_CONFIG = """
SELECT callback_type, callback_url, event_type_list, auth_switch, auth_key FROM event_callback
"""

INSERT_DELIVERY = """
INSERT INTO callback_deliveries (delivery_id, job_id, message_id, url, body, auth_key)
VALUES ($1, $2, $3, $4, $5, $6)
"""

CLAIM_DUE = """
UPDATE callback_deliveries SET next_attempt_at = now() + make_interval(secs => $2)
WHERE delivery_id IN (
    SELECT delivery_id FROM callback_deliveries
    WHERE status = 'Pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING delivery_id, job_id, message_id, url, body, auth_key, attempts
"""

INSERT_ATTEMPT = """
INSERT INTO callback_attempts (delivery_id, status_code, error, duration_ms) VALUES ($1, $2, $3, $4)
"""

FINISH_ATTEMPT = """
UPDATE callback_deliveries
SET attempts = attempts + 1, last_error = $2, status = $3,
    next_attempt_at = now() + make_interval(secs => $4),
    delivered_at = CASE WHEN $3 = 'Delivered' THEN now() END
WHERE delivery_id = $1
"""

LIST_DELIVERIES = """
SELECT d.*, (SELECT count(*) FROM callback_attempts a WHERE a.delivery_id = d.delivery_id) AS recorded_attempts
FROM callback_deliveries d
WHERE ($1::text IS NULL OR job_id = $1) AND ($2::text IS NULL OR status = $2)
ORDER BY created_at, delivery_id
LIMIT 100
"""

REPLAY = """
UPDATE callback_deliveries SET status = 'Pending', next_attempt_at = now(), attempts = 0, last_error = ''
WHERE delivery_id = $1 AND status <> 'Pending'
RETURNING delivery_id
"""


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: str
    job_id: str
    message_id: str
    url: str
    body: dict[str, Any]
    auth_key: str
    attempts: int


@database_errors
async def add_deliveries(
    connection: Connection,
    job_id: str,
    user_data: str | None,
    body: dict[str, Any],
    message_id: str,
) -> int:
    """Create the deliveries a finished job owes (`domain/notify.py` says which); call in the transaction
    that finishes it. `body` is the event's envelope: its EventType decides the subscription."""
    row = await connection.fetchrow(SELECT_CALLBACK_CONFIG)
    config = (
        (row["callback_type"], row["callback_url"], row["event_type_list"], row["auth_switch"], row["auth_key"])
        if row is not None
        else None
    )
    targets = callback_targets(config, user_data, str(body.get("EventType", "")))
    for url, key in targets:
        await connection.execute(INSERT_DELIVERY, uuid.uuid4().hex, job_id, message_id, url, body, key)
    return len(targets)


@database_errors
async def claim_due(pool: asyncpg.Pool, limit: int, hold_s: float) -> list[Delivery]:
    rows = await pool.fetch(CLAIM_DUE, limit, hold_s)
    return [
        Delivery(r["delivery_id"], r["job_id"], r["message_id"], r["url"], r["body"], r["auth_key"], r["attempts"])
        for r in rows
    ]


@database_errors
async def record_attempt(
    pool: asyncpg.Pool,
    delivery_id: str,
    *,
    status_code: int | None,
    error: str,
    duration_ms: int,
    outcome: str,
    retry_in_s: float = 0.0,
) -> None:
    """Log one attempt and move the delivery on: Delivered, Pending (retry later) or Failed."""
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(INSERT_ATTEMPT, delivery_id, status_code, error[:500], duration_ms)
        await connection.execute(FINISH_ATTEMPT, delivery_id, error[:500], outcome, retry_in_s)


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A delivery as ListCallbackDeliveries shows it."""

    delivery_id: str
    job_id: str
    message_id: str
    url: str
    status: str
    #: attempts recorded (a replay starts the delivery's own count afresh, not this one)
    attempts: int
    last_error: str


@database_errors
async def list_deliveries(pool: asyncpg.Pool, job_id: str | None, status: str | None) -> list[DeliveryRecord]:
    rows = await pool.fetch(LIST_DELIVERIES, job_id, status)
    return [
        DeliveryRecord(
            r["delivery_id"],
            r["job_id"],
            r["message_id"],
            r["url"],
            r["status"],
            r["recorded_attempts"],
            r["last_error"],
        )
        for r in rows
    ]


@database_errors
async def replay(pool: asyncpg.Pool, delivery_id: str) -> bool:
    """Make a finished (Failed or Delivered) delivery due again, with a fresh set of attempts."""
    return await pool.fetchval(REPLAY, delivery_id) is not None
