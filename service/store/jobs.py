"""Snapshot jobs in PostgreSQL: insert, read, page, and the guarded state transitions.

State machine (every transition is one guarded UPDATE, so a duplicate delivery or a late worker is a
no-op rather than a corruption):

    Init ──claim──▶ Processing ──finish──▶ Success | Fail
                      │  ▲
                      └──┘ claim again once the lease has expired (its worker died)

`claim` returns None when another worker holds a live lease or the job is already final; `finish`
only succeeds for the lease owner of a Processing job.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import asyncpg

from service.domain.models import JobStatus, ObjectRef
from service.domain.routing import JOB_ROUTING_KEY, Dispatch, scratch_message_id
from service.domain.urls import parse_media_url
from service.errors import ServiceError
from service.store.coalesce import Coalescer
from service.store.deliveries import add_deliveries
from service.store.outbox import MessageKind, add_message
from service.store.pool import DATABASE_DOWN, store_methods
from service.store.sql import Connection

#: what a finished job announces: (routing key, body, message id)
Event = tuple[str, dict[str, Any], str]

#: One statement, one round trip, one commit for every submission of a batch (`store/coalesce.py`): lock
#: the pipelines named (and the default one, for the submissions naming none) FOR KEY SHARE so a
#: concurrent pause/resume or delete (which lock it FOR UPDATE) is ordered before or after these
#: submissions; insert each job at its pipeline's priority; queue its dispatch if the pipeline is Active
#: and the job's media asset (if it names one) is not still probing. The assets are read FOR SHARE, which
#: orders this against the probe's finish (`store/probe_jobs.py`): a job held here is dispatched there.
#: A submission with no row back named no such (live) pipeline.
SUBMIT_JOBS = """
WITH submitted AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::jsonb[], $6::text[],
                         $7::jsonb[], $8::text[], $9::text[], $10::text[], $11::text[])
        AS s(job_id, name, type, input, output, template_id, template_config, pipeline_ref, user_data,
             trigger_source, media_id)
), pipeline AS (
    SELECT pipeline_id, priority, status, is_default FROM pipelines
    WHERE deleted_at IS NULL
      AND (pipeline_id IN (SELECT pipeline_ref FROM submitted)
           OR (is_default AND EXISTS (SELECT 1 FROM submitted WHERE pipeline_ref IS NULL)))
    FOR KEY SHARE
), asset AS (
    SELECT media_id, status FROM media
    WHERE media_id IN (SELECT media_id FROM submitted) AND deleted_at IS NULL
    FOR SHARE
), job AS (
    INSERT INTO jobs (job_id, name, type, input, output, template_id, template_config,
                      pipeline_id, priority, user_data, trigger_source, media_id)
    SELECT s.job_id, s.name, s.type, s.input, s.output, s.template_id, s.template_config,
           p.pipeline_id, p.priority, s.user_data, s.trigger_source, s.media_id
    FROM submitted s
    JOIN pipeline p ON CASE WHEN s.pipeline_ref IS NULL THEN p.is_default ELSE p.pipeline_id = s.pipeline_ref END
    RETURNING job_id, pipeline_id, priority, media_id
), dispatch AS (
    INSERT INTO outbox (kind, routing_key, body, priority, message_id)
    SELECT 'dispatch', $12, jsonb_build_object('job_id', job.job_id), job.priority, job.job_id
    FROM job JOIN pipeline USING (pipeline_id)
    WHERE pipeline.status = 'Active'
      AND NOT EXISTS (SELECT 1 FROM asset WHERE asset.media_id = job.media_id AND asset.status = 'Init')
)
SELECT job_id FROM job
"""

SELECT_JOB = "SELECT * FROM jobs WHERE job_id = $1"


CLAIM_JOB = """
UPDATE jobs
SET status = 'Processing', attempts = attempts + 1, lease_owner = $2,
    lease_expires_at = now() + make_interval(secs => $3), start_time = coalesce(start_time, now()),
    modified_time = now()
WHERE job_id = $1
  AND (status = 'Init' OR (status = 'Processing' AND lease_expires_at < now()))
  -- a job on an asset still probing waits (a pipeline's resume may dispatch it early); the probe's finish
  -- dispatches it again
  AND NOT EXISTS (
      SELECT 1 FROM media m WHERE m.media_id = jobs.media_id AND m.status = 'Init' AND m.deleted_at IS NULL
  )
RETURNING *
"""

RENEW_LEASE = """
UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3)
WHERE job_id = $1 AND status = 'Processing' AND lease_owner = $2
"""

RELEASE_JOB = """
UPDATE jobs SET status = 'Init', lease_owner = NULL, lease_expires_at = NULL, modified_time = now()
WHERE job_id = $1 AND status = 'Processing' AND lease_owner = $2
"""

#: the lease owner's finish; no owner ($2 NULL) finishes a job fanned out across workers while its shards
#: run (a shard that failed for good ends it, `store/shards.py`)
FINISH_JOB = """
UPDATE jobs
SET status = $3, code = $4, message = $5, count = $6, images = $7, dropped = $8, artifacts = $9,
    stats = $10, finish_time = now(), modified_time = now(), lease_owner = NULL, lease_expires_at = NULL
