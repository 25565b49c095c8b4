"""RangeReader against a real HTTP/1.1 keep-alive server with Range support, and capture() over a URL."""

from __future__ import annotations

import io
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest
from PIL import Image

from service.domain.models import FrameType
from service.errors import MediaContentBad, MediaNotFound
from service.media import range_reader
from service.media.range_reader import RangeReader
from tests import media_factory as mf
from tests.unit.media.conftest import Run


class Stats:
    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.bytes_sent = 0


class RangeHandler(BaseHTTPRequestHandler):
    """Serves files from `root` with single-range support; HTTP/1.1 keeps connections open."""

    protocol_version = "HTTP/1.1"
    root: Path
    stats: Stats

    def setup(self) -> None:
        super().setup()
        self.stats.connections += 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.stats.requests += 1
        path = self.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match is None:
            body, status, extra = data, 200, {}
        else:
            start = int(match.group(1))
            end = min(int(match.group(2) or len(data) - 1), len(data) - 1)
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body, status = data[start : end + 1], 206
            extra = {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        # count before writing: the client may look at the stats as soon as it has the body
        self.stats.bytes_sent += len(body)
        self.wfile.write(body)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s (~4 MB: noisy, so inter frames cost bytes), keyframe every 2 s: one snapshot needs a small part."""
    return mf.make_video(tmp_path_factory.mktemp("http") / "long.mp4", seconds=20, gop=50, noise=True)


@pytest.fixture
def server(long_clip: Path, zero_byte: Path) -> Iterator[tuple[str, Stats]]:
    stats = Stats()
    (long_clip.parent / "empty.mp4").write_bytes(zero_byte.read_bytes())
    handler = type("Handler", (RangeHandler,), {"root": long_clip.parent, "stats": stats})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", stats
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # blocks a quarter of the default exercise block boundaries, read-ahead and eviction on a small file
    monkeypatch.setattr(range_reader, "BLOCK_SIZE", 4 * 1024)


def test_reads_like_a_file(server: tuple[str, Stats], long_clip: Path, small_blocks: None) -> None:
    url, stats = server
    data = long_clip.read_bytes()
    with RangeReader(f"{url}/long.mp4") as reader:
        assert reader.size == len(data)
        assert reader.seekable() and reader.readable()
        assert reader.read(10) == data[:10]
        reader.seek(-100, io.SEEK_END)
        assert reader.read() == data[-100:]
        assert reader.read(5) == b""
        reader.seek(50_000)
        buffer = bytearray(40_000)
        assert reader.readinto(buffer) == 40_000 and bytes(buffer) == data[50_000:90_000]
        assert reader.tell() == 90_000
        reader.seek(100, io.SEEK_SET)
        reader.seek(5, io.SEEK_CUR)
        assert reader.read(3) == data[105:108]
        assert reader.bytes_fetched == stats.bytes_sent
    # all requests went over one keep-alive connection
    assert stats.connections == 1
    assert stats.requests == reader.requests


def test_single_snapshot_over_http_reads_a_small_part(
    run: Run, server: tuple[str, Stats], long_clip: Path, small_blocks: None
) -> None:
    url, stats = server
    result = run(f"{url}/long.mp4", time_ms=11_000)
    assert mf.read_index(mf.load(result.artifacts[0].path)) == 250
    size = long_clip.stat().st_size
    assert 0 < result.bytes_read == stats.bytes_sent
    assert result.bytes_read < size * 0.1, (result.bytes_read, size)
    assert stats.connections == 1
    exact = run(f"{url}/long.mp4", frame_type=FrameType.NORMAL, time_ms=11_000)
    assert exact.images[0].captured_ms == 11_000
    assert exact.bytes_read < size * 0.3, (exact.bytes_read, size)
    assert isinstance(mf.load(exact.artifacts[0].path), Image.Image)


def test_reconnects_when_the_server_drops_the_connection(
    server: tuple[str, Stats], long_clip: Path, small_blocks: None
) -> None:
    url, stats = server
    with RangeReader(f"{url}/long.mp4") as reader:
        assert reader._conn is not None and reader._conn.sock is not None
        # an idle keep-alive connection closed under us, as servers do after their keep-alive timeout
        reader._conn.sock.shutdown(socket.SHUT_RDWR)
        reader.seek(2_000_000)
        assert reader.read(100) == long_clip.read_bytes()[2_000_000:2_000_100]
    assert stats.connections == 2


def test_http_errors(run: Run, server: tuple[str, Stats]) -> None:
    url, _ = server
    with pytest.raises(MediaNotFound, match="404"):
        run(f"{url}/missing.mp4")
    with pytest.raises(MediaContentBad, match="empty"):
        run(f"{url}/empty.mp4")


def _keyframe_packets(path: Path) -> list[tuple[int, int]]:
    """(byte offset, size) of every video keyframe packet, from the container's index."""
    with av.open(str(path)) as container:
        return [
            (packet.pos, packet.size)
            for packet in container.demux(video=0)
            if packet.is_keyframe and packet.size and packet.pos is not None
        ]


def _index_bytes(path: Path) -> int:
    """Size of the mp4's top-level boxes other than the media data (ftyp, moov, free…)."""
    data, offset, total = path.read_bytes(), 0, 0
    while offset + 8 <= len(data):
        size, kind = int.from_bytes(data[offset : offset + 4], "big"), data[offset + 4 : offset + 8]
        size = size or len(data) - offset
        if kind != b"mdat":
            total += size
        offset += size
    return total


def test_keyframe_job_reads_the_keyframe_packets_and_little_else(
    run: Run, server: tuple[str, Stats], long_clip: Path
) -> None:
    url, stats = server
    keyframes = _keyframe_packets(long_clip)
    result = run(f"{url}/long.mp4", time_ms=0, interval_s=2, count=len(keyframes))
    assert result.count == len(keyframes)
    needed = sum(size for _, size in keyframes) + _index_bytes(long_clip)
    # The target: each packet read rounds out by at most 32 KiB in all, the index is read once (+64 KiB).
    allowance = len(keyframes) * 32 * 1024 + 64 * 1024
    assert result.bytes_read == stats.bytes_sent
    assert result.bytes_read <= needed + allowance, (result.bytes_read, needed, long_clip.stat().st_size)
    # One request per keyframe (plus the index), not one per AVIO buffer.
    assert stats.requests <= len(keyframes) + 8, stats.requests
