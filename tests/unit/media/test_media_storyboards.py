"""Every trick-play format from one capture: the .vtt, x.json, x.m3u8 and x.bif of a WebVtt job, each read
back by an independent reader (webvtt-py, the `m3u8` package, JSON Schema, and a BIF reader here that
walks the bytes), agree on every tile's time and box, and the BIF's own JPEGs show the same frames as
the sheets' cells."""

from __future__ import annotations

import io
import itertools
import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin

import jsonschema
import m3u8
import pytest
import webvtt
from PIL import Image

from service.domain.models import CaptureResult, FrameType, SnapshotType, SpriteConfig
from service.errors import MediaContentBad
from service.media import hls, storyboard_json
from tests.media_factory import load, read_index
from tests.unit.media.conftest import FPS, Run

ALL = ("vtt", "json", "hls", "bif")
BASE = "https://cdn.example/bucket/"
BIF_MAGIC = bytes.fromhex("89 42 49 46 0D 0A 1A 0A")
#: HLS states a sheet's tiles by one duration; an even spread's starts are whole ms, rounded
HLS_TOLERANCE_MS = 1


@dataclass(frozen=True)
class SeenTile:
    start_ms: int
    #: None where the format does not state an end (a BIF's last entry)
    end_ms: int | None
    key: str
    box: tuple[int, int, int, int]


def artifact(result: CaptureResult, suffix: str) -> Path:
    (found,) = [a for a in result.artifacts if a.key.endswith(suffix)]
    return Path(found.path)


def key_of(reference: str, manifest_key: str) -> str:
    """The object key a reference names, resolved as a browser resolves it against the manifest's URL."""
    return unquote(urljoin(BASE + manifest_key, reference))[len(BASE) :]


def ms(timestamp: str) -> int:
    hours, minutes, seconds = timestamp.split(":")
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)


def read_vtt(result: CaptureResult, key: str) -> list[SeenTile]:
    """Cues as webvtt-py reads them; a cue without `#xywh` shows its whole image."""
    tiles = []
    for cue in webvtt.read(str(artifact(result, ".vtt"))):
        ref, _, fragment = cue.text.strip().partition("#xywh=")
        image = key_of(ref, key)
        if fragment:
            x, y, w, h = (int(v) for v in fragment.split(","))
        else:
            (x, y), (w, h) = (0, 0), load(next(a.path for a in result.artifacts if a.key == image)).size
        tiles.append(SeenTile(ms(cue.start), ms(cue.end), image, (x, y, w, h)))
    return tiles


def read_json(path: Path, key: str) -> list[SeenTile]:
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, storyboard_json.SCHEMA)
    assert doc["url"] == doc["images"][0]
    w, h = doc["tile_width"], doc["tile_height"]
    tiles = [
        SeenTile(
            round(t["start"] * 1000),
            round(t["end"] * 1000),
            key_of(doc["images"][t["image"]], key),
            (t["x"], t["y"], w, h),
        )
        for t in doc["tiles"]
    ]
    assert doc["duration"] * 1000 == pytest.approx(tiles[-1].end_ms)
    return tiles


def read_hls(path: Path, key: str) -> list[SeenTile]:
    """Tile j of a segment shows from the segment's start + j·DURATION, as Roku's and Shaka's readers do."""
    playlist = m3u8.loads(path.read_text())
    assert playlist.is_images_only and playlist.is_endlist and playlist.playlist_type == "vod"
    assert len(playlist.data["tiles"]) == len(playlist.segments)
    tiles, start = [], 0.0
    for segment, grid in zip(playlist.segments, playlist.data["tiles"], strict=True):
        assert segment.duration <= playlist.target_duration
        columns, lines = (int(v) for v in grid["layout"].split("x"))
        w, h = (int(v) for v in grid["resolution"].split("x"))
        step = grid["duration"] * 1000
        end = start + segment.duration * 1000
        count = math.ceil((end - start - HLS_TOLERANCE_MS) / step)
        assert count <= columns * lines
        for j in range(count):
            row, col = divmod(j, columns)
            tile_end = min(start + (j + 1) * step, end)
            tiles.append(
                SeenTile(round(start + j * step), round(tile_end), key_of(segment.uri, key), (col * w, row * h, w, h))
            )
        start = end
    return tiles


