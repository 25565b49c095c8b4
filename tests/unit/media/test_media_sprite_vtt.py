"""Sprite sheets (geometry, cell placement, letter-boxing, several sheets) and WebVTT tracks."""

from __future__ import annotations

from pathlib import Path

import pytest
import webvtt

from service.domain.models import FrameType, SnapshotType, SpriteConfig
from tests.media_factory import load, read_index
from tests.unit.media.conftest import Run

RED = (200, 0, 0)


def close(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


def test_sprite_sheet_geometry_and_cells(run: Run, h264: Path) -> None:
    sprite = SpriteConfig(padding=4, margin=8, columns=3, lines=2, color=RED)
    result = run(
        h264,
        "s/{TileCount}.jpg",
        type=SnapshotType.SPRITE,
        frame_type=FrameType.NORMAL,
        count=5,
        interval_s=2,
        width=80,
        sprite=sprite,
    )
    assert [a.key for a in result.artifacts] == ["s/00001.jpg"]
    sheet = load(result.artifacts[0].path).convert("RGB")
    # W = 3·80 + 2·4 + 2·8, H = 2·45 + 4 + 2·8 (45 → 44: height is kept even)
    assert sheet.size == (3 * 80 + 2 * 4 + 2 * 8, 2 * 44 + 4 + 2 * 8)
    assert [(i.x, i.y, i.width, i.height) for i in result.images] == [
        (8, 8, 80, 44),
        (92, 8, 80, 44),
        (176, 8, 80, 44),
        (8, 56, 80, 44),
        (92, 56, 80, 44),
    ]
    assert [read_index(sheet, (i.x, i.y, i.width, i.height)) for i in result.images] == [0, 50, 100, 150, 200]
    assert all(i.key == "s/00001.jpg" and i.bytes == result.artifacts[0].bytes for i in result.images)
    # margin, padding and the empty sixth cell are background
    for xy in [(2, 2), (4, 50), (89, 20), (130, 54), (200, 80), (sheet.width - 3, sheet.height - 3)]:
        assert close(sheet.getpixel(xy), RED), xy


def test_sprite_cells_are_letterboxed_not_stretched(run: Run, h264: Path) -> None:
    sprite = SpriteConfig(cell_width=100, cell_height=100, columns=2, lines=1, color=RED)
    result = run(
        h264,
        "s/{TileCount}.jpg",
        type=SnapshotType.SPRITE,
        frame_type=FrameType.NORMAL,
        count=2,
        interval_s=4,
        width=160,
        sprite=sprite,
    )
    sheet = load(result.artifacts[0].path).convert("RGB")
    assert sheet.size == (200, 100)
    # a 16:9 picture in a 100x100 cell: 100x56 centred, bands of 22 px above and below
    assert close(sheet.getpixel((50, 5)), RED) and close(sheet.getpixel((50, 95)), RED)
    assert read_index(sheet, (0, 22, 100, 56)) == 0
    assert read_index(sheet, (100, 22, 100, 56)) == 100


def test_more_images_than_cells_make_several_full_size_sheets(run: Run, h264: Path) -> None:
    sprite = SpriteConfig(columns=2, lines=2)
    result = run(
        h264,
        "t/sheet-{TileCount}.jpg",
        type=SnapshotType.SPRITE,
        frame_type=FrameType.NORMAL,
        count=9,
        interval_s=1,
        width=64,
        sprite=sprite,
    )
    assert [a.key for a in result.artifacts] == ["t/sheet-00001.jpg", "t/sheet-00002.jpg", "t/sheet-00003.jpg"]
    assert {load(a.path).size for a in result.artifacts} == {(128, 72)}
    assert [i.key[-9:-4] for i in result.images] == ["00001"] * 4 + ["00002"] * 4 + ["00003"]
    last = load(result.artifacts[2].path)
    assert read_index(last, (0, 0, 64, 36)) == 200


def test_webvtt_single_images(run: Run, h264: Path) -> None:
    result = run(
        h264,
        "v/track.vtt",
        type=SnapshotType.WEBVTT,
        frame_type=FrameType.NORMAL,
        time_ms=1000,
        count=4,
        interval_s=2,
        width=160,
    )
    keys = [a.key for a in result.artifacts]
    assert keys == [f"v/track/snapshot-0000{n}.jpg" for n in (1, 2, 3, 4)] + ["v/track.vtt"]
    vtt_artifact = result.artifacts[-1]
    assert vtt_artifact.content_type == "text/vtt"
    captions = webvtt.read(vtt_artifact.path)
    assert [(c.start, c.end, c.text) for c in captions] == [
        ("00:00:01.000", "00:00:03.000", "track/snapshot-00001.jpg"),
        ("00:00:03.000", "00:00:05.000", "track/snapshot-00002.jpg"),
        ("00:00:05.000", "00:00:07.000", "track/snapshot-00003.jpg"),
        ("00:00:07.000", "00:00:09.000", "track/snapshot-00004.jpg"),
    ]
    assert [read_index(load(a.path)) for a in result.artifacts[:-1]] == [25, 75, 125, 175]


def test_webvtt_sprite_fragments(run: Run, h264: Path) -> None:
    result = run(
        h264,
        "vtt/x.vtt",
        type=SnapshotType.WEBVTT,
        is_spt_frag=True,
        frame_type=FrameType.NORMAL,
        count=12,
        interval_s=1,
        width=32,
    )
    assert [a.key for a in result.artifacts] == ["vtt/x/snapshot-tile-00001.jpg", "vtt/x.vtt"]
    # default layout: 10 columns x 10 lines of 32x18 cells
    assert load(result.artifacts[0].path).size == (320, 180)
    captions = webvtt.read(result.artifacts[-1].path)
    assert len(captions) == 10  # slots at 10 s and 11 s are past the end
    assert captions[0].text == "x/snapshot-tile-00001.jpg#xywh=0,0,32,18"
    assert captions[9].text == "x/snapshot-tile-00001.jpg#xywh=288,0,32,18"
    assert (captions[9].start, captions[9].end) == ("00:00:09.000", "00:00:10.000")


def test_webvtt_last_cue_ends_at_the_duration_when_spread(run: Run, h264: Path) -> None:
    result = run(h264, "x.vtt", type=SnapshotType.WEBVTT, count=2)
    captions = webvtt.read(result.artifacts[-1].path)
    assert [(c.start, c.end, c.text) for c in captions] == [
        ("00:00:00.000", "00:00:05.000", "x/snapshot-00001.jpg"),
        ("00:00:05.000", "00:00:10.000", "x/snapshot-00002.jpg"),
    ]


@pytest.mark.parametrize("ms", [0, 59_999, 3_600_000 + 61_001])
def test_vtt_timestamps(ms: int) -> None:
    from service.media.webvtt import timestamp

    h, rest = divmod(ms, 3_600_000)
    assert timestamp(ms) == f"{h:02d}:{rest // 60_000:02d}:{rest % 60_000 // 1000:02d}.{ms % 1000:03d}"
