"""The blob-storage port. Both backends (local directory, S3-compatible) implement it.

Error contract, shared by every backend and pinned by the shared test suite: a backend raises only
`ServiceError`s, translated once inside the backend:

- the object (or its bucket) does not exist → `MediaNotFound` (never retried);
- the store refuses access (403, bad credentials) → `StorageAccessDenied` (never retried);
- the store is unreachable, times out or answers 5xx → `StorageUnavailable` (retryable).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Protocol

from service.errors import InternalError

if TYPE_CHECKING:
    from service.domain.models import ObjectRef

#: default lifetime of a URL handed to a capture process: long enough for a long video decode
DEFAULT_SOURCE_EXPIRES_S = 3600


class BlobStorage(Protocol):
    """Objects addressed by (bucket, key); writes are idempotent (same key → overwritten)."""

    async def put_file(self, ref: ObjectRef, path: str, content_type: str) -> None:
        """Store the file at `path` under `ref`, replacing any object already there."""
        ...

    async def put_bytes(self, ref: ObjectRef, data: bytes, content_type: str) -> None:
        """Store `data` under `ref`, replacing any object already there."""
        ...

    async def exists(self, ref: ObjectRef) -> bool:
        """Whether the object exists."""
        ...

    async def size(self, ref: ObjectRef) -> int:
        """The object's size in bytes; MediaNotFound if it does not exist."""
        ...

    async def delete(self, ref: ObjectRef) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    async def get_bytes(self, ref: ObjectRef) -> bytes:
        """The whole object in memory: for tests and small objects only."""
        ...

    async def readable_source(self, ref: ObjectRef, expires_s: int = DEFAULT_SOURCE_EXPIRES_S) -> str:
        """What a capture child process can open: a file path (local) or a presigned GET URL (s3).

        Raises MediaNotFound up front, so a missing input fails the job before a process is spent on it.
        """
        ...

    async def presigned_url(self, ref: ObjectRef, expires_s: int, *, cache_control: str | None = None) -> str:
        """A GET URL valid for `expires_s` seconds, for handing to API clients; the store answers it
        with `cache_control` as the response's Cache-Control when given."""
        ...

    async def aclose(self) -> None:
        """Release connections; idempotent."""
        ...


def open_source(path: str) -> IO[bytes]:
    """Open a file to upload. It is our own scratch file, so failing to read it is a bug (InternalError),
    never a storage error: raising a non-OSError keeps it out of the backends' error translation."""
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InternalError(f"Cannot read the file to upload {path!r}: {exc.strerror or exc}") from exc
