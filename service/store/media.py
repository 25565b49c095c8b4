"""Media assets in PostgreSQL: register (with its probe job, one transaction), read, page, update, delete.

Invariants:
- One live asset per file (`source`, the one spelling of an InputURL): registering it again returns the
  live asset's MediaId and starts nothing (the rule of VOD's RegisterMedia: "If you submit a media file
  that is registered, this operation returns only the unique media ID that is associated with the media
  file, without other processing"); with `Overwrite` the live asset is deleted and a new one registered
  (ICE's RegisterMediaInfo.Overwrite). A unique index backs this against racing registrations.
- `ClientToken` names one registration for good: the same token answers the same MediaId; with another
  InputURL it is refused.
- Deleting is soft (`deleted_at`): snapshot jobs keep naming their asset, and the files are never touched.
  Snapshot jobs waiting on a deleted asset are dispatched in the same transaction, so they fail now
  (their asset is gone) rather than wait for a probe.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import asyncpg

from service.domain.media import FinishedSnapshot, MediaStatus, MediaType, Probe
from service.domain.models import JobStatus
from service.domain.routing import JOB_ROUTING_KEY
from service.errors import InvalidParameter
from service.store.pool import store_methods
from service.store.probe_jobs import DISPATCH_WAITING_JOBS, NewProbeJob, insert_probe_job
from service.store.sql import Connection

INSERT_MEDIA = """
INSERT INTO media (media_id, input_url, source, media_type, title, description, cover_url, media_tags,
                   user_data, business_type, reference_id, client_token)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (source) WHERE deleted_at IS NULL DO NOTHING
RETURNING media_id
"""

SELECT_BY_TOKEN = "SELECT media_id, source FROM media WHERE client_token = $1"
SELECT_LIVE_BY_SOURCE = "SELECT * FROM media WHERE source = $1 AND deleted_at IS NULL"
SELECT_MEDIA = "SELECT * FROM media WHERE media_id = $1"
SELECT_MEDIA_MANY = "SELECT * FROM media WHERE media_id = ANY($1::text[]) AND deleted_at IS NULL"

SOFT_DELETE = """
UPDATE media SET deleted_at = now(), modified_time = now()
WHERE deleted_at IS NULL AND (media_id = ANY($1::text[]) OR source = ANY($2::text[]))
RETURNING media_id, source
"""

UPDATE_MEDIA = """
UPDATE media
SET title = coalesce($2, title), description = coalesce($3, description), cover_url = coalesce($4, cover_url),
    media_tags = coalesce($5, media_tags), user_data = coalesce($6, user_data),
    reference_id = coalesce($7, reference_id), business_type = coalesce($8, business_type),
    category = coalesce($9, category), modified_time = now()
