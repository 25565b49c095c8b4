"""Probe jobs (ICE's MediaInfoJob) in PostgreSQL: the same state machine and guards as snapshot jobs.

    Init ──claim──▶ Processing ──finish──▶ Success | Fail
                      │  ▲
                      └──┘ claim again once the lease has expired (its worker died)

A probe job's dispatch is `{"probe_job_id": …}` on the jobs queue, written with the row. Probe jobs are
not held by a paused pipeline (they are short and snapshot jobs may wait on them); the pipeline gives
their priority. `finish` writes, in one transaction: the job's final state, its asset's status and
probe (when it has an asset), the dispatch of the snapshot jobs that waited for that asset, the
MediaInfoComplete event and its callback deliveries. The asset's row lock orders a finish against a
snapshot submission that reads the asset (`store/jobs.py` SUBMIT_JOBS): whichever commits second sees
the other, so a waiting job is dispatched exactly by one of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import asyncpg

from service.domain.media import REGISTER_TRIGGER, MediaStatus, Probe
from service.domain.models import JobStatus
from service.domain.routing import JOB_ROUTING_KEY, Dispatch
from service.errors import ResourceNotFound
from service.store.deliveries import add_deliveries
from service.store.jobs import JobFilter, JobPage, list_page
from service.store.outbox import MessageKind, add_message
from service.store.pool import store_methods
from service.store.sql import Connection

#: what a finished probe job announces: (routing key, body, message id)
Event = tuple[str, dict[str, Any], str]
#: the event name callbacks subscribe to (`EventTypeList`)
EVENT_NAME = "MediaInfoComplete"

SUBMIT_PROBE_JOB = f"""
WITH pipeline AS (
    SELECT pipeline_id, priority FROM pipelines
    WHERE deleted_at IS NULL AND CASE WHEN $5::text IS NULL THEN is_default ELSE pipeline_id = $5 END
    FOR KEY SHARE
), job AS (
    INSERT INTO probe_jobs (job_id, name, input, media_id, pipeline_id, priority, user_data, trigger_source)
    SELECT $1, $2, $3, $4, pipeline_id, coalesce($6, priority), $7, $8 FROM pipeline
    RETURNING job_id, priority
), dispatch AS (
    INSERT INTO outbox (kind, routing_key, body, priority, message_id)
    SELECT 'dispatch', $9, jsonb_build_object('{Dispatch.PROBE.value}', job.job_id), job.priority, job.job_id FROM job
)
SELECT job_id FROM job
"""

SELECT_PROBE_JOB = "SELECT * FROM probe_jobs WHERE job_id = $1"

CLAIM_PROBE_JOB = """
UPDATE probe_jobs
SET status = 'Processing', attempts = attempts + 1, lease_owner = $2,
    lease_expires_at = now() + make_interval(secs => $3), modified_time = now()
WHERE job_id = $1
  AND (status = 'Init' OR (status = 'Processing' AND lease_expires_at < now()))
RETURNING *
"""

RENEW_PROBE_LEASE = """
UPDATE probe_jobs SET lease_expires_at = now() + make_interval(secs => $3)
WHERE job_id = $1 AND status = 'Processing' AND lease_owner = $2
"""

RELEASE_PROBE_JOB = """
UPDATE probe_jobs SET status = 'Init', lease_owner = NULL, lease_expires_at = NULL, modified_time = now()
WHERE job_id = $1 AND status = 'Processing' AND lease_owner = $2
"""

FINISH_PROBE_JOB = """
UPDATE probe_jobs
SET status = $3, code = $4, message = $5, result = $6, finish_time = now(), modified_time = now(),
    lease_owner = NULL, lease_expires_at = NULL
