"""An input opens only the one object asked for: nothing a file names is followed, no socket is opened.

Each attack is shown to work against a plain `av.open` first (the control), so the test keeps proving
something if FFmpeg's defaults change.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import av
import pytest

from service.domain.models import CaptureSpec, SnapshotConfig
from service.errors import MediaContentBad
from service.media.capture import capture
from service.media.source import SUPPORTED_DEMUXERS
from tests import media_factory as mf
from tests.conftest import free_port
from tests.range_server import serve_directory

LOOPBACK = ("127.0.0.0/8",)


def playlist(segment: str) -> str:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{segment}\n#EXT-X-ENDLIST\n"


@pytest.fixture(scope="module")
def secret_ts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A video outside the storage root, as MPEG-TS (what an HLS playlist would list)."""
    outside = tmp_path_factory.mktemp("outside")
    mp4 = mf.make_video(outside / "secret.mp4", seconds=2, gop=25)
    ts = outside / "secret.ts"
    with av.open(str(mp4)) as source, av.open(str(ts), "w") as sink:
        stream = sink.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                sink.mux(packet)
    return ts


def _spec(source: str, scratch: Path, ssrf_allow: tuple[str, ...] | None = None) -> CaptureSpec:
    return CaptureSpec(source, SnapshotConfig(), "out.jpg", str(scratch), ssrf_allow=ssrf_allow)


def _frames_when_followed(path: Path) -> int:
    """The control: what FFmpeg does with the file when nothing restricts it."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("name", ["evil.m3u8", "evil.mp4"])
@pytest.mark.parametrize("how", ["relative", "file-url"])
def test_a_playlist_in_the_store_cannot_read_outside_it(tmp_path: Path, secret_ts: Path, name: str, how: str) -> None:
    bucket = tmp_path / "root" / "media"
    bucket.mkdir(parents=True)
    target = os.path.relpath(secret_ts, bucket) if how == "relative" else secret_ts.as_uri()
    evil = bucket / name
    evil.write_text(playlist(target))
    if name.endswith(".m3u8"):
        assert _frames_when_followed(evil) > 0, "control: plain FFmpeg follows the playlist"

    with pytest.raises(MediaContentBad):
        capture(_spec(str(evil), tmp_path))


def test_a_playlist_over_http_cannot_name_another_object(tmp_path: Path, secret_ts: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "secret.ts").write_bytes(secret_ts.read_bytes())
    (tmp_path / "site" / "evil.m3u8").write_text(playlist("secret.ts"))
    with serve_directory(tmp_path / "site") as url, pytest.raises(MediaContentBad):
        capture(_spec(f"{url}/evil.m3u8", tmp_path, LOOPBACK))


def test_every_supported_demuxer_exists_in_this_ffmpeg() -> None:
    assert set(SUPPORTED_DEMUXERS) - set(av.formats_available) == set()


def test_a_still_image_is_an_input(tmp_path: Path) -> None:
    png = tmp_path / "still.png"
    mf.frame_image(37).save(png)
    result = capture(_spec(str(png), tmp_path))
    assert result.count == 1
    assert mf.read_index(mf.load(result.artifacts[0].path)) == 37


# --- sockets -------------------------------------------------------------------------------------

SDP = """v=0
o=- 0 0 IN IP4 127.0.0.1
s=probe
c=IN IP4 127.0.0.1
t=0 0
m=video {port} RTP/AVP 96
a=rtpmap:96 H264/90000
"""

CHILD = textwrap.dedent(
    """
    import sys
    from service.domain.models import CaptureSpec, SnapshotConfig
    from service.errors import ServiceError
    from service.media.capture import capture
    try:
        capture(CaptureSpec(sys.argv[1], SnapshotConfig(), "o.jpg", sys.argv[2], ssrf_allow=("127.0.0.0/8",)))
        print("captured")
    except ServiceError as exc:
        print(exc.code)
    """
)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        pass
    return inodes


def _udp_inodes(pid: int) -> set[str]:
    found = set()
    for table in ("udp", "udp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as handle:
                found |= {line.split()[9] for line in handle.readlines()[1:]}
        except OSError:
            pass
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc to watch the capture's sockets")
def test_an_sdp_input_opens_no_socket_and_fails_at_once(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "stream.sdp").write_text(SDP.format(port=free_port()))
    with serve_directory(tmp_path / "site") as url:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, f"{url}/stream.sdp", str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[3],
        )
        sockets: set[str] = set()
        udp: set[str] = set()
        started = time.monotonic()
        while child.poll() is None:
            seen = _socket_inodes(child.pid)
            sockets |= seen
            udp |= seen & _udp_inodes(child.pid)
            time.sleep(0.002)
        out, _ = child.communicate()
        elapsed = time.monotonic() - started

    assert out.strip() == "InvalidParameter.ResourceContentBad"
    assert udp == set(), "the capture bound UDP sockets for the SDP's streams"
    # the only socket is the input's own HTTP connection (the range reader keeps one alive)
    assert len(sockets) <= 1
    assert elapsed < 5
