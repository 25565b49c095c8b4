"""Where captured images go: single JPEGs, sprite sheets, and the WebVTT track over either.

File names in the scratch dir are private; object keys are assigned at the end because they depend on
how many files were produced (one image without `{Count}` keeps the key as given).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from service.domain.models import Artifact, ImageRecord, SpriteConfig
from service.media.compose import SheetLayout, fit
from service.media.webvtt import Cue, cue_times, reference, render_vtt

JPEG = "image/jpeg"
VTT = "text/vtt"
#: maps (1-based file number, total files) to the object key
KeyFor = Callable[[int, int], str]


@dataclass(frozen=True, slots=True)
class Shot:
    """What was asked for and what was captured for one image."""

    index: int
    requested_ms: int
    captured_ms: int
    keyframe: bool


def _save(image: Image.Image, path: str, quality: int) -> int:
    image.save(path, "JPEG", quality=quality)
    return os.path.getsize(path)


class SingleImages:
    """One JPEG per image (Normal, and WebVtt without IsSptFrag)."""

    def __init__(self, scratch: str, quality: int, key_for: KeyFor) -> None:
        self._scratch, self._quality, self._key_for = scratch, quality, key_for
        self._files: list[tuple[Shot, str, tuple[int, int], int]] = []

    def render_size(self, output: tuple[int, int]) -> tuple[int, int]:
        return output

    def sheet_size(self, output: tuple[int, int]) -> tuple[int, int] | None:
        return None

    def add(self, shot: Shot, image: Image.Image) -> None:
        path = os.path.join(self._scratch, f"image-{len(self._files) + 1:05d}.jpg")
        self._files.append((shot, path, image.size, _save(image, path, self._quality)))

    def finish(self) -> tuple[list[ImageRecord], list[Artifact]]:
        total = len(self._files)
        records, artifacts = [], []
        for n, (shot, path, (w, h), size) in enumerate(self._files, start=1):
            key = self._key_for(n, total)
            records.append(ImageRecord(shot.index, shot.requested_ms, shot.captured_ms, shot.keyframe, key, w, h, size))
            artifacts.append(Artifact(key, path, JPEG, size))
        return records, artifacts


class SpriteSheets:
    """Cells filled row by row; a new sheet when one is full. A last partial sheet keeps the full size
    (ICE-like: players compute nothing from the sheet size, and every sheet of a job looks the same)."""

    def __init__(self, scratch: str, quality: int, key_for: KeyFor, config: SpriteConfig) -> None:
        self._scratch, self._quality, self._key_for, self._config = scratch, quality, key_for, config
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
        self._sheet.paste(image, (x + (cw - image.width) // 2, y + (ch - image.height) // 2))
        self._cells.append((shot, x, y))
        if len(self._cells) == layout.per_sheet:
            self._flush()

    def _flush(self) -> None:
        if self._sheet is None:
            return
        path = os.path.join(self._scratch, f"sheet-{len(self._sheets) + 1:05d}.jpg")
        self._sheets.append((path, _save(self._sheet, path, self._quality), self._cells))
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
            artifacts.append(Artifact(key, path, JPEG, size))
        return records, artifacts


def write_vtt(
    vtt_key: str, scratch: str, records: list[ImageRecord], step_ms: float, duration_ms: int, *, sheets: bool
) -> Artifact:
    """The .vtt for `records`, referencing their files relative to the .vtt's folder."""
    folder = posixpath.dirname(vtt_key)
    spans = cue_times([r.requested_ms for r in records], step_ms, duration_ms)
    cues = []
    for record, (start, end) in zip(records, spans, strict=True):
        ref = reference(posixpath.relpath(record.key, folder) if folder else record.key)
        xywh = (record.x or 0, record.y or 0, record.width, record.height) if sheets else None
        cues.append(Cue(start, end, ref, xywh))
    path = os.path.join(scratch, "track.vtt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_vtt(cues))
    return Artifact(vtt_key, path, VTT, os.path.getsize(path))
