"""A capture opens Matroska/WebM with FFmpeg's stream-info pass cut to one packet: with audio first, it
reads no video to open, and finds the first frame's time and the duration the full pass (the probe's) finds."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from service.media.source import capture_duration_ms, open_container, open_source
from tests import media_factory as mf
from tests.range_server import serve_directory
from tests.unit.media.conftest import FPS, GOP

#: the clips' first frame: at 3 s (Matroska's time base is 1 ms)
START_PTS = 3000


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`cued.mkv`: first frame at 3 s, 720p noise (keyframes larger than header and cues), with audio;
    `live.mkv`: its video as a recorder writes it, without cues or duration tag; `cut.mkv`: its video
    from the second frame on, so that the track starts on a frame no keyframe precedes."""
    root = tmp_path_factory.mktemp("light")
    cued = mf.make_video(
        root / "cued.mkv", seconds=3, gop=GOP, start_frames=3 * FPS, size=(1280, 720), audio=True, noise=True
    )
    mf.remux(cued, root / "live.mkv", {"live": "1"})
    mf.remux(cued, root / "cut.mkv", skip_packets=1)
    return root


@pytest.mark.parametrize("name", ["cued.mkv", "live.mkv"])
def test_the_first_frame_and_duration_are_the_full_passes(clips: Path, name: str) -> None:
    with av.open(str(clips / name)) as plain:
        assert plain.streams.video[0].start_time == START_PTS
    container, reader = open_container(str(clips / name), every_stream=True)
    with container, reader:
        full_ms = capture_duration_ms(container, container.streams.video[0])
    with open_source(str(clips / name)) as src:
        assert src.container.container_options.get("probesize") == "32", "not the light open"
        assert (src.start_pts, src.duration_ms) == (START_PTS, full_ms)
        assert full_ms == 3000


def test_a_track_starting_before_its_first_keyframe_is_timed_from_it(clips: Path) -> None:
    """Frames no keyframe precedes cannot be decoded: both opens count from the first keyframe."""
    with av.open(str(clips / "cut.mkv")) as plain:
        packets = list(plain.demux(plain.streams.video[0]))
        keyframe = next(p.pts for p in packets if p.is_keyframe)
        assert plain.streams.video[0].start_time < keyframe
    container, reader = open_container(str(clips / "cut.mkv"), every_stream=True)
    with container, reader:
        full_ms = capture_duration_ms(container, container.streams.video[0])
    with open_source(str(clips / "cut.mkv")) as src:
        assert src.start_pts == keyframe == START_PTS + GOP * 1000 // FPS
        assert src.duration_ms == full_ms == 3000 - GOP * 1000 // FPS


def test_over_http_the_open_reads_no_video_packet(clips: Path) -> None:
    """The full pass decodes the first keyframe: more than the header, cues, track tag and the first audio
    packet (the first packet of `cued.mkv`) together."""
    with av.open(str(clips / "cued.mkv")) as plain:
        assert next(plain.demux()).stream.type == "audio"
        plain.seek(0)
        keyframe = next(p.size for p in plain.demux(plain.streams.video[0]) if p.is_keyframe)
    with serve_directory(clips) as base:
        with open_source(f"{base}/cued.mkv") as src:
            light = src.bytes_read
        container, reader = open_container(f"{base}/cued.mkv", every_stream=True)
        container.close()
        reader.close()
    assert light < keyframe <= reader.bytes_fetched, (light, keyframe, reader.bytes_fetched)


def test_mp4_keeps_the_pass(tmp_path: Path) -> None:
    """The light open is for Matroska only: an mp4's header gives no pixel format, nor an MPEG-TS its streams."""
    mp4 = mf.make_video(tmp_path / "a.mp4", seconds=1)
    with open_source(str(mp4)) as src:
        assert "probesize" not in src.container.container_options
