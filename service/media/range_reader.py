"""A seekable, read-only file object over HTTP range requests, handed to `av.open(fileobj)`.

One persistent keep-alive connection per job (reconnected when the server drops it), fixed-size blocks
fetched with `Range: bytes=a-b`, a small LRU block cache (FFmpeg re-reads the moov and index regions) and
read-ahead that grows while reads are sequential. `bytes_fetched` counts body bytes received.

Why small blocks and length-aware fetches: when the demuxer wants a whole packet, FFmpeg's AVIO bypasses
its buffer and asks for exactly the packet's length in one read. A keyframe snapshot is one such read after
a seek, so the reader fetches the blocks that read covers in one request and nothing past them; the block
size only bounds the over-read at the edges. Sequential reads (demuxing forward in `normal` mode) still
grow the read-ahead so long runs cost few requests.
"""

from __future__ import annotations

import http.client
import io
import re
from collections import OrderedDict
from urllib.parse import urlsplit

from service.errors import BlockedAddress, MediaContentBad, MediaNotFound, StorageUnavailable
from service.net.ssrf import check_address, parse_allow_list

#: 16 KiB: the over-read at each edge of a packet read
BLOCK_SIZE = 16 * 1024
#: FFmpeg's AVIO buffer for a reader-backed container (PyAV's default is 32 KiB). A packet larger than
#: the buffer is read in one call of exactly its size, so a small buffer keeps a keyframe read exact.
AVIO_BUFFER_SIZE = 8 * 1024
#: 8 MiB of cache, enough for a moov/index region plus the current GOP
CACHE_BYTES = 8 * 1024 * 1024
#: read-ahead cap while reads stay sequential (bytes per request)
MAX_READAHEAD_BYTES = 2 * 1024 * 1024
#: a dropped keep-alive connection is reopened this many times per request
RETRIES = 2


def fetch_span(
    index: int,
    wanted_last: int,
    last_block: int,
    readahead: int,
    *,
    max_readahead: int,
    cache_blocks: int,
    total_blocks: int,
    until: int | None = None,
) -> tuple[int, int]:
    """The one read policy, for the reader and for plans that predict its bytes (`media/plan.py`): block
    `index` is missing and the caller reads through block `wanted_last`; after `last_block` was the last
    fetched, with `readahead`. Returns (blocks to fetch from `index`, the read-ahead now). Sequential reads
    (demuxing forward) double the read-ahead, a jump (a seek) resets it; never more than the cache keeps.
    `until`: no block from this one on is read ahead (what is asked for still is), once past it no limit."""
    readahead = min(readahead * 2, max_readahead) if index == last_block + 1 else 1
    ahead = readahead if until is None or until <= index else min(readahead, until - index)
    span = min(max(ahead, wanted_last - index + 1), cache_blocks)
    return min(index + span, total_blocks) - index, readahead


