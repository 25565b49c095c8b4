"""Where captured images go: single images, sprite sheets, and the WebVTT track over either.

Images are encoded as the job's `Encoder` says (the output key's format and the job's quality). File names
in the scratch dir are private; object keys are assigned at the end because they depend on how many files
were produced (one image without `{Count}` keeps the key as given).

`on_cell`, when given, receives each image exactly as it fills its box (a sheet's cell, letter-boxing
included, or the whole image): what formats made of cells rather than sheets need (`bif.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from service.domain.models import Artifact, ImageRecord, SpriteConfig
from service.media.compose import SheetLayout, fit
from service.media.images import Encoder
from service.media.storyboard import Storyboard, relative_reference
from service.media.webvtt import Cue, render_vtt

VTT = "text/vtt"
#: maps (1-based file number, total files) to the object key
KeyFor = Callable[[int, int], str]
#: receives each image as it fills its box
OnCell = Callable[[Image.Image], None]


@dataclass(frozen=True, slots=True)
class Shot:
    """What was asked for and what was captured for one image."""

    index: int
    requested_ms: int
    captured_ms: int
    keyframe: bool


class SingleImages:
    """One file per image (Normal, and WebVtt without IsSptFrag)."""

    def __init__(self, scratch: str, encoder: Encoder, key_for: KeyFor, on_cell: OnCell | None = None) -> None:
        self._scratch, self._encoder, self._key_for, self._on_cell = scratch, encoder, key_for, on_cell
        self._files: list[tuple[Shot, str, tuple[int, int], int]] = []
        self.layout: SheetLayout | None = None

    def render_size(self, output: tuple[int, int]) -> tuple[int, int]:
        return output

    def sheet_size(self, output: tuple[int, int]) -> tuple[int, int] | None:
        return None

    def add(self, shot: Shot, image: Image.Image) -> None:
        path = os.path.join(self._scratch, f"image-{len(self._files) + 1:05d}{self._encoder.suffix}")
        self._files.append((shot, path, image.size, self._encoder.save(image, path)))
        if self._on_cell is not None:
            self._on_cell(image)

    def added(self) -> list[tuple[Shot, str, tuple[int, int], int]]:
        """(shot, file, size, bytes) of every image so far, in order: what a shard hands over."""
        return list(self._files)

    def add_file(self, shot: Shot, path: str, size: tuple[int, int], nbytes: int) -> None:
        """An image another process already encoded the way `add` does (a shard's)."""
        self._files.append((shot, path, size, nbytes))

    def finish(self) -> tuple[list[ImageRecord], list[Artifact]]:
        total = len(self._files)
        records, artifacts = [], []
        for n, (shot, path, (w, h), size) in enumerate(self._files, start=1):
            key = self._key_for(n, total)
            records.append(ImageRecord(shot.index, shot.requested_ms, shot.captured_ms, shot.keyframe, key, w, h, size))
            artifacts.append(Artifact(key, path, self._encoder.format.content_type, size))
        return records, artifacts


class SpriteSheets:
    """Cells filled row by row; a new sheet when one is full. A last partial sheet keeps the full size
    (ICE-like: players compute nothing from the sheet size, and every sheet of a job looks the same)."""

    def __init__(
        self, scratch: str, encoder: Encoder, key_for: KeyFor, config: SpriteConfig, on_cell: OnCell | None = None
    ) -> None:
        self._scratch, self._encoder, self._key_for, self._config = scratch, encoder, key_for, config
        self._on_cell = on_cell
        self.layout: SheetLayout | None = None
        self._sheet: Image.Image | None = None
        self._cells: list[tuple[Shot, int, int]] = []
        #: per finished sheet: (path, bytes, cells on it)
        self._sheets: list[tuple[str, int, list[tuple[Shot, int, int]]]] = []

    def render_size(self, output: tuple[int, int]) -> tuple[int, int]:
        return fit(output, self._layout(output).cell)

    def sheet_size(self, output: tuple[int, int]) -> tuple[int, int] | None:
        """The sheets' size for images of `output` size (cells default to it)."""
        return self._layout(output).size

    def _layout(self, output: tuple[int, int]) -> SheetLayout:
        if self.layout is None:
            self.layout = SheetLayout.of(self._config, output)
        return self.layout

    def add(self, shot: Shot, image: Image.Image) -> None:
        layout = self.layout
        assert layout is not None, "render_size() first"
        if self._sheet is None:
            self._sheet = Image.new("RGB", layout.size, layout.color)
        x, y = layout.cell_origin(len(self._cells))
        # letter-box: centre the image in its cell
        cw, ch = layout.cell
        offset = ((cw - image.width) // 2, (ch - image.height) // 2)
        self._sheet.paste(image, (x + offset[0], y + offset[1]))
        if self._on_cell is not None:
            self._on_cell(image if image.size == layout.cell else self._sheet.crop((x, y, x + cw, y + ch)))
        self._cells.append((shot, x, y))
        if len(self._cells) == layout.per_sheet:
            self._flush()

    def _flush(self) -> None:
        if self._sheet is None:
            return
        path = os.path.join(self._scratch, f"sheet-{len(self._sheets) + 1:05d}{self._encoder.suffix}")
        self._sheets.append((path, self._encoder.save(self._sheet, path), self._cells))
        self._sheet, self._cells = None, []

    def finish(self) -> tuple[list[ImageRecord], list[Artifact]]:
        self._flush()
        total = len(self._sheets)
        records, artifacts = [], []
        for n, (path, size, cells) in enumerate(self._sheets, start=1):
            key = self._key_for(n, total)
            assert self.layout is not None
            cw, ch = self.layout.cell
            for shot, x, y in cells:
                records.append(
                    ImageRecord(shot.index, shot.requested_ms, shot.captured_ms, shot.keyframe, key, cw, ch, size, x, y)
                )
            artifacts.append(Artifact(key, path, self._encoder.format.content_type, size))
        return records, artifacts


def write_vtt(vtt_key: str, scratch: str, board: Storyboard) -> Artifact:
    """The .vtt of `board`, referencing its files relative to the .vtt's folder (`#xywh=` into sheets)."""
    cues = [
        Cue(t.start_ms, t.end_ms, relative_reference(t.key, vtt_key), t.box if board.sheets else None)
        for t in board.tiles
    ]
    path = os.path.join(scratch, "track.vtt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_vtt(cues))
    return Artifact(vtt_key, path, VTT, os.path.getsize(path))