WHERE job_id = $1 AND status = 'Processing' AND lease_owner = $2
RETURNING *
"""

#: the asset takes the probe's outcome; a failed re-probe keeps the last good figures but says PrepareFail
RECORD_ON_MEDIA = """
UPDATE media SET status = $2, code = $3, message = $4, probe = coalesce($5, probe), modified_time = now()
WHERE media_id = $1
"""

#: the snapshot jobs held for assets (Init: never run), dispatched when their asset stops probing or is
#: deleted; the worker's claim decides what each then does. Body and message id as JobStore.submit's.
DISPATCH_WAITING_JOBS = """
INSERT INTO outbox (kind, routing_key, body, priority, message_id)
SELECT 'dispatch', $2, jsonb_build_object('job_id', j.job_id), j.priority, j.job_id
FROM jobs j JOIN pipelines p USING (pipeline_id)
WHERE j.media_id = ANY($1::text[]) AND j.status = 'Init' AND p.status = 'Active'
"""


@dataclass(frozen=True, slots=True)
class ProbeJobRecord:
    job_id: str
    name: str | None
    status: JobStatus
    input: dict[str, Any]
    media_id: str | None
    pipeline_id: str
    priority: int
    user_data: str | None
    trigger_source: str
    code: str | None
    message: str | None
    result: Probe | None
    attempts: int
    create_time: datetime
    submit_time: datetime
    modified_time: datetime
    finish_time: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ProbeJobRecord:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["status"] = JobStatus(row["status"])
        values["result"] = Probe.from_json(row["result"]) if row["result"] else None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class NewProbeJob:
    job_id: str
    input: dict[str, Any]
    media_id: str | None
    name: str | None = None
    #: None: the default pipeline
    pipeline_id: str | None = None
    #: None: the pipeline's
    priority: int | None = None
    user_data: str | None = None
    trigger_source: str = "API"

    @classmethod
    def for_registration(cls, media_id: str) -> NewProbeJob:
        """The probe RegisterMediaInfo starts for the asset it creates."""
        return cls(uuid.uuid4().hex, {"Type": "Media", "Media": media_id}, media_id, trigger_source=REGISTER_TRIGGER)


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    status: JobStatus
    code: str | None = None
    message: str | None = None
    result: Probe | None = None


async def insert_probe_job(connection: Connection, job: NewProbeJob) -> None:
    """Insert the job and its dispatch; call inside the caller's transaction (or on its own)."""
    inserted = await connection.fetchval(
        SUBMIT_PROBE_JOB,
        job.job_id,
        job.name,
        job.input,
        job.media_id,
        job.pipeline_id,
        job.priority,
        job.user_data,
        job.trigger_source,
        JOB_ROUTING_KEY,
    )
    if inserted is None:
        raise ResourceNotFound.of("Pipeline", job.pipeline_id or "default")


@store_methods
class ProbeJobStore:
    """All SQL touching the probe_jobs table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def submit(self, job: NewProbeJob) -> None:
        async with self.pool.acquire() as connection:
            await insert_probe_job(connection, job)

    async def get(self, job_id: str) -> ProbeJobRecord | None:
        row = await self.pool.fetchrow(SELECT_PROBE_JOB, job_id)
        return ProbeJobRecord.from_row(row) if row else None

    async def claim(self, job_id: str, owner: str, lease_s: float) -> ProbeJobRecord | None:
        """Take the job for `owner`; None if it is final or another worker's lease is still live."""
        row = await self.pool.fetchrow(CLAIM_PROBE_JOB, job_id, owner, lease_s)
        return ProbeJobRecord.from_row(row) if row else None

    async def renew_lease(self, job_id: str, owner: str, lease_s: float) -> bool:
        result = await self.pool.execute(RENEW_PROBE_LEASE, job_id, owner, lease_s)
        return result.endswith(" 1")

    async def release(self, job_id: str, owner: str) -> None:
        await self.pool.execute(RELEASE_PROBE_JOB, job_id, owner)

    async def finish(
        self, job_id: str, owner: str, outcome: ProbeOutcome, event: Callable[[ProbeJobRecord], Event]
    ) -> ProbeJobRecord | None:
        """The final state, its asset, the waiting snapshot jobs and the event: one transaction.

        None if `owner` no longer holds the job (a late duplicate): nothing is written then."""
        result = outcome.result.to_json() if outcome.result is not None else None
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                FINISH_PROBE_JOB, job_id, owner, outcome.status.value, outcome.code, outcome.message, result
            )
            if row is None:
                return None
            finished = ProbeJobRecord.from_row(row)
            if finished.media_id is not None:
                status = MediaStatus.NORMAL if outcome.status is JobStatus.SUCCESS else MediaStatus.PREPARE_FAIL
                await connection.execute(
                    RECORD_ON_MEDIA, finished.media_id, status.value, outcome.code, outcome.message, result
                )
                await connection.execute(DISPATCH_WAITING_JOBS, [finished.media_id], JOB_ROUTING_KEY)
            routing_key, body, message_id = event(finished)
            await add_message(connection, MessageKind.EVENT, routing_key, body, message_id=message_id)
            await add_deliveries(connection, finished.job_id, finished.user_data, body, message_id)
        return finished

    async def list(self, query: JobFilter) -> JobPage[ProbeJobRecord]:
        """ListMediaInfoJobs: the snapshot jobs' listing rule on this table."""
        return await list_page(self.pool, "probe_jobs", query, ProbeJobRecord.from_row)
