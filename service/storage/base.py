"""The blob-storage port. Both backends (local directory, S3-compatible) implement it.

Error contract, shared by every backend and pinned by the shared test suite: a backend raises only
`ServiceError`s, translated once inside the backend:

- the object (or its bucket) does not exist → `MediaNotFound` (never retried);
- the store refuses access (403, bad credentials) → `StorageAccessDenied` (never retried);
- the store is unreachable, times out or answers 5xx → `StorageUnavailable` (retryable).
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Protocol

from service.domain.urls import key_problem
from service.errors import InternalError

if TYPE_CHECKING:
    from service.domain.models import ObjectRef

#: default lifetime of a URL handed to a capture process: long enough for a long video decode
DEFAULT_SOURCE_EXPIRES_S = 3600


class BlobStorage(Protocol):
    """Objects addressed by (bucket, key), as the service uses them; writes are idempotent (same key →
    overwritten). What only tests and set-up need (exists, size, put_bytes, ensure_bucket) stays on the
    backends themselves."""

    #: where the objects are, as GetSnapshotJob's `OssFile.Location` says it ("local", or the region)
    location: str

    async def put_file(self, ref: ObjectRef, path: str, content_type: str) -> None:
        """Store the file at `path` under `ref`, replacing any object already there."""
        ...

    async def copy(self, source: ObjectRef, target: ObjectRef, content_type: str) -> None:
        """Store the object `source` under `target` too, inside the store (no bytes through this process),
        replacing any object there; the two are independent afterwards (deleting one keeps the other)."""
        ...

    async def get_bytes(self, ref: ObjectRef) -> bytes:
        """The whole object in memory: for small objects (a .vtt the API rewrites)."""
        ...

    async def delete(self, ref: ObjectRef) -> None:
        """Remove the object; a missing object is not an error."""
        ...

    async def keys_under(self, bucket: str, prefix: str) -> list[str]:
        """The key of every object in `bucket` under the folder `prefix` (ending in '/'), in no order; none
        when the folder or the bucket does not exist. For a job's scratch folder: its images, held in
        memory (thousands of keys, not millions)."""
        ...

    async def readable_source(self, ref: ObjectRef, expires_s: int = DEFAULT_SOURCE_EXPIRES_S) -> str:
        """What a capture child process can open: a file path (local) or a presigned GET URL (s3).

        Raises MediaNotFound up front, so a missing input fails the job before a process is spent on it.
        """
        ...

    async def download_url(self, ref: ObjectRef, expires: int, *, origin: str, cache_control: str | None = None) -> str:
        """The URL an API client downloads `ref` by until the unix time `expires`: the store's own
        presigned URL (s3), or a signed `/files/` URL of this API (local; `origin` is the API's scheme and
        host as the client reached it). The answer carries `cache_control` when given."""
        ...

    async def local_path(self, ref: ObjectRef) -> str | None:
        """The object's file on this machine when the backend keeps objects as files (the API then
        serves it); None when the store serves its objects itself. MediaNotFound if it does not exist."""
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


def folder_key(prefix: str) -> str:
    """The key a folder prefix names (`prefix` without its closing '/'); ValueError when it is not one."""
    problem = key_problem(prefix[:-1]) if prefix.endswith("/") else "It does not end with '/'."
    if problem:
        raise ValueError(f"{prefix!r} is not a folder prefix: {problem}")
    return prefix[:-1]
