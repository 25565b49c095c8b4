"""RangeReader against a real HTTP/1.1 keep-alive server with Range support, and capture() over a URL."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path

import av
import pytest
from PIL import Image

from service.domain.models import FrameType
from service.errors import MediaContentBad, MediaNotFound
from service.media import range_reader
from service.media.range_reader import RangeReader
from tests import media_factory as mf
from tests.range_server import Stats, serve_directory
from tests.unit.media.conftest import Run


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s (~4 MB: noisy, so inter frames cost bytes), keyframe every 2 s: one snapshot needs a small part."""
    return mf.make_video(tmp_path_factory.mktemp("http") / "long.mp4", seconds=20, gop=50, noise=True)


@pytest.fixture
def server(long_clip: Path, zero_byte: Path) -> Iterator[tuple[str, Stats]]:
    stats = Stats()
    (long_clip.parent / "empty.mp4").write_bytes(zero_byte.read_bytes())
    with serve_directory(long_clip.parent, stats) as url:
        yield url, stats


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


def test_reads_ahead_stop_at_the_limit_but_asked_for_bytes_do_not(
    server: tuple[str, Stats], long_clip: Path, small_blocks: None
) -> None:
    url, _ = server
    data = long_clip.read_bytes()
    block = range_reader.BLOCK_SIZE
    with RangeReader(f"{url}/long.mp4") as reader:
        reader.limit_readahead(20 * block + 100)
        reader.seek(4 * block)
        while reader.tell() < 20 * block:  # sequential small reads: the read-ahead grows to 16 blocks
            reader.read(1000)
        # the read-ahead stopped at the block holding the limit
        assert max(reader.blocks_fetched) == 20
        reader.seek(21 * block)
        assert reader.read(3 * block) == data[21 * block : 24 * block]  # past it: what is asked for
        assert max(reader.blocks_fetched) >= 23
        reader.limit_readahead(None)


def test_an_exact_frame_reads_nothing_from_the_next_keyframe_on(run: Run, tmp_path: Path) -> None:
    """Matroska, whose cues give each keyframe's cluster: an exact frame late in a GOP fetches no block between
    the next keyframe's cluster and the cues at the end (the demuxer's read-ahead would)."""
    clip = mf.make_video(tmp_path / "noisy.mkv", seconds=6, gop=50, size=(640, 360), noise=True)
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        container.seek(0, stream=stream)
        clusters = [e.pos for e in stream.index_entries]
    assert len(clusters) == 3  # keyframes at 0, 2 and 4 s
    stats = Stats()
    fetched: list[frozenset[int]] = []
    real_close = RangeReader.close

    def close(self: RangeReader) -> None:
        fetched.append(self.blocks_fetched)
        real_close(self)

    with serve_directory(tmp_path, stats) as url, pytest.MonkeyPatch.context() as patch:
        patch.setattr(RangeReader, "close", close)
        result = run(f"{url}/noisy.mkv", frame_type=FrameType.NORMAL, time_ms=3_520)
    assert result.images[0].captured_ms == 3_520
    block = range_reader.BLOCK_SIZE
    after = set(range(-(-clusters[2] // block), clusters[2] // block + 8))
    assert fetched and not fetched[-1] & after, sorted(fetched[-1] & after)