def read_bif(path: Path) -> tuple[int, list[tuple[int, Image.Image]]]:
    """(timestamp multiplier, [(start ms, JPEG)]), the file walked byte by byte."""
    data = path.read_bytes()
    assert data[:8] == BIF_MAGIC
    version, count, multiplier = struct.unpack_from("<III", data, 8)
    assert version == 0 and data[20:64] == bytes(44)
    entries = [struct.unpack_from("<II", data, 64 + 8 * i) for i in range(count + 1)]
    assert entries[-1] == (0xFFFFFFFF, len(data))
    assert entries[0][1] == 64 + 8 * (count + 1)
    frames = []
    for (stamp, offset), (_, following) in itertools.pairwise(entries):
        jpeg = data[offset:following]
        assert jpeg[:3] == b"\xff\xd8\xff" and jpeg[-2:] == b"\xff\xd9"
        frames.append((stamp * (multiplier or 1000), Image.open(io.BytesIO(jpeg))))
    return multiplier, frames


def check_agree(result: CaptureResult, vtt_key: str) -> list[SeenTile]:
    base = vtt_key[: -len(".vtt")]
    vtt = read_vtt(result, vtt_key)
    assert read_json(artifact(result, ".json"), base + ".json") == vtt
    for seen, want in zip(read_hls(artifact(result, ".m3u8"), base + ".m3u8"), vtt, strict=True):
        assert (seen.key, seen.box) == (want.key, want.box)
        assert abs(seen.start_ms - want.start_ms) <= HLS_TOLERANCE_MS
        assert seen.end_ms is not None and want.end_ms is not None
        assert abs(seen.end_ms - want.end_ms) <= HLS_TOLERANCE_MS
    _, frames = read_bif(artifact(result, ".bif"))
    assert [start for start, _ in frames] == [t.start_ms for t in vtt]
    assert [start for start, _ in frames[1:]] == [t.end_ms for t in vtt[:-1]]
    assert [image.size for _, image in frames] == [t.box[2:] for t in vtt]
    # what the BIF shows is what the sheet's cell shows: the same frame
    for (_, image), tile in zip(frames, vtt, strict=True):
        sheet = load(next(a.path for a in result.artifacts if a.key == tile.key))
        assert read_index(image) == read_index(sheet, tile.box)
    return vtt


@pytest.mark.parametrize(("count", "interval_s"), [(10, 1), (7, None)], ids=["every 1 s", "7 spread evenly"])
def test_every_format_states_the_same_tiles_over_several_sheets(
    run: Run, h264: Path, count: int, interval_s: int | None
) -> None:
    result = run(
        h264,
        "sb/board.vtt",
        type=SnapshotType.WEBVTT,
        is_spt_frag=True,
        frame_type=FrameType.NORMAL,
        count=count,
        interval_s=interval_s,
        width=64,
        sprite=SpriteConfig(columns=3, lines=2),
        storyboard_formats=ALL,
    )
    tiles = check_agree(result, "sb/board.vtt")
    assert len(tiles) == count and tiles[0].start_ms == 0 and tiles[-1].end_ms == 10_000
    assert {t.key for t in tiles} == {f"sb/board/snapshot-tile-0000{n}.jpg" for n in (1, 2)}
    # the frames shown are the ones asked for (FrameType normal, 25 fps: the frame on screen at the time)
    for tile in tiles:
        sheet = load(next(a.path for a in result.artifacts if a.key == tile.key))
        assert read_index(sheet, tile.box) == tile.start_ms * FPS // 1000


def test_single_images_each_are_a_segment_and_a_bif_frame(run: Run, h264: Path) -> None:
    result = run(
        h264,
        "one/t.vtt",
        type=SnapshotType.WEBVTT,
        frame_type=FrameType.NORMAL,
        count=4,
        interval_s=2,
        width=80,
        storyboard_formats=ALL,
    )
    tiles = check_agree(result, "one/t.vtt")
    assert [t.key for t in tiles] == [f"one/t/snapshot-0000{n}.jpg" for n in (1, 2, 3, 4)]
    assert "LAYOUT=1x1,DURATION=2" in artifact(result, ".m3u8").read_text()


