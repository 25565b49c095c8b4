"""Keyframes that end as thumbnails only decode without the deblocking filter: which captures qualify, and
that their images stay what the full decode gives (to well under one level in the mean)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from service.domain.models import CaptureSpec, FrameType, SnapshotConfig, SnapshotType, SpriteConfig
from service.media import capture as capture_module
from service.media.capture import decodes_as_thumbnails, make_sink
from service.media.source import open_source
from tests import media_factory as mf
from tests.unit.media.conftest import Run

#: the clips are 320x180: a quarter of the shorter side is 45
SPRITE = SpriteConfig(columns=5, lines=2)


def qualifies(clip: Path, tmp_path: Path, **config: Any) -> bool:
    """For a series of 3 images from 0 s (a single image at 0 s has a black-frame rule of its own)."""
    spec = CaptureSpec(
        str(clip), SnapshotConfig(**{"count": 3, "interval_s": 2, **config}), "out/{Count}.jpg", str(tmp_path)
    )
    with open_source(str(clip)) as src:
        return decodes_as_thumbnails(src, spec, make_sink(spec, str(tmp_path)))


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"width": 44, "height": 24}, True),
        ({"width": 24}, True),  # 24x14, or 24x42 if the frame is turned
        ({"height": 24}, True),  # 42x24, or 14x24 turned
        ({"height": 26}, False),  # 46x26: over a quarter of the shorter side, 180
        ({"width": 46, "height": 24}, False),
        ({"width": 60, "type": SnapshotType.SPRITE, "sprite": SpriteConfig(cell_width=40, cell_height=22)}, True),
        ({"width": 60, "type": SnapshotType.SPRITE, "sprite": SpriteConfig()}, False),  # cells of 60x34
        ({}, False),  # the frame's own size
        ({"width": 40, "height": 22, "frame_type": FrameType.NORMAL}, False),  # frames predicted from others
        ({"width": 40, "height": 22, "black_level": 30}, False),  # the black rule decodes forward
        ({"width": 40, "height": 22, "count": 1}, False),  # so does the one a single image at 0 s has
    ],
)
def test_which_captures_decode_as_thumbnails(
    h264: Path, tmp_path: Path, config: dict[str, Any], expected: bool
) -> None:
    assert qualifies(h264, tmp_path, **config) is expected


def test_a_turned_frame_counts_both_ways(rotated: Path, tmp_path: Path) -> None:
    """Coded 320x180 shown 180x320: Width 24 is 24x42 on screen (45 at most)."""
    assert qualifies(rotated, tmp_path, width=24)
    assert not qualifies(rotated, tmp_path, width=26)


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def test_a_sprite_without_the_filter_matches_the_full_decode(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = mf.make_video(tmp_path / "noisy.mp4", seconds=10, gop=25, noise=True)
    sprite = {"type": SnapshotType.SPRITE, "count": 10, "interval_s": 1, "width": 40, "height": 22, "sprite": SPRITE}
    fast = run(clip, "fast/{TileCount}.jpg", **sprite)
    monkeypatch.setattr(capture_module, "THUMBNAIL_SHARE", 0.0)
    full = run(clip, "full/{TileCount}.jpg", **sprite)
    assert [i.captured_ms for i in fast.images] == [i.captured_ms for i in full.images]
    fast_sheet, full_sheet = mf.load(fast.artifacts[0].path), mf.load(full.artifacts[0].path)
    difference = mean_difference(fast_sheet, full_sheet)
    # the filter was off (the images differ), and it shows less than JPEG's own error does
    assert 0 < difference < 1.0, difference
    assert [mf.read_index(fast_sheet, (i.x, i.y, i.width, i.height)) for i in fast.images] == list(range(0, 250, 25))
