"""A WebVtt job's storyboard: every tile's time span and box, built once from the capture records.

Every trick-play format (`webvtt.py` via `outputs.write_vtt`, `storyboard_json.py`, `hls.py`, `bif.py`)
is rendered from one `Storyboard`, so they cannot disagree on when a tile shows or where it is. Times
are the cue rule's (`webvtt.cue_times`): tile k from its requested time until the next tile's, the last
one a step later, capped at the video's end.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from service.domain.models import ImageRecord
from service.media.webvtt import cue_times, reference


@dataclass(frozen=True, slots=True)
class Tile:
    start_ms: int
    end_ms: int
    #: object key of the file holding the tile: its sprite sheet, or its own image
    key: str
    x: int
    y: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.width, self.height


@dataclass(frozen=True, slots=True)
class Storyboard:
    tiles: tuple[Tile, ...]
    #: the image files in order of first use, with their sizes in bytes
    images: tuple[tuple[str, int], ...]
    #: whether tiles are cells of sprite sheets (IsSptFrag) rather than whole images
    sheets: bool
    #: sheets only: (columns, lines) of every sheet
    grid: tuple[int, int] | None
    #: the capture's slot spacing, ms (tiles of an even job start k·step apart)
    step_ms: float
    duration_ms: int

    @classmethod
    def of(
        cls,
        records: list[ImageRecord],
        step_ms: float,
        duration_ms: int,
        *,
        grid: tuple[int, int] | None,
    ) -> Storyboard:
        spans = cue_times([r.requested_ms for r in records], step_ms, duration_ms)
        tiles = tuple(
            Tile(start, end, r.key, r.x or 0, r.y or 0, r.width, r.height)
            for r, (start, end) in zip(records, spans, strict=True)
        )
        images = tuple({r.key: r.bytes for r in records}.items())
        return cls(tiles, images, grid is not None, grid, step_ms, duration_ms)

    @property
    def end_ms(self) -> int:
        return self.tiles[-1].end_ms

    def image_index(self) -> dict[str, int]:
        return {key: n for n, (key, _) in enumerate(self.images)}

    def by_image(self) -> list[tuple[str, int, list[Tile]]]:
        """(image key, bytes, its tiles in time order) per image, in order of first use."""
        groups: dict[str, list[Tile]] = {key: [] for key, _ in self.images}
        for tile in self.tiles:
            groups[tile.key].append(tile)
        return [(key, size, groups[key]) for key, size in self.images]


def relative_reference(key: str, manifest_key: str) -> str:
    """How a manifest names the object `key`: relative to the manifest's folder, URL-escaped, so the stored
    file works behind a public bucket or a CDN as it is (the API signs them on the way out)."""
    folder = posixpath.dirname(manifest_key)
    return reference(posixpath.relpath(key, folder) if folder else key)