WHERE job_id = $1 AND status = 'Processing'
  AND (lease_owner = $2 OR ($2 IS NULL AND lease_owner IS NULL AND fanout IS NOT NULL))
RETURNING *
"""


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job row as the rest of the service sees it."""

    job_id: str
    name: str | None
    status: JobStatus
    type: str
    input: dict[str, Any]
    output: dict[str, Any]
    template_id: str
    template_config: dict[str, Any]
    pipeline_id: str
    priority: int
    user_data: str | None
    trigger_source: str
    code: str | None
    message: str | None
    count: int
    images: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
    artifacts: list[dict[str, Any]]
    stats: dict[str, Any]
    attempts: int
    create_time: datetime
    submit_time: datetime
    modified_time: datetime
    start_time: datetime | None
    finish_time: datetime | None
    #: the media asset named by Input (Type Media), else None
    media_id: str | None = None
    #: a job fanned out across workers: the plan it was cut by (`media/shards.py` ShardPlan as JSON)
    fanout: dict[str, Any] | None = None
    #: its shards, and how many have finished (GetSnapshotJob's `Progress`)
    shards_total: int = 0
    shards_done: int = 0

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> JobRecord:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["status"] = JobStatus(row["status"])
        return cls(**values)

    @property
    def output_ref(self) -> ObjectRef:
        """Output.Media as an object: its bucket holds every file of the job (and a fanned-out job's scratch)."""
        return parse_media_url(self.output["Media"], "Output.Media")


@dataclass(frozen=True, slots=True)
class NewJob:
    """What the API inserts on SubmitSnapshotJob."""

    job_id: str
    name: str | None
    type: str
    input: dict[str, Any]
    output: dict[str, Any]
    template_id: str
    template_config: dict[str, Any]
    #: None: the default pipeline; the job takes its pipeline's priority
    pipeline_id: str | None
    user_data: str | None
    trigger_source: str = "API"
    #: Input.Type Media: the asset (its file is resolved when the job runs)
    media_id: str | None = None


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What a worker records when a job ends."""

    status: JobStatus
    code: str | None = None
    message: str | None = None
    count: int = 0
    images: Sequence[dict[str, Any]] = ()
    dropped: Sequence[dict[str, Any]] = ()
    artifacts: Sequence[dict[str, Any]] = ()
    stats: dict[str, Any] | None = None

    @classmethod
    def failed(cls, error: ServiceError) -> JobOutcome:
        """A job that ends with `error`."""
        return cls(status=JobStatus.FAIL, code=error.code, message=error.message)


class _Keyed(Protocol):
    """A row a keyset page can end on."""

    @property
    def create_time(self) -> datetime: ...

    @property
    def job_id(self) -> str: ...


R = TypeVar("R", bound=_Keyed)


@dataclass(frozen=True, slots=True)
class JobPage(Generic[R]):
    jobs: list[R]
    #: where the next page starts (after this job), None on the last page
    after: tuple[datetime, str] | None


@dataclass(frozen=True, slots=True)
class JobFilter:
    """ListSnapshotJobs' filters; times are timezone-aware."""

    status: JobStatus | None = None
    job_id: str | None = None
    start_of_create_time: datetime | None = None
    end_of_create_time: datetime | None = None
    descending: bool = True
    page_size: int = 20
    #: (create time, job id) of the last job of the previous page
    after: tuple[datetime, str] | None = None


async def list_page(pool: asyncpg.Pool, table: str, query: JobFilter, from_row: Callable[[Any], R]) -> JobPage[R]:
    """One keyset page of a job table (snapshot or probe jobs) by (create_time, job_id): the one listing rule."""
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if query.status is not None:
        clauses.append(f"status = {arg(query.status.value)}")
    if query.job_id:
        clauses.append(f"job_id = {arg(query.job_id)}")
    if query.start_of_create_time:
        clauses.append(f"create_time >= {arg(query.start_of_create_time)}")
    if query.end_of_create_time:
        clauses.append(f"create_time <= {arg(query.end_of_create_time)}")
    if query.after is not None:
        created, job_id = query.after
        op = "<" if query.descending else ">"
        clauses.append(f"(create_time, job_id) {op} ({arg(created)}, {arg(job_id)})")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    order = "DESC" if query.descending else "ASC"
    sql = f"SELECT * FROM {table} {where} ORDER BY create_time {order}, job_id {order} LIMIT {arg(query.page_size + 1)}"
    rows = await pool.fetch(sql, *args)
    jobs = [from_row(row) for row in rows[: query.page_size]]
    after = (jobs[-1].create_time, jobs[-1].job_id) if len(rows) > query.page_size else None
    return JobPage(jobs, after)


