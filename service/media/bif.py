"""`x.bif`: the storyboard as a Roku BIF file, one JPEG per tile (cells, not sheets).

Layout (little-endian), as Roku's trick-mode document and `synalysis/Grammars:bif.grammar` give it:

    0   magic 89 42 49 46 0D 0A 1A 0A
    8   u32 version (0)
    12  u32 number of images
    16  u32 timestamp multiplier: milliseconds per timestamp unit (0 would mean 1000)
    20  44 reserved bytes (0)
    64  index: per image (u32 timestamp, u32 absolute offset of its JPEG), then (0xFFFFFFFF, end of file)
        images, one JPEG after another

A BIF entry shows from its timestamp until the next one's, so each tile's time is its start. The
multiplier is 1000 (whole seconds, what Roku's own tools write) whenever every tile starts on a whole
second, as with an integer Interval from 0; otherwise it is the largest divisor of 1000 that states every
start exactly (500 for half seconds, down to 1), so the file never moves a tile.

`BifFrames` keeps each cell as the capture produces it (the sink's `on_cell`), encoded as a JPEG in the
scratch dir: cells are not cut back out of encoded sheets, which would compress them twice.
"""

from __future__ import annotations

import math
import os
import struct

from PIL import Image

from service.domain.models import Artifact
from service.media.images import Encoder
from service.media.storyboard import Storyboard

MAGIC = b"\x89BIF\r\n\x1a\n"
VERSION = 0
HEADER_BYTES = 64
END_OF_INDEX = 0xFFFFFFFF
CONTENT_TYPE = "application/octet-stream"
#: BIF's default unit: whole seconds
DEFAULT_MULTIPLIER = 1000
_HEADER = struct.Struct("<8sIII44x")
_ENTRY = struct.Struct("<II")


class BifFrames:
    """The cells of a capture as JPEG files, in capture order."""

    def __init__(self, scratch: str, encoder: Encoder) -> None:
        self._scratch, self._encoder = scratch, encoder
        self.paths: list[str] = []

    def add(self, cell: Image.Image) -> None:
        path = os.path.join(self._scratch, f"bif-{len(self.paths) + 1:05d}.jpg")
        self._encoder.save(cell, path)
        self.paths.append(path)


def multiplier(starts: list[int]) -> int:
    """The coarsest unit, a divisor of 1000 ms, in which every start is a whole number."""
    unit = DEFAULT_MULTIPLIER
    for start in starts:
        unit = math.gcd(unit, start)
    return unit or DEFAULT_MULTIPLIER


def write(board: Storyboard, frames: BifFrames, bif_key: str, scratch: str) -> Artifact:
    if len(frames.paths) != len(board.tiles):
        raise AssertionError(f"{len(frames.paths)} BIF frames for {len(board.tiles)} tiles")
    starts = [tile.start_ms for tile in board.tiles]
    unit = multiplier(starts)
    sizes = [os.path.getsize(p) for p in frames.paths]
    offset = HEADER_BYTES + _ENTRY.size * (len(sizes) + 1)
    index = bytearray()
    for start, size in zip(starts, sizes, strict=True):
        index += _ENTRY.pack(start // unit, offset)
        offset += size
    index += _ENTRY.pack(END_OF_INDEX, offset)
    path = os.path.join(scratch, "storyboard.bif")
    with open(path, "wb") as out:
        out.write(_HEADER.pack(MAGIC, VERSION, len(sizes), unit))
        out.write(index)
        for frame in frames.paths:
            with open(frame, "rb") as f:
                out.write(f.read())
            # the cell is in the file now: its own copy goes, so scratch space stays one copy
            os.remove(frame)
    return Artifact(bif_key, path, CONTENT_TYPE, offset)