def fence_block(position: int | None, block: int) -> int | None:
    """The first block wholly at or after byte `position`: `fetch_span`'s `until`."""
    return None if position is None else -(-position // block)


_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")
_RESET_ERRORS = (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine, TimeoutError)


class RangeReader(io.RawIOBase):
    """File-like view of an HTTP(S) object; the first ranged GET learns its size."""

    def __init__(
        self,
        url: str,
        *,
        block_size: int | None = None,
        cache_bytes: int = CACHE_BYTES,
        timeout: float = 30.0,
        ssrf_allow: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__()
        self._url = url
        # None: a URL of our own storage. Otherwise every peer we connect to passes the SSRF guard,
        # checked on the connected socket itself so DNS rebinding cannot slip past a prior lookup.
        self._guard = parse_allow_list(",".join(ssrf_allow)) if ssrf_allow is not None else None
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        # read at call time so tests (and tuning) can change the module default
        self._block = block_size or BLOCK_SIZE
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_blocks = max(1, cache_bytes // self._block)
        self._max_readahead = max(1, MAX_READAHEAD_BYTES // self._block)
        self._pos = 0
        self._last_block = -2
        self._readahead = 1
        #: byte position reads ahead stop at (`limit_readahead`)
        self._fence: int | None = None
        self.bytes_fetched = 0
        self._fetched: set[int] = set()
        self.requests = 0
        self.connections = 0
        self.size = 0
        self.size = self._fetch_first()

    # --- HTTP -------------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self._timeout)
            if self._guard is not None:
                conn.connect()
                try:
                    check_address(conn.sock.getpeername()[0], self._guard, self._url)
                except BlockedAddress:
                    conn.close()
                    raise
            self._conn = conn
            self.connections += 1
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _get(self, start: int, end: int) -> tuple[int, bytes, int | None]:
        """GET bytes [start, end]; returns (status, body, total size if the server said)."""
        for attempt in range(RETRIES + 1):
            try:
                conn = self._connection()
                conn.request("GET", self._path, headers={"Range": f"bytes={start}-{end}"})
                resp = conn.getresponse()
                body = resp.read()
                break
            except _RESET_ERRORS as exc:
                # keep-alive connection closed by the server between requests: reconnect and retry
                self._drop_connection()
                if attempt == RETRIES:
                    raise StorageUnavailable(f"The input media server did not answer: {type(exc).__name__}.") from None
            except OSError as exc:
                self._drop_connection()
                raise StorageUnavailable(f"The input media server cannot be reached: {exc.strerror}.") from None
        self.requests += 1
        self.bytes_fetched += len(body)
        if resp.will_close:
            self._drop_connection()
        total = None
        match = _CONTENT_RANGE.match(resp.getheader("Content-Range") or "")
        if match and match.group(3) != "*":
            total = int(match.group(3))
        elif resp.status == 200:
            total = len(body)
        return resp.status, body, total

    def _check(self, status: int) -> None:
        if status in (401, 403, 404, 410):
            raise MediaNotFound(f"The input media file does not exist or cannot be read (HTTP {status}).")
        if status >= 500:
            raise StorageUnavailable(f"The input media server failed (HTTP {status}).")
        if status not in (200, 206, 416):
            raise MediaContentBad(f"The input media cannot be fetched (HTTP {status}).")

    def _fetch_first(self) -> int:
        status, body, total = self._get(0, self._block - 1)
        self._check(status)
        if status == 416:
            return total or 0
        if total is None:
            raise MediaContentBad("The input media server did not report the file size.")
        self._store(0, body[: self._block] if status == 206 else body)
        if status == 200:
            # no range support: the whole body came back; keep what fits in the cache
            for i in range(1, min(len(body) // self._block + 1, self._cache_blocks)):
                self._store(i, body[i * self._block : (i + 1) * self._block])
        return total

    def limit_readahead(self, position: int | None) -> None:
        """Read nothing ahead from byte `position` on (None: no limit): where the caller knows its data
        ends, such as the next keyframe's for an exact frame shown before it."""
        self._fence = position

    @property
    def block_size(self) -> int:
        return self._block

    @property
    def blocks_fetched(self) -> frozenset[int]:
        """Every block fetched so far (what a plan counts as read already after the open)."""
        return frozenset(self._fetched)

    def _store(self, index: int, data: bytes) -> None:
        self._fetched.add(index)
        self._cache[index] = data
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_blocks:
            self._cache.popitem(last=False)

    def _load(self, index: int, wanted_last: int) -> bytes:
        """Block `index`, fetching it with at least the blocks up to `wanted_last` the caller reads next."""
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        span, self._readahead = fetch_span(
            index,
            wanted_last,
            self._last_block,
            self._readahead,
            max_readahead=self._max_readahead,
            cache_blocks=self._cache_blocks,
            total_blocks=(self.size - 1) // self._block + 1,
            until=fence_block(self._fence, self._block),
        )
        last = index + span
        start, end = index * self._block, min(last * self._block, self.size) - 1
        status, body, _ = self._get(start, end)
        self._check(status)
        if status == 200:
            body = body[start : end + 1]
        for i in range(index, last):
            self._store(i, body[(i - index) * self._block : (i - index + 1) * self._block])
        self._last_block = last - 1
        return self._cache[index] if index in self._cache else body[: self._block]

    # --- file object ------------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        elif whence == io.SEEK_END:
            self._pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        self._pos = max(self._pos, 0)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        wanted_last = (min(self._pos + len(view), self.size) - 1) // self._block
        while done < len(view) and self._pos < self.size:
            index, offset = divmod(self._pos, self._block)
            block = self._load(index, wanted_last)
            chunk = block[offset : offset + len(view) - done]
            if not chunk:
                break
            view[done : done + len(chunk)] = chunk
            done += len(chunk)
            self._pos += len(chunk)
        return done

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(self.size - self._pos, 0)
        buffer = bytearray(size)
        n = self.readinto(buffer)
        return bytes(buffer[:n])

    def close(self) -> None:
        self._drop_connection()
        self._cache.clear()
        super().close()