WHERE media_id = $1 AND deleted_at IS NULL
RETURNING *
"""

SELECT_FINISHED_SNAPSHOTS = """
SELECT media_id, job_id, template_id, type, status, output, count, images, template_config FROM jobs
WHERE media_id = ANY($1::text[]) AND status = 'Success'
ORDER BY finish_time, job_id
"""


@dataclass(frozen=True, slots=True)
class MediaRecord:
    media_id: str
    input_url: str
    source: str
    media_type: MediaType
    status: MediaStatus
    code: str | None
    message: str | None
    title: str
    description: str
    cover_url: str
    media_tags: str
    user_data: str
    business_type: str
    category: str
    reference_id: str | None
    probe: Probe | None
    create_time: datetime
    modified_time: datetime
    deleted_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> MediaRecord:
        values = {f.name: row[f.name] for f in fields(cls)}
        values["media_type"] = MediaType(row["media_type"])
        values["status"] = MediaStatus(row["status"])
        values["probe"] = Probe.from_json(row["probe"]) if row["probe"] else None
        return cls(**values)


@dataclass(frozen=True, slots=True)
class NewMedia:
    """What RegisterMediaInfo inserts."""

    input_url: str
    source: str
    media_type: MediaType
    title: str
    description: str = ""
    cover_url: str = ""
    media_tags: str = ""
    user_data: str = ""
    business_type: str = ""
    reference_id: str | None = None
    client_token: str | None = None


@dataclass(frozen=True, slots=True)
class Registered:
    media_id: str
    #: False: the file was registered already (or the ClientToken was used): nothing was started
    created: bool


@dataclass(frozen=True, slots=True)
class MediaChanges:
    """UpdateMediaInfo: None leaves a field as it is."""

    title: str | None = None
    description: str | None = None
    cover_url: str | None = None
    media_tags: str | None = None
    user_data: str | None = None
    reference_id: str | None = None
    business_type: str | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class MediaFilter:
    """ListMediaBasicInfos: StartTime is exclusive, EndTime inclusive (ICE)."""

    media_type: MediaType | None = None
    status: MediaStatus | None = None
    business_type: str | None = None
    media_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    descending: bool = True
    max_results: int = 10
    #: (create time, media id) of the last asset of the previous page
    after: tuple[datetime, str] | None = None


@dataclass(frozen=True, slots=True)
class MediaPage:
    media: list[MediaRecord]
    total: int
    #: where the next page starts (after this asset), None on the last page
    after: tuple[datetime, str] | None


@store_methods
class MediaStore:
    """All SQL touching the media table (the probe's result is written by ProbeJobStore.finish)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def register(self, new: NewMedia, *, overwrite: bool) -> Registered:
        """Insert the asset and its probe job (dispatched) in one transaction; see the module's rules."""
        async with self.pool.acquire() as connection, connection.transaction():
            if new.client_token:
                known = await connection.fetchrow(SELECT_BY_TOKEN, new.client_token)
                if known is not None:
                    if known["source"] != new.source:
                        raise InvalidParameter.named("ClientToken", "It was used to register another InputURL.")
                    return Registered(known["media_id"], created=False)
            if overwrite:
                await self._delete(connection, [], [new.source])
            media_id = uuid.uuid4().hex
            try:
                inserted = await connection.fetchval(
                    INSERT_MEDIA,
                    media_id,
                    new.input_url,
                    new.source,
                    new.media_type.value,
                    new.title,
                    new.description,
                    new.cover_url,
                    new.media_tags,
                    new.user_data,
                    new.business_type,
                    new.reference_id,
                    new.client_token,
                )
            except asyncpg.UniqueViolationError as exc:
                raise _unique_violation(exc) from None
            if inserted is None:
                existing = await connection.fetchrow(SELECT_LIVE_BY_SOURCE, new.source)
                return Registered(existing["media_id"] if existing else media_id, created=False)
            await insert_probe_job(connection, NewProbeJob.for_registration(media_id))
        return Registered(media_id, created=True)

    async def get(self, media_id: str) -> MediaRecord | None:
        """The asset, deleted or not (callers tell the two apart by `deleted_at`)."""
        row = await self.pool.fetchrow(SELECT_MEDIA, media_id)
        return MediaRecord.from_row(row) if row else None

    async def get_live(self, media_id: str | None = None, source: str | None = None) -> MediaRecord | None:
        """The live asset with this id, or registered for this file."""
        if media_id:
            row = await self.pool.fetchrow(SELECT_MEDIA, media_id)
            return MediaRecord.from_row(row) if row is not None and row["deleted_at"] is None else None
        row = await self.pool.fetchrow(SELECT_LIVE_BY_SOURCE, source)
        return MediaRecord.from_row(row) if row else None

    async def get_many(self, media_ids: Sequence[str]) -> list[MediaRecord]:
        """The live assets among `media_ids`, in the order asked for."""
        rows = {row["media_id"]: row for row in await self.pool.fetch(SELECT_MEDIA_MANY, list(media_ids))}
        return [MediaRecord.from_row(rows[i]) for i in dict.fromkeys(media_ids) if i in rows]

    async def update(self, media_id: str, changes: MediaChanges) -> MediaRecord | None:
        try:
            row = await self.pool.fetchrow(
                UPDATE_MEDIA,
                media_id,
                changes.title,
                changes.description,
                changes.cover_url,
                changes.media_tags,
                changes.user_data,
                changes.reference_id,
                changes.business_type,
                changes.category,
            )
        except asyncpg.UniqueViolationError as exc:
            raise _unique_violation(exc) from None
        return MediaRecord.from_row(row) if row else None

    async def delete(self, media_ids: Sequence[str], sources: Sequence[str]) -> list[tuple[str, str]]:
        """Soft-delete the live assets named; (media_id, source) of each one deleted."""
        async with self.pool.acquire() as connection, connection.transaction():
            return await self._delete(connection, media_ids, sources)

    async def _delete(
        self, connection: Connection, media_ids: Sequence[str], sources: Sequence[str]
    ) -> list[tuple[str, str]]:
        rows = await connection.fetch(SOFT_DELETE, list(media_ids), list(sources))
        deleted = [(row["media_id"], row["source"]) for row in rows]
        if deleted:
            await connection.execute(DISPATCH_WAITING_JOBS, [m for m, _ in deleted], JOB_ROUTING_KEY)
        return deleted

    async def list(self, query: MediaFilter) -> MediaPage:
        """One page of live assets by (create_time, media_id), and how many match in all."""
        clauses = ["deleted_at IS NULL"]
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if query.media_type is not None:
            clauses.append(f"media_type = {arg(query.media_type.value)}")
        if query.status is not None:
            clauses.append(f"status = {arg(query.status.value)}")
        if query.business_type:
            clauses.append(f"business_type = {arg(query.business_type)}")
        if query.media_id:
            clauses.append(f"media_id = {arg(query.media_id)}")
        if query.start_time:
            clauses.append(f"create_time > {arg(query.start_time)}")
        if query.end_time:
            clauses.append(f"create_time <= {arg(query.end_time)}")
        filtered = " AND ".join(clauses)
        total_args = list(args)
        if query.after is not None:
            created, media_id = query.after
            op = "<" if query.descending else ">"
            clauses.append(f"(create_time, media_id) {op} ({arg(created)}, {arg(media_id)})")
        order = "DESC" if query.descending else "ASC"
        sql = (
            f"SELECT * FROM media WHERE {' AND '.join(clauses)} "
            f"ORDER BY create_time {order}, media_id {order} LIMIT {arg(query.max_results + 1)}"
        )
        async with self.pool.acquire() as connection:
            rows = await connection.fetch(sql, *args)
            total = int(await connection.fetchval(f"SELECT count(*) FROM media WHERE {filtered}", *total_args))
        media = [MediaRecord.from_row(row) for row in rows[: query.max_results]]
        after = (media[-1].create_time, media[-1].media_id) if len(rows) > query.max_results else None
        return MediaPage(media, total, after)

    async def finished_snapshots(self, media_ids: Sequence[str]) -> Mapping[str, Sequence[FinishedSnapshot]]:
        """Each asset's successful snapshot jobs, oldest first, with the objects each one wrote: one query."""
        found: dict[str, list[FinishedSnapshot]] = {media_id: [] for media_id in media_ids}
        for row in await self.pool.fetch(SELECT_FINISHED_SNAPSHOTS, list(media_ids)):
            found[row["media_id"]].append(_finished(row))
        return found


def _finished(row: asyncpg.Record) -> FinishedSnapshot:
    images: list[dict[str, Any]] = row["images"]
    config: dict[str, Any] = row["template_config"]
    sheets = row["type"] == "Sprite" or bool(config.get("IsSptFrag"))
    # MPS TileOut's 10 x 10 where the config names no grid (`domain/models.SpriteConfig`)
    sprite = config.get("SpriteSnapshotConfig") or {}
    return FinishedSnapshot(
        job_id=row["job_id"],
        template_id=row["template_id"],
        type=row["type"],
        status=JobStatus(row["status"]),
        output=row["output"].get("Media", ""),
        count=row["count"],
        keys=tuple(dict.fromkeys(str(image["Key"]) for image in images)),
        tile_count=int(sprite.get("Columns", 10)) * int(sprite.get("Lines", 10)) if sheets else 0,
    )


def _unique_violation(exc: asyncpg.UniqueViolationError) -> InvalidParameter:
    if exc.constraint_name == "media_live_reference":
        return InvalidParameter.named("ReferenceId", "Another media asset has this ReferenceId.")
    if exc.constraint_name == "media_client_token":
        return InvalidParameter.named("ClientToken", "A concurrent registration used it; send it again.")
    return InvalidParameter(f"The media asset conflicts with another one ({exc.constraint_name}).")
