"""A job's local scratch directory, and files put to storage a few at a time (what every job step shares)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from service import metrics
from service.domain.models import ObjectRef
from service.storage.base import BlobStorage


@asynccontextmanager
async def scratch_dir(prefix: str, parent: str) -> AsyncIterator[str]:
    """A private directory under `parent` (empty: the system temp dir), removed afterwards off the loop."""
    path = tempfile.mkdtemp(prefix=prefix, dir=parent or None)
    try:
        yield path
    finally:
        await asyncio.to_thread(shutil.rmtree, path, True)


async def put_files(storage: BlobStorage, files: Iterable[tuple[ObjectRef, str, str]], concurrency: int) -> None:
    """Upload (object, local path, content type) triples, `concurrency` at once; the same keys on a retry,
    so uploads are idempotent. The first storage error is raised as itself (retryable or not), not the
    group around it: it decides the job's fate."""
    gate = asyncio.Semaphore(concurrency)

    async def put(ref: ObjectRef, path: str, content_type: str) -> None:
        async with gate:
            with metrics.UPLOAD_SECONDS.time():
                await storage.put_file(ref, path, content_type)

    try:
        async with asyncio.TaskGroup() as group:
            for ref, path, content_type in files:
                group.create_task(put(ref, path, content_type))
    except ExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
