"""Normal snapshots: which frame is captured (read back from the JPEG pixels), timing, sizes, naming."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from service.domain.models import CaptureResult, FrameType
from tests.media_factory import load, read_index
from tests.unit.media.conftest import FPS, FRAME_MS, GOP, Run

KEY_MS = GOP * FRAME_MS


def shown(result: CaptureResult) -> list[int]:
    """Frame index shown in each output image."""
    return [read_index(load(a.path)) for a in result.artifacts]


def test_normal_captures_the_frame_displayed_at_each_time(run: Run, h264: Path) -> None:
    times = [0, 1234, 1999, 2000, 2041, 7777, 9990]
    results = [run(h264, frame_type=FrameType.NORMAL, time_ms=t) for t in times]
    expected = [t // FRAME_MS for t in times]
    assert [shown(r)[0] for r in results] == expected
    assert [r.images[0].captured_ms for r in results] == [i * FRAME_MS for i in expected]
    assert [r.images[0].keyframe for r in results] == [True, False, False, True, False, False, False]


def test_normal_series_decodes_forward_within_a_gop(run: Run, h264: Path) -> None:
    result = run(h264, frame_type=FrameType.NORMAL, time_ms=100, count=9, interval_s=1)
    assert shown(result) == [(100 + k * 1000) // FRAME_MS for k in range(9)]
    assert [i.requested_ms for i in result.images] == [100 + k * 1000 for k in range(9)]
    # 9 targets spread over 10 s never need more than the frames up to the last one
    assert result.frames_decoded <= 9.2 * FPS + 3


def test_normal_sparse_targets_seek_instead_of_decoding_everything(run: Run, h264: Path) -> None:
    result = run(h264, frame_type=FrameType.NORMAL, time_ms=500, count=3, interval_s=4)
    assert shown(result) == [12, 112, 212]
    # each target costs at most its GOP prefix (+ decoder delay), not the whole clip
    assert result.frames_decoded <= 3 * (13 + 4)


def test_intra_takes_the_keyframe_at_or_before_and_drops_repeats(run: Run, h264: Path) -> None:
    result = run(h264, time_ms=500, count=12, interval_s=1)
    # keyframes every 2 s: slots at 0.5/1.5 s share the keyframe at 0, and so on
    assert shown(result) == [0, 50, 100, 150, 200]
    assert [i.captured_ms for i in result.images] == [0, 2000, 4000, 6000, 8000]
    assert [i.requested_ms for i in result.images] == [500, 2500, 4500, 6500, 8500]
    assert all(i.keyframe for i in result.images)
    assert result.count == 5
    assert [(d.index, d.reason) for d in result.dropped] == [
        (1, "no_keyframe"),
        (3, "no_keyframe"),
        (5, "no_keyframe"),
        (7, "no_keyframe"),
        (9, "no_keyframe"),
        (10, "past_end"),
        (11, "past_end"),
    ]
    # keyframe-pkt: one frame decoded per distinct keyframe, repeats are not decoded again
    assert result.frames_decoded == 5


def test_intra_target_just_before_a_keyframe(run: Run, h264: Path) -> None:
    # 1990 ms: the B-frame delay puts the 2 s keyframe's dts before 1990; the frame shown is still key 0
    result = run(h264, time_ms=KEY_MS - 10)
    assert shown(result) == [0]
    assert result.images[0].captured_ms == 0


def test_start_offset_is_relative_to_the_first_frame(run: Run, offset_mkv: Path) -> None:
    result = run(offset_mkv, frame_type=FrameType.NORMAL, time_ms=1000, count=3, interval_s=4)
    assert result.duration_ms == 10_000
    assert shown(result) == [25, 125, 225]
    assert [i.captured_ms for i in result.images] == [1000, 5000, 9000]
    intra = run(offset_mkv, time_ms=3000)
    assert shown(intra) == [50]
    assert intra.images[0].captured_ms == 2000


def test_count_without_interval_spreads_evenly(run: Run, h264: Path) -> None:
    result = run(h264, frame_type=FrameType.NORMAL, count=4)
    assert [i.requested_ms for i in result.images] == [0, 2500, 5000, 7500]
    assert shown(result) == [0, 62, 125, 187]


def test_targets_past_the_end_are_dropped(run: Run, h264: Path) -> None:
    result = run(h264, frame_type=FrameType.NORMAL, time_ms=6000, count=5, interval_s=2)
    assert result.count == 2
    assert [(d.index, d.requested_ms, d.reason) for d in result.dropped] == [
        (2, 10_000, "past_end"),
        (3, 12_000, "past_end"),
        (4, 14_000, "past_end"),
    ]
    assert [a.key for a in result.artifacts] == ["out/00001.jpg", "out/00002.jpg"]


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (None, None, (320, 180)),
        (160, None, (160, 90)),
        (None, 90, (160, 90)),
        (100, None, (100, 56)),
        (64, 64, (64, 64)),
    ],
)
def test_output_size_keeps_the_aspect_ratio(
    run: Run, h264: Path, width: int | None, height: int | None, expected: tuple[int, int]
) -> None:
    result = run(h264, time_ms=4000, width=width, height=height)
    assert (result.images[0].width, result.images[0].height) == expected
    with Image.open(result.artifacts[0].path) as image:
        assert image.size == expected
        assert image.format == "JPEG"
    if width != height:
        assert read_index(load(result.artifacts[0].path)) == 100


def test_rotation_gives_a_portrait_picture_turned_clockwise(run: Run, rotated: Path) -> None:
    result = run(rotated, frame_type=FrameType.NORMAL, time_ms=1000)
    with Image.open(result.artifacts[0].path) as image:
        assert image.size == (180, 320)
        # undo the clockwise quarter turn and the frame index reads back
        assert read_index(image.transpose(Image.Transpose.ROTATE_90)) == 25
    assert (result.images[0].width, result.images[0].height) == (180, 320)
    sized = run(rotated, time_ms=0, width=90)
    assert (sized.images[0].width, sized.images[0].height) == (90, 160)


@pytest.mark.parametrize("clip", ["hevc", "vp9"])
def test_other_codecs(run: Run, clip: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(clip)
    exact = run(path, frame_type=FrameType.NORMAL, time_ms=2500, count=2, interval_s=1)
    assert shown(exact) == [62, 87]
    intra = run(path, time_ms=3500)
    assert shown(intra) == [50]
    assert intra.images[0].keyframe


def test_single_image_without_placeholder_keeps_the_key(run: Run, h264: Path) -> None:
    result = run(h264, output_key="thumbs/cover.jpg", time_ms=3000)
    assert [a.key for a in result.artifacts] == ["thumbs/cover.jpg"]
    assert result.artifacts[0].content_type == "image/jpeg"
    assert result.artifacts[0].bytes == Path(result.artifacts[0].path).stat().st_size == result.images[0].bytes


def test_count_placeholder_is_five_digits(run: Run, h264: Path) -> None:
    result = run(h264, output_key="a/{Count}/shot-{Count}.jpg", frame_type=FrameType.NORMAL, count=3, interval_s=3)
    assert [a.key for a in result.artifacts] == [f"a/0000{n}/shot-0000{n}.jpg" for n in (1, 2, 3)]
    assert [i.key for i in result.images] == [a.key for a in result.artifacts]


def test_jpeg_quality_is_applied(run: Run, h264: Path) -> None:
    low = run(h264, time_ms=4000, spec={"jpeg_quality": 20})
    high = run(h264, time_ms=4000, spec={"jpeg_quality": 95})
    assert low.artifacts[0].bytes < high.artifacts[0].bytes


def test_progress_is_reported(tmp_path: Path, h264: Path) -> None:
    from service.domain.models import CaptureSpec, SnapshotConfig
    from service.media.capture import capture

    calls: list[tuple[int, int]] = []
    spec = CaptureSpec(str(h264), SnapshotConfig(count=3, interval_s=1), "o/{Count}.jpg", str(tmp_path))
    capture(spec, lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
