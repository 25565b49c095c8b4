"""A job's local scratch directory, and objects put to storage a few at a time (what every job step shares)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from service import metrics
from service.domain.models import Artifact, ObjectRef
from service.storage.base import BlobStorage


@asynccontextmanager
async def scratch_dir(prefix: str, parent: str) -> AsyncIterator[str]:
    """A private directory under `parent` (empty: the system temp dir), removed afterwards off the loop."""
    path = tempfile.mkdtemp(prefix=prefix, dir=parent or None)
    try:
        yield path
    finally:
        await asyncio.to_thread(shutil.rmtree, path, True)


@dataclass(frozen=True, slots=True)
class Put:
    """One object to store: the local file at `path`, or a copy of the object `copy_of` in the same store."""

    ref: ObjectRef
    content_type: str
    path: str = ""
    copy_of: ObjectRef | None = None


def artifact_puts(bucket: str, artifacts: Iterable[Artifact]) -> list[Put]:
    """A capture's files under their final keys: uploaded from the disk, or copied inside the store."""
    return [
        Put(ObjectRef(bucket, a.key), a.content_type, copy_of=ObjectRef(bucket, a.stored_key))
        if a.stored_key
        else Put(ObjectRef(bucket, a.key), a.content_type, path=a.path)
        for a in artifacts
    ]


async def put_files(storage: BlobStorage, puts: Iterable[Put], concurrency: int) -> None:
    """Store every `Put`, `concurrency` at once; the same keys on a retry, so this is idempotent. The
    first storage error is raised as itself (retryable or not), not the group around it: it decides the
    job's fate."""
    gate = asyncio.Semaphore(concurrency)

    async def put(item: Put) -> None:
        async with gate:
            with metrics.UPLOAD_SECONDS.time():
                if item.copy_of is not None:
                    await storage.copy(item.copy_of, item.ref, item.content_type)
                else:
                    await storage.put_file(item.ref, item.path, item.content_type)

    try:
        async with asyncio.TaskGroup() as group:
            for item in puts:
                group.create_task(put(item))
    except ExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
