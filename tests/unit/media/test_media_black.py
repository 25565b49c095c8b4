"""Black-frame filtering (ICE/MPS BlackLevel, PixelBlackThreshold) and the every-image extension."""

from __future__ import annotations

from pathlib import Path

from service.domain.models import FrameType
from tests.media_factory import load, read_index
from tests.unit.media.conftest import FPS, Run

BLACK_FRAMES = 2 * FPS


def first(result_path: str) -> int:
    return read_index(load(result_path))


def test_first_image_skips_the_black_intro(run: Run, black_intro: Path) -> None:
    result = run(
        black_intro, frame_type=FrameType.NORMAL, count=3, interval_s=3, black_level=90, pixel_black_threshold=40
    )
    assert first(result.artifacts[0].path) == BLACK_FRAMES
    assert result.images[0].requested_ms == 0
    assert result.images[0].captured_ms == 2000
    # only the first image is filtered: the others are where they were asked for
    assert [first(a.path) for a in result.artifacts[1:]] == [75, 150]


def test_no_filter_without_black_level_or_with_time(run: Run, black_intro: Path) -> None:
    plain = run(black_intro, frame_type=FrameType.NORMAL, count=2, interval_s=3)
    assert plain.images[0].captured_ms == 0
    late = run(black_intro, frame_type=FrameType.NORMAL, time_ms=40, count=2, interval_s=1, black_level=30)
    assert late.images[0].captured_ms == 40


def test_single_snapshot_at_zero_is_always_filtered(run: Run, black_intro: Path) -> None:
    result = run(black_intro)
    assert result.images[0].captured_ms == 2000
    assert first(result.artifacts[0].path) == BLACK_FRAMES


def test_intra_first_image_is_filtered_too(run: Run, black_intro: Path) -> None:
    result = run(black_intro, count=2, interval_s=4, black_level=100)
    assert [i.captured_ms for i in result.images] == [2000, 4000]


def test_filter_all_replaces_black_images_within_half_an_interval(run: Run, black_intro: Path) -> None:
    result = run(black_intro, frame_type=FrameType.NORMAL, time_ms=1200, count=3, interval_s=2, black_filter_all=True)
    # 1.2 s is black; the nearest non-black frame within ±1 s is the first one after the intro
    assert [i.captured_ms for i in result.images] == [2000, 3200, 5200]
    narrow = run(black_intro, frame_type=FrameType.NORMAL, time_ms=500, count=2, interval_s=1, black_filter_all=True)
    # within 0.5 s of 0.5 s and 1.5 s nothing is lit: the black frames stay
    assert [i.captured_ms for i in narrow.images] == [480, 1480]


def test_black_share_measure(black_intro: Path) -> None:
    import av

    from service.media.black import black_share

    with av.open(str(black_intro)) as container:
        frames = [f for _, f in zip(range(BLACK_FRAMES + 1), container.decode(video=0), strict=False)]
    assert black_share(frames[0], 32) == 1.0
    # the indexed frame: gray background plus black bit blocks, far from all black
    assert black_share(frames[BLACK_FRAMES], 32) < 0.6
