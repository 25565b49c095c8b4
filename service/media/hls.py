"""`x.m3u8`: the storyboard as an HLS image media playlist (the Roku / Disney / Warner image-playlist
extension read by Roku, Shaka and Bitmovin), and the master playlist's line that points at it.

One segment per image: `#EXTINF` is the image's time span, `#EXT-X-TILES` says its grid (`LAYOUT=CxR`),
each tile's size (`RESOLUTION=WxH`) and each tile's duration (`DURATION`); a reader shows tile j of an
image from the segment's start + j·DURATION. That format can only state an even timeline starting at 0:

- sheets: every tile but the last one of the storyboard lasts one slot step, tile k starting k steps in.
  An `intra` job whose slots share a keyframe drops one and leaves a longer tile that a sheet cannot
  state: the capture fails with a message saying so (FrameType normal never drops a slot mid-way);
- single images: each is a segment of its own (LAYOUT=1x1), so any spacing is fine;
- the first tile starts at 0 (`Time` 0, checked at submission).

Times agree with the .vtt's to the millisecond: DURATION is the exact step (an even spread of 10 s over
3 images is 3.333333 s), which readers multiply and round as the .vtt's times were rounded.

`master_line` is the `#EXT-X-IMAGE-STREAM-INF` line a master playlist needs: peak BANDWIDTH over the
segments (bits a second), a tile's RESOLUTION, CODECS="jpeg" and the playlist's URI.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from service.domain.models import Artifact
from service.errors import MediaContentBad
from service.media.storyboard import Storyboard, Tile, relative_reference

CONTENT_TYPE = "application/vnd.apple.mpegurl"
#: EXT-X-TILES and EXT-X-IMAGES-ONLY come with the image-playlist extension, written against version 7
VERSION = 7
#: how far a tile's start may sit from k·step: the .vtt's times are whole milliseconds, rounded
TOLERANCE_MS = 1


def _decimal(ms: float) -> str:
    """Seconds as a decimal-floating-point with up to microseconds, no trailing zeros."""
    text = f"{ms / 1000:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def check_even(board: Storyboard) -> None:
    """Refuse a timeline the playlist would state differently from the .vtt (see the module's note)."""
    first = board.tiles[0]
    if first.start_ms != 0:
        raise MediaContentBad(f"An HLS image playlist starts at 0; the first tile starts at {first.start_ms} ms.")
    if not board.sheets:
        return
    step = board.step_ms
    last = len(board.tiles) - 1
    for k, tile in enumerate(board.tiles):
        ends_late = k < last and abs(tile.end_ms - (k + 1) * step) > TOLERANCE_MS
        if abs(tile.start_ms - k * step) > TOLERANCE_MS or ends_late:
            raise MediaContentBad(
                f"Tile {k + 1} spans {tile.start_ms}–{tile.end_ms} ms where the even step of {step:g} ms puts "
                f"{round(k * step)}–{round((k + 1) * step)} ms (a slot was dropped, e.g. two slots shared a "
                "keyframe): an HLS image playlist gives every tile of a sheet one duration. Use FrameType normal "
                "for hls with sprite sheets."
            )


def _segment_tiles(board: Storyboard, tiles: list[Tile]) -> tuple[str, str, float]:
    """(LAYOUT, RESOLUTION, DURATION ms) of one image's segment."""
    tile = tiles[0]
    if board.grid is None:
        return "1x1", f"{tile.width}x{tile.height}", tile.end_ms - tile.start_ms
    columns, lines = board.grid
    for n, t in enumerate(tiles):
        row, col = divmod(n, columns)
        if (t.x, t.y) != (col * t.width, row * t.height):
            # margins or padding: the extension has no way to say them
            raise MediaContentBad("An HLS image playlist needs sheets without margin or padding.")
    return f"{columns}x{lines}", f"{tile.width}x{tile.height}", board.step_ms


def render(board: Storyboard, playlist_key: str) -> tuple[str, int]:
    """(the playlist's text, its peak bandwidth in bits a second)."""
    check_even(board)
    segments: list[str] = []
    longest_s, peak = 0.0, 0
    for key, size, tiles in board.by_image():
        layout, resolution, duration_ms = _segment_tiles(board, tiles)
        span_ms = tiles[-1].end_ms - tiles[0].start_ms
        longest_s = max(longest_s, span_ms / 1000)
        peak = max(peak, math.ceil(size * 8 * 1000 / span_ms))
        segments += [
            f"#EXTINF:{_decimal(span_ms)},",
            f"#EXT-X-TILES:RESOLUTION={resolution},LAYOUT={layout},DURATION={_decimal(duration_ms)}",
            relative_reference(key, playlist_key),
        ]
    head = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{VERSION}",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(longest_s))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-IMAGES-ONLY",
    ]
    return "\n".join([*head, *segments, "#EXT-X-ENDLIST", ""]), peak


def master_line(board: Storyboard, bandwidth: int, uri: str) -> str:
    tile = board.tiles[0]
    return (
        f'#EXT-X-IMAGE-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={tile.width}x{tile.height},CODECS="jpeg",URI="{uri}"'
    )


def write(board: Storyboard, playlist_key: str, scratch: str) -> Artifact:
    text, bandwidth = render(board, playlist_key)
    path = os.path.join(scratch, "storyboard.m3u8")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    # beside the playlist: a master playlist in the same folder names it by its file name
    uri = relative_reference(playlist_key, playlist_key)
    return Artifact(playlist_key, path, CONTENT_TYPE, os.path.getsize(path), master_line(board, bandwidth, uri))


# --- delivery: the segment URIs, for the API to sign ---------------------------------------------


def _uri_lines(lines: list[str]) -> list[int]:
    """Indexes of URI lines: every line that is neither blank nor a tag or comment (RFC 8216 §4.1)."""
    return [i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")]


def references(text: str) -> list[str]:
    lines = text.splitlines()
    return [lines[i].strip() for i in _uri_lines(lines)]


def rewrite_references(text: str, urls: Mapping[str, str]) -> str:
    """`text` with each URI line found in `urls` replaced; tags and line endings untouched."""
    lines = text.splitlines(keepends=True)
    for i in _uri_lines([line.rstrip("\r\n") for line in lines]):
        body = lines[i].rstrip("\r\n")
        if body.strip() in urls:
            lines[i] = urls[body.strip()] + lines[i][len(body) :]
    return "".join(lines)


def with_uri(line: str, uri: str) -> str:
    """A master line pointing at `uri` instead (the playlist's signed URL)."""
    head, sep, _ = line.rpartition(',URI="')
    return f'{head}{sep}{uri}"' if sep else line
