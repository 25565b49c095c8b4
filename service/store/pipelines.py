"""Pipelines in PostgreSQL: create, read, list, update (with resume dispatch) and soft delete.

Invariants:
- A deleted pipeline keeps its row (`deleted_at` set) because finished jobs still reference it; every
  read here and in `CatalogStore` hides it, so it is gone for the API and for job submission.
- The default pipeline cannot be deleted, and neither can a pipeline with Init or Processing jobs.
- Paused → Active writes a dispatch to the outbox for every never-dispatched Init job of the pipeline
  (attempts = 0), at the pipeline's priority, in the transaction that flips the status: the resume
  and its dispatches commit together or not at all, and the relay publishes them. A job dispatched
  before the pause gets a second message; the worker's guarded claim makes that duplicate a no-op.
- Update and delete lock the pipeline row `FOR UPDATE`, which conflicts with the `FOR KEY SHARE` lock a
  job insert takes through its foreign key, so a submission still in flight commits before the held
  jobs are collected or counted. Known gap: submission decides "dispatch or hold" from a read made
  *before* its transaction, so a job submitted in the instant of a resume can stay held, and one
  submitted in the instant of a delete can land in the deleted pipeline. Reading the pipeline
  `FOR KEY SHARE` inside the submission's transaction would close both.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import asyncpg

from service.domain.models import PipelineStatus
from service.domain.routing import JOB_ROUTING_KEY
from service.errors import DefaultPipelineUndeletable, PipelineInUse
from service.store.outbox import MessageKind
from service.store.pool import store_methods
from service.store.sql import returned

INSERT_PIPELINE = """
INSERT INTO pipelines (pipeline_id, name, speed, priority, status, is_default)
VALUES ($1, $2, $3, $4, 'Active', false)
RETURNING *
"""

SELECT_PIPELINE = "SELECT * FROM pipelines WHERE pipeline_id = $1 AND deleted_at IS NULL"

LIST_PIPELINES = """
SELECT * FROM pipelines
WHERE deleted_at IS NULL AND ($1::text IS NULL OR speed = $1)
ORDER BY create_time, pipeline_id
"""

LOCK_PIPELINE = "SELECT * FROM pipelines WHERE pipeline_id = $1 AND deleted_at IS NULL FOR UPDATE"

UPDATE_PIPELINE = """
UPDATE pipelines
SET name = coalesce($2, name), priority = coalesce($3, priority), status = coalesce($4, status),
    modified_time = now()
WHERE pipeline_id = $1
RETURNING *
"""

# The dispatch of every job held back while the pipeline was paused (never dispatched, never
# attempted), in the shape JobStore.submit writes it: {"job_id"} body, the job id as message id.
DISPATCH_HELD_JOBS = """
INSERT INTO outbox (kind, routing_key, body, priority, message_id)
SELECT $2, $3, jsonb_build_object('job_id', job_id), $4, job_id
FROM jobs
WHERE pipeline_id = $1 AND status = 'Init' AND attempts = 0
ORDER BY create_time, job_id
"""

COUNT_UNFINISHED_JOBS = "SELECT count(*) FROM jobs WHERE pipeline_id = $1 AND status IN ('Init', 'Processing')"
SOFT_DELETE_PIPELINE = "UPDATE pipelines SET deleted_at = now(), modified_time = now() WHERE pipeline_id = $1"


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A (live) pipeline row."""

    pipeline_id: str
    name: str
    speed: str
    priority: int
    status: str
    is_default: bool
    create_time: datetime
    modified_time: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Pipeline:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class PipelineChanges:
    """UpdatePipeline's parameters; None leaves a field as it is."""

    name: str | None = None
    priority: int | None = None
    status: str | None = None


@store_methods
class PipelineStore:
    """All SQL touching the pipelines table (job submission reads it in its own statement, store/jobs.py)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def create(self, pipeline_id: str, name: str, speed: str, priority: int) -> Pipeline:
        row = await self.pool.fetchrow(INSERT_PIPELINE, pipeline_id, name, speed, priority)
        return Pipeline.from_row(returned(row))

    async def get(self, pipeline_id: str) -> Pipeline | None:
        row = await self.pool.fetchrow(SELECT_PIPELINE, pipeline_id)
        return Pipeline.from_row(row) if row else None

    async def list(self, speed: str | None) -> list[Pipeline]:
        return [Pipeline.from_row(row) for row in await self.pool.fetch(LIST_PIPELINES, speed)]

    async def update(self, pipeline_id: str, changes: PipelineChanges) -> tuple[Pipeline, int] | None:
        """Apply `changes`: (the pipeline, how many held jobs a resume dispatched); None if unknown."""
        async with self.pool.acquire() as connection, connection.transaction():
            before = await connection.fetchrow(LOCK_PIPELINE, pipeline_id)
            if before is None:
                return None
            row = await connection.fetchrow(
                UPDATE_PIPELINE, pipeline_id, changes.name, changes.priority, changes.status
            )
            after = Pipeline.from_row(returned(row))
            dispatched = 0
            if before["status"] == PipelineStatus.PAUSED and after.status == PipelineStatus.ACTIVE:
                result = await connection.execute(
                    DISPATCH_HELD_JOBS, pipeline_id, MessageKind.DISPATCH.value, JOB_ROUTING_KEY, after.priority
                )
                dispatched = int(result.split()[-1])  # "INSERT 0 <rows>"
        return after, dispatched

    async def delete(self, pipeline_id: str) -> bool:
        """Hide the pipeline; False if there is none. Refuses the default and busy pipelines."""
        async with self.pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(LOCK_PIPELINE, pipeline_id)
            if row is None:
                return False
            if row["is_default"]:
                raise DefaultPipelineUndeletable()
            unfinished = await connection.fetchval(COUNT_UNFINISHED_JOBS, pipeline_id)
            if unfinished:
                raise PipelineInUse(
                    f"The pipeline {pipeline_id} still has {unfinished} job(s) in Init or Processing; "
                    "delete it once they have finished."
                )
            await connection.execute(SOFT_DELETE_PIPELINE, pipeline_id)
        return True
