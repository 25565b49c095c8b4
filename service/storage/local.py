"""Local-directory backend: `<root>/<bucket>/<key>`, the default so the service runs with nothing else.

Invariants:
- every blocking filesystem call (including path resolution) runs in `asyncio.to_thread`;
- a write lands in a temp file in the destination directory and is `os.replace`d into place, so
  readers see the old object or the new one, never a partial one;
- no key reaches outside `<root>/<bucket>`: keys are validated like media URLs, and the resolved path
  (symlinks followed) is re-checked to be inside the bucket directory.
- content types are not stored: whatever serves these files later derives them from the extension.
- there are no folders but those keys make: a delete removes the directories left empty by it, and a
  write makes its directories again should a delete beside it remove them first.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

from service.domain.models import ObjectRef
from service.domain.urls import bucket_problem, key_problem
from service.errors import InternalError, InvalidParameter, MediaNotFound, StorageAccessDenied, StorageUnavailable
from service.storage.base import DEFAULT_SOURCE_EXPIRES_S, folder_key, open_source
from service.storage.signed_urls import UrlSigner

log = logging.getLogger(__name__)

T = TypeVar("T")

#: prefix of in-flight temp files; a leading dot keeps them out of casual listings
_TMP_PREFIX = ".tmp-"
#: tries to make a directory and a file in it while deletes may remove the directory once it is empty
_MKDIR_ATTEMPTS = 5
#: the file system refuses the name itself (too long, or bytes it cannot store): retrying cannot help
_REFUSED_NAME_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.EILSEQ})


class LocalStorage:
    """BlobStorage on a directory tree; one sub-directory per bucket, created on first write."""

    location = "local"

    def __init__(self, root: str | os.PathLike[str], signer: UrlSigner | None = None) -> None:
        # Absolute but not resolved here: resolving touches the filesystem, which happens in threads.
        self._root = Path(os.path.abspath(root))
        #: signs the API's /files/ URLs of these objects: a directory has no URLs of its own
        self._signer = signer
        self._file_mode = 0o666 & ~_umask()

    @property
    def root(self) -> Path:
        return self._root

    async def put_file(self, ref: ObjectRef, path: str, content_type: str) -> None:
        def copy(dst: IO[bytes]) -> None:
            with open_source(path) as src:
                shutil.copyfileobj(src, dst)

        await self._run(ref, True, lambda: self._write(ref, copy))

    async def copy(self, source: ObjectRef, target: ObjectRef, content_type: str) -> None:
        def existing() -> Path:
            if self._regular_file(source) is None:
                raise FileNotFoundError(source.url())
            return self._path(source)

        src = await self._run(source, False, existing)

        def link() -> None:
            dst = self._path(target)
            # a second name for the same (already durable) bytes, swapped in atomically like a write;
            # objects are never written in place, so neither name can change under the other
            tmp = dst.parent / f"{_TMP_PREFIX}{os.urandom(8).hex()}"
            try:
                _in_directory(dst.parent, lambda: os.link(src, tmp))
            except OSError:
                # a filesystem without hard links, or the names on two filesystems: copy the bytes
                self._write(target, lambda out: out.write(src.read_bytes()))
                return
            try:
                os.replace(tmp, dst)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

        await self._run(target, True, link)

    async def put_bytes(self, ref: ObjectRef, data: bytes, content_type: str) -> None:
        await self._run(ref, True, lambda: self._write(ref, lambda dst: dst.write(data)))

    async def exists(self, ref: ObjectRef) -> bool:
        return await self._run(ref, False, lambda: self._regular_file(ref) is not None)

    async def size(self, ref: ObjectRef) -> int:
        def size() -> int:
            st = self._regular_file(ref)
            if st is None:
                raise FileNotFoundError(ref.url())
            return st.st_size

        return await self._run(ref, False, size)

    async def delete(self, ref: ObjectRef) -> None:
        def delete() -> None:
            path = self._path(ref)
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                path.unlink()
            # a store has no folders of its own: the directories the object's key made go with their
            # last object, so a scratch folder's thousands of deleted images leave nothing behind
            bucket_dir = (self._root / ref.bucket).resolve()
            for directory in path.parents:
                if directory == bucket_dir or not directory.is_relative_to(bucket_dir):
                    break
                try:
                    directory.rmdir()
                except OSError:  # not empty (or gone): the ones above it are not empty either
                    break

        await self._run(ref, True, delete)

    async def keys_under(self, bucket: str, prefix: str) -> list[str]:
        folder = ObjectRef(bucket, folder_key(prefix))

        def walk() -> list[str]:
            top = self._path(folder)
            keys = []
            # symlinks are not followed: a link planted in the folder names nothing of this folder's
            for directory, _, names in os.walk(top):
                for name in names:
                    path = os.path.join(directory, name)
                    try:
                        regular = stat.S_ISREG(os.lstat(path).st_mode)
                    except FileNotFoundError:  # deleted since the walk listed it: not an object any more
                        continue
                    if regular and not name.startswith(_TMP_PREFIX):
                        keys.append(prefix + os.path.relpath(path, top).replace(os.sep, "/"))
            return keys

        return await self._run(folder, False, walk)

    async def get_bytes(self, ref: ObjectRef) -> bytes:
        return await self._run(ref, False, lambda: self._path(ref).read_bytes())

    async def readable_source(self, ref: ObjectRef, expires_s: int = DEFAULT_SOURCE_EXPIRES_S) -> str:
        return await self.local_path(ref)

    async def local_path(self, ref: ObjectRef) -> str:
        def source() -> str:
            if self._regular_file(ref) is None:
                raise FileNotFoundError(ref.url())
            return str(self._path(ref))

        return await self._run(ref, False, source)

    async def download_url(self, ref: ObjectRef, expires: int, *, origin: str, cache_control: str | None = None) -> str:
        # The API serves these objects itself (`/files/`), with its own Cache-Control: the signature is
        # the whole of the URL's credential, so nothing here touches the disk.
        if self._signer is None:
            raise InternalError("This local storage was opened without a URL signer: it cannot hand out URLs.")
        return self._signer.url(ref.bucket, ref.key, expires, origin=origin)

    async def aclose(self) -> None:
        """Nothing to release: no connections, no open files between calls."""

    # --- blocking helpers: called only from worker threads -----------------------------------------

    def _path(self, ref: ObjectRef) -> Path:
        problem = bucket_problem(ref.bucket) or key_problem(ref.key)
        if problem:
            raise InvalidParameter(f"Invalid object reference {ref.url()!r}: {problem}")
        bucket_dir = (self._root / ref.bucket).resolve()
        path = (bucket_dir / ref.key).resolve()
        # The key checks already refuse '..'; this catches symlinks planted inside the tree.
        if not path.is_relative_to(bucket_dir) or path == bucket_dir:
            raise InvalidParameter(f"Invalid object reference {ref.url()!r}: it leaves the bucket directory.")
        return path

    def _regular_file(self, ref: ObjectRef) -> os.stat_result | None:
        try:
            st = self._path(ref).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st if stat.S_ISREG(st.st_mode) else None

    def _write(self, ref: ObjectRef, fill: Callable[[IO[bytes]], object]) -> None:
        path = self._path(ref)
        # Same directory as the target, so os.replace is a rename on one filesystem: atomic.
        fd, tmp = _temp_file_in(path.parent)
        try:
            # mkstemp makes the file 0600; a stored object gets the mode any new file gets here (0666
            # less the umask), so a web server or another user of the directory can read it as usual
            os.fchmod(fd, self._file_mode)
            with os.fdopen(fd, "wb") as dst:
                fill(dst)
                dst.flush()
                # Durable before visible: a crash must not leave an empty file under the final name.
                os.fsync(dst.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def _run(self, ref: ObjectRef, writing: bool, fn: Callable[[], T]) -> T:
        with _translate(ref, writing):
            return await asyncio.to_thread(fn)


def _temp_file_in(directory: Path) -> tuple[int, str]:
    """A new temp file in `directory`, made with its parents."""
    return _in_directory(directory, lambda: tempfile.mkstemp(dir=directory, prefix=_TMP_PREFIX))


def _in_directory(directory: Path, make: Callable[[], T]) -> T:
    """`make()` a file in `directory`, made first with its parents. A delete of a directory's last object
    removes the directory once it is empty, so it can go between the mkdir and the file, or between
    the mkdir's own steps (which then reports it as existing and not a directory): make it again."""
    for attempt in range(1, _MKDIR_ATTEMPTS + 1):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            return make()
        except (FileNotFoundError, FileExistsError):
            if attempt == _MKDIR_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _umask() -> int:
    """The process umask, read without changing it where Linux tells it (os.umask can only swap)."""
    with contextlib.suppress(OSError, StopIteration, ValueError), open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _translate(ref: ObjectRef, writing: bool) -> Iterator[None]:
    """OSError → the service's storage errors, once, here."""
    try:
        yield
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        if writing:
            # The filesystem cannot hold both `a` and `a/b`, which S3 can: refuse rather than clobber.
            raise InvalidParameter(f"Cannot store {ref.url()!r}: it collides with another object's path.") from exc
        raise MediaNotFound(f"The input media file does not exist: {ref.url()}") from exc
    except PermissionError as exc:
        raise StorageAccessDenied(f"Object storage refused access to {ref.url()}") from exc
    except OSError as exc:
        if exc.errno in _REFUSED_NAME_ERRNOS:
            # The file system will never take this name: a permanent failure, not a retry.
            raise InvalidParameter(f"Object storage refuses the name {ref.url()!r}: {exc.strerror}.") from exc
        # Disk full, I/O error, stale NFS handle: infrastructure trouble a retry may outlive.
        log.warning("local storage error on %s: %s", ref.url(), exc)
        raise StorageUnavailable(f"Object storage failed on {ref.url()}: {exc.strerror or exc}") from exc
