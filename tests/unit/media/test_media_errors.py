"""Every bad input becomes one service error with a readable message, and it survives pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import av
import pytest

from service.domain.models import CaptureSpec, FrameType, SnapshotConfig
from service.errors import CaptureOutOfRange, MediaContentBad, MediaError, MediaNotFound, MediaTooLarge
from service.media.capture import capture
from tests.media_factory import codec_available, load, make_video, read_index
from tests.unit.media.conftest import Run


@pytest.mark.parametrize(
    ("clip", "error", "words"),
    [
        ("zero_byte", MediaContentBad, "empty"),
        ("corrupt", MediaContentBad, "cannot be decoded"),
        ("audio_only", MediaContentBad, "no video"),
        ("truncated_moov_at_end", MediaContentBad, "cannot be decoded"),
    ],
)
def test_bad_content(run: Run, clip: str, error: type[MediaError], words: str, request: pytest.FixtureRequest) -> None:
    with pytest.raises(error) as caught:
        run(request.getfixturevalue(clip))
    assert type(caught.value) is error
    assert words in caught.value.message
    # crosses the process boundary intact
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is error and again.message == caught.value.message
    assert again.code == "InvalidParameter.ResourceContentBad"


def test_missing_file(run: Run, tmp_path: Path) -> None:
    with pytest.raises(MediaNotFound) as caught:
        run(tmp_path / "nope.mp4")
    assert caught.value.code == "InvalidParameter.ResourceNotFound"


def test_frame_too_large(run: Run, h264: Path) -> None:
    with pytest.raises(MediaTooLarge, match="320x180"):
        run(h264, spec={"max_input_pixels": 320 * 179})
    assert run(h264, spec={"max_input_pixels": 320 * 180}).count == 1


@pytest.mark.parametrize("frame_type", [FrameType.INTRA, FrameType.NORMAL])
def test_a_stream_growing_past_the_limit_at_a_later_keyframe_is_too_large(
    run: Run, tmp_path: Path, frame_type: FrameType
) -> None:
    """VP9 may change its frame size at any keyframe: 2 s at 80x45 (the size its header states), then 2 s
    at 320x180. The open passes the limit, the first decoded frame of the larger part does not."""
    if not codec_available("libvpx-vp9"):
        pytest.skip("this FFmpeg build has no libvpx-vp9")
    small = make_video(tmp_path / "small.webm", codec="libvpx-vp9", seconds=2, size=(80, 45))
    large = make_video(tmp_path / "large.webm", codec="libvpx-vp9", seconds=2, size=(320, 180))
    growing = tmp_path / "growing.webm"
    with av.open(str(small)) as first, av.open(str(large)) as second, av.open(str(growing), "w") as out:
        stream = out.add_stream_from_template(first.streams.video[0])
        shift = 0
        for part in (first, second):
            last = 0
            for packet in part.demux(part.streams.video[0]):
                if packet.size and packet.pts is not None:
                    last = max(last, packet.pts + (packet.duration or 0))
                    packet.pts += shift
                    packet.dts = packet.pts
                    packet.stream = stream
                    out.mux(packet)
            shift += last
    limit = {"max_input_pixels": 80 * 45 * 2}
    assert run(growing, frame_type=frame_type, time_ms=1000, spec=limit).images[0].width == 80
    with pytest.raises(MediaTooLarge, match="320x180"):
        run(growing, frame_type=frame_type, time_ms=3000, spec=limit)


def test_single_snapshot_past_the_end(run: Run, h264: Path) -> None:
    with pytest.raises(CaptureOutOfRange):
        run(h264, time_ms=10_000)
    with pytest.raises(CaptureOutOfRange):
        run(h264, frame_type=FrameType.NORMAL, time_ms=60_000)
    # the last frame (9.96 s) is still inside
    assert run(h264, frame_type=FrameType.NORMAL, time_ms=9_999).images[0].captured_ms == 9960


def test_truncated_file_keeps_what_decodes(run: Run, truncated_faststart: Path) -> None:
    result = run(truncated_faststart, frame_type=FrameType.NORMAL, time_ms=0, count=10, interval_s=1)
    readable = [i.requested_ms for i in result.images]
    assert readable[:2] == [0, 1000]
    assert [read_index(load(a.path)) for a in result.artifacts][:2] == [0, 25]
    assert result.count < 10
    assert {d.reason for d in result.dropped} == {"unreadable"}
    assert [d.index for d in result.dropped] == list(range(result.count, 10))


@pytest.mark.parametrize(
    ("limits", "words"),
    [
        ({"max_input_bytes": 1000}, "bytes"),
        ({"max_duration_ms": 2000}, "lasts"),
        ({"max_input_pixels": 320 * 100}, "pixels"),
    ],
)
def test_input_limits(h264: Path, tmp_path: Path, limits: dict[str, int], words: str) -> None:
    spec = CaptureSpec(str(h264), SnapshotConfig(), "o.jpg", str(tmp_path), **limits)

    with pytest.raises(MediaTooLarge) as caught:
        capture(spec)

    assert words in caught.value.message
    assert caught.value.code == "InvalidParameter.ResourceTooLarge"