#: how long after a fanned-out job ends its scratch objects are deleted again, by any worker
SCRATCH_CLEANUP_DELAY_S = 60.0


async def finish_job(
    connection: Connection, job_id: str, owner: str | None, outcome: JobOutcome, event: Callable[[JobRecord], Event]
) -> JobRecord | None:
    """The final state, its event and callback deliveries, inside the caller's transaction; None (nothing
    written) unless `owner` holds the job (None: a fanned-out job no worker holds)."""
    row = await connection.fetchrow(
        FINISH_JOB,
        job_id,
        owner,
        outcome.status.value,
        outcome.code,
        outcome.message,
        outcome.count,
        list(outcome.images),
        list(outcome.dropped),
        list(outcome.artifacts),
        outcome.stats or {},
    )
    if row is None:
        return None
    finished = JobRecord.from_row(row)
    routing_key, body, message_id = event(finished)
    await add_message(connection, MessageKind.EVENT, routing_key, body, message_id=message_id)
    await add_deliveries(connection, finished.job_id, finished.user_data, body, message_id)
    if finished.fanout is not None:
        # the net under the assembler's own delete of the shards' scratch objects, should it die first;
        # withdrawn once that delete succeeded
        await add_scratch_cleanup(connection, job_id, SCRATCH_CLEANUP_DELAY_S)
    return finished


async def add_scratch_cleanup(connection: Connection, job_id: str, delay_s: float) -> None:
    """Queue the deletion of a fanned-out job's scratch objects by any worker, `delay_s` from now."""
    await add_message(
        connection,
        MessageKind.DISPATCH,
        JOB_ROUTING_KEY,
        {Dispatch.SCRATCH.value: job_id},
        message_id=scratch_message_id(job_id),
        delay_s=delay_s,
    )


async def _outcome(insert: Awaitable[set[str]]) -> bool | Exception:
    """One submission alone: written, not written (no such pipeline), or its own error."""
    try:
        return bool(await insert)
    except asyncpg.PostgresError as exc:
        return exc


@store_methods
class JobStore:
    """All SQL touching the jobs table."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.submissions: Coalescer[NewJob, bool] = Coalescer(self._submit_all)

    async def submit(self, job: NewJob) -> bool:
        """Insert the job and, when its pipeline is active, its dispatch message, in the statement of the
        next batch of concurrent submissions. False when its pipeline does not exist (or was deleted):
        nothing is written for it then."""
        return await self.submissions(job)

    async def _submit_all(self, jobs: list[NewJob]) -> Sequence[bool | Exception]:
        """One batch in one statement. Should that statement fail for a reason of the data rather than of
        the database, each submission runs alone, so that only its own fails."""
        try:
            inserted = await self._insert(jobs)
        except DATABASE_DOWN:
            raise
        except asyncpg.PostgresError:
            if len(jobs) == 1:
                raise
            return [await _outcome(self._insert([job])) for job in jobs]
        return [job.job_id in inserted for job in jobs]

    async def _insert(self, jobs: list[NewJob]) -> set[str]:
        """The ids of the jobs written."""
        columns = [
            [getattr(job, name) for job in jobs]
            for name in (
                "job_id",
                "name",
                "type",
                "input",
                "output",
                "template_id",
                "template_config",
                "pipeline_id",
                "user_data",
                "trigger_source",
                "media_id",
            )
        ]
        return {row[0] for row in await self.pool.fetch(SUBMIT_JOBS, *columns, JOB_ROUTING_KEY)}

    async def get(self, job_id: str) -> JobRecord | None:
        row = await self.pool.fetchrow(SELECT_JOB, job_id)
        return JobRecord.from_row(row) if row else None

    async def claim(self, job_id: str, owner: str, lease_s: float) -> JobRecord | None:
        """Take the job for `owner`; None if it is final or another worker's lease is still live."""
        row = await self.pool.fetchrow(CLAIM_JOB, job_id, owner, lease_s)
        return JobRecord.from_row(row) if row else None

    async def renew_lease(self, job_id: str, owner: str, lease_s: float) -> bool:
        result = await self.pool.execute(RENEW_LEASE, job_id, owner, lease_s)
        return result.endswith(" 1")

    async def release(self, job_id: str, owner: str) -> None:
        """Hand a job back (Processing → Init) for a retry; its attempts count stays."""
        await self.pool.execute(RELEASE_JOB, job_id, owner)

    async def finish(
        self, job_id: str, owner: str, outcome: JobOutcome, event: Callable[[JobRecord], Event]
    ) -> JobRecord | None:
        """Record the final state and its completion event in one transaction.

        None if `owner` no longer holds the job (a late duplicate): nothing is written then.
        """
        async with self.pool.acquire() as connection, connection.transaction():
            return await finish_job(connection, job_id, owner, outcome, event)

    async def list(self, query: JobFilter) -> JobPage[JobRecord]:
        """One page of jobs ordered by (create_time, job_id), resuming after the page token."""
        return await list_page(self.pool, "jobs", query, JobRecord.from_row)