def test_the_master_playlist_line(run: Run, h264: Path) -> None:
    result = run(
        h264,
        "m/b.vtt",
        type=SnapshotType.WEBVTT,
        is_spt_frag=True,
        frame_type=FrameType.NORMAL,
        count=10,
        interval_s=1,
        width=64,
        storyboard_formats=ALL,
    )
    (playlist,) = [a for a in result.artifacts if a.key == "m/b.m3u8"]
    (sheet,) = [a for a in result.artifacts if a.key.endswith(".jpg")]
    master = m3u8.loads(f"#EXTM3U\n{playlist.stream_inf}\n")
    (image,) = master.image_playlists
    assert image.uri == "b.m3u8"
    assert image.image_stream_info.resolution == (64, 36)
    assert image.image_stream_info.codecs == "jpeg"
    # the peak over the segments: one sheet over 10 s
    assert image.image_stream_info.bandwidth == math.ceil(sheet.bytes * 8 / 10)
    assert hls.with_uri(playlist.stream_inf, "https://x/y.m3u8?a=1").endswith('URI="https://x/y.m3u8?a=1"')


def test_only_the_asked_formats_are_written(run: Run, h264: Path) -> None:
    result = run(h264, "o/v.vtt", type=SnapshotType.WEBVTT, count=3, interval_s=2, storyboard_formats=("vtt", "json"))
    assert sorted(a.key for a in result.artifacts if not a.key.endswith(".jpg")) == ["o/v.json", "o/v.vtt"]
    assert not list(Path(artifact(result, ".vtt").parent).glob("bif-*"))


def test_bif_states_half_seconds_with_a_finer_multiplier(run: Run, h264: Path) -> None:
    result = run(
        h264,
        "h/v.vtt",
        type=SnapshotType.WEBVTT,
        is_spt_frag=True,
        frame_type=FrameType.NORMAL,
        time_ms=1500,
        count=3,
        interval_s=1,
        width=64,
        storyboard_formats=("vtt", "bif"),
    )
    multiplier, frames = read_bif(artifact(result, ".bif"))
    assert multiplier == 500
    assert [start for start, _ in frames] == [1500, 2500, 3500]
    assert [read_index(image) for _, image in frames] == [t * FPS // 1000 for t in (1500, 2500, 3500)]


def test_whole_seconds_keep_the_default_multiplier(run: Run, h264: Path) -> None:
    result = run(h264, "w/v.vtt", type=SnapshotType.WEBVTT, count=3, interval_s=2, storyboard_formats=("vtt", "bif"))
    multiplier, frames = read_bif(artifact(result, ".bif"))
    assert multiplier == 1000 and [start for start, _ in frames] == [0, 2000, 4000]


def test_an_uneven_sheet_cannot_be_an_hls_playlist(run: Run, h264: Path) -> None:
    """intra at 1 s on a clip with a keyframe every 2 s: every other slot shares a keyframe and is dropped,
    so tiles last 2 s where the step says 1 s; a sheet's one DURATION cannot say it, so the job fails."""
    config = dict(type=SnapshotType.WEBVTT, is_spt_frag=True, count=6, interval_s=1, width=64)
    with pytest.raises(MediaContentBad, match="FrameType normal"):
        run(h264, "u/v.vtt", storyboard_formats=ALL, **config)
    # the other formats state it as it is
    result = run(h264, "u/v.vtt", storyboard_formats=("vtt", "json", "bif"), **config)
    vtt = read_vtt(result, "u/v.vtt")
    assert [(t.start_ms, t.end_ms) for t in vtt] == [(0, 2000), (2000, 4000), (4000, 5000)]
    assert read_json(artifact(result, ".json"), "u/v.json") == vtt
    assert [start for start, _ in read_bif(artifact(result, ".bif"))[1]] == [0, 2000, 4000]
