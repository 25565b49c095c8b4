"""Pure helpers: target planning, placeholders, output sizes, sheet layout."""

from __future__ import annotations

import pytest

from service.domain.models import SnapshotConfig, SpriteConfig
from service.errors import CaptureOutOfRange
from service.media import naming
from service.media.compose import SheetLayout, fit, output_size
from service.media.timing import plan


def test_plan_with_interval_drops_the_tail() -> None:
    targets, dropped = plan(SnapshotConfig(time_ms=1000, count=5, interval_s=3), 10_000)
    assert [t.ms for t in targets] == [1000, 4000, 7000]
    assert [(d.index, d.requested_ms, d.reason) for d in dropped] == [(3, 10_000, "past_end"), (4, 13_000, "past_end")]


def test_plan_spreads_when_interval_is_zero() -> None:
    targets, _ = plan(SnapshotConfig(time_ms=2000, count=4, interval_s=0), 10_000)
    assert [t.ms for t in targets] == [2000, 4000, 6000, 8000]


def test_plan_single_ignores_interval_and_raises_past_end() -> None:
    targets, _ = plan(SnapshotConfig(time_ms=500, count=1, interval_s=5), 10_000)
    assert [t.ms for t in targets] == [500]
    with pytest.raises(CaptureOutOfRange):
        plan(SnapshotConfig(time_ms=10_000), 10_000)


def test_placeholders() -> None:
    assert naming.expand("o/{Count}.jpg", naming.COUNT, 7, 9) == "o/00007.jpg"
    assert naming.expand("o/cover.jpg", naming.COUNT, 1, 1) == "o/cover.jpg"
    assert naming.expand("o/cover.jpg", naming.COUNT, 2, 3) == "o/cover-00002.jpg"
    assert naming.expand("s/{TileCount}.jpg", naming.TILE_COUNT, 12, 12) == "s/00012.jpg"
    assert naming.vtt_image_key("a/b/x.vtt", 3, sheet=True) == (
        "a/b/x/snapshot-tile-00003.jpg",
        "x/snapshot-tile-00003.jpg",
    )
    assert naming.vtt_image_key("x.vtt", 1, sheet=False) == ("x/snapshot-00001.jpg", "x/snapshot-00001.jpg")


def test_sizes() -> None:
    assert output_size((1920, 1080), 135, None) == (135, 76)
    assert output_size((1080, 1920), None, 100) == (56, 100)
    assert fit((160, 90), (100, 100)) == (100, 56)
    assert fit((90, 160), (100, 100)) == (56, 100)


def test_sheet_layout_matches_the_ice_formula() -> None:
    layout = SheetLayout.of(SpriteConfig(columns=8, lines=2, padding=4, margin=8), (135, 76))
    assert layout.size == (8 * 135 + 7 * 4 + 16, 2 * 76 + 4 + 16) == (1124, 172)
    assert layout.cell_origin(0) == (8, 8)
    assert layout.cell_origin(9) == (8 + 139, 8 + 80)
    assert layout.cell_origin(16) == (8, 8)  # first cell of the next sheet
