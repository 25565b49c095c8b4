"""Frame → Pillow image at the output size (FFmpeg's scaler, rotation, SAR) and sprite sheet layout.

Scaling goes through swscale (`frame.reformat`) on the coded frame and Pillow reads the scaler's plane;
`frame.to_image()` costs ~11 ms per 1080p frame in PyAV 18 (engine-performance.md pitfall 2).

Measured on a 1080p H.264 keyframe (2 cores, PyAV 18.1, Pillow 13), per image:
- the scaler's context: a frame's own `reformat` builds one per frame (filters, slice threads); a
  `VideoReformatter` kept for the job reuses it: 1.8 -> 1.1 ms for a 160x90 cell, 0.9 -> 0.5 ms at 1080p;
- unscaled, swscale writes rgb0 (RGB plus a pad byte) with the very pixels of rgb24, and Pillow keeps RGB
  4 bytes a pixel, so it maps an rgb0 plane where it unpacks rgb24: 2.0 -> 0 ms at 1080p. Scaled, the
  two differ by about 0.5/255 (swscale rounds its rgb0 output path otherwise), so scaled output stays rgb24;
- encoding JPEG straight from YCbCr (sws to yuvj444p, `Image.merge("YCbCr")`) costs more, not less:
  the yuvj444p pass is 2.5-3.3 ms and libjpeg's YCbCr input 7.3 ms against 5.2 ms from RGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av.video.frame
from av.video.reformatter import VideoReformatter
from PIL import Image

from service.domain.models import SpriteConfig
from service.domain.snapshot_config import sheet_size

#: Pillow transpose for a display-matrix rotation in degrees (counter-clockwise, as `frame.rotation`)
_TRANSPOSE = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


def rotation_of(frame: av.video.frame.VideoFrame) -> int:
    """Counter-clockwise display rotation in {0, 90, 180, 270}; phone portrait clips give 270 (−90)."""
    try:
        angle = frame.rotation or 0
    except (AttributeError, ValueError):
        angle = 0
    return round(angle / 90) % 4 * 90


def display_size(frame: av.video.frame.VideoFrame, sar: Fraction | None) -> tuple[int, int]:
    """The size a player shows: sample aspect ratio applied to the width, then the rotation."""
    return displayed(frame.width, frame.height, sar, rotation_of(frame))


def displayed(width: int, height: int, sar: Fraction | None, rotation: int) -> tuple[int, int]:
    """`display_size` from the figures a probe knows without a frame (rotation counter-clockwise)."""
    if sar and sar > 0 and sar != 1:
        width = round(width * sar)
    return (height, width) if rotation in (90, 270) else (width, height)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def output_size(display: tuple[int, int], width: int | None, height: int | None) -> tuple[int, int]:
    """Width/Height as requested; one side given keeps the display aspect ratio (even), neither → display."""
    dw, dh = display
    if width and height:
        return width, height
    if width:
        return width, _even(width * dh / dw)
    if height:
        return _even(height * dw / dh), height
    return dw, dh


def render(
    frame: av.video.frame.VideoFrame, size: tuple[int, int], reformatter: VideoReformatter | None = None
) -> Image.Image:
    """The frame scaled to `size` (display orientation) as an RGB image; one swscale pass. Unscaled, the
    image is the scaler's rgb0 plane itself, mapped: mode RGBX, the same pixels (writers and sheets read
    it as RGB; `ImageFormat.writes_rgbx`).

    `reformatter`: a scaler kept for the job (faster; used by one thread at a time), else the frame's own.
    """
    rotation = rotation_of(frame)
    width, height = size
    coded = (height, width) if rotation in (90, 270) else (width, height)
    scaled = coded != (frame.width, frame.height)
    fmt = "rgb24" if scaled else "rgb0"
    if reformatter is None:
        rgb = frame.reformat(width=coded[0], height=coded[1], format=fmt)
    else:
        # one scaler thread: the output runs beside the decoder (`overlap.py`), which has the other core
        rgb = reformatter.reformat(frame, width=coded[0], height=coded[1], format=fmt, threads=1)
    plane = rgb.planes[0]
    # a VideoPlane exports the buffer protocol, which Pillow reads; its stubs only name bytes and arrays.
    # Pillow maps an rgb0 plane as an RGBX image (read-only, the plane kept alive by the image) instead of
    # copying it into an RGB one: 1 ms a 1080p frame, 6 % of a keyframe image's CPU. rgb24 is unpacked.
    raw = "RGB" if scaled else "RGBX"
    image = Image.frombuffer("RGB", coded, plane, "raw", raw, plane.line_size, 1)  # type: ignore[arg-type]
    if rotation:
        return image.transpose(_TRANSPOSE[rotation])
    # every sink only reads the image (encodes it, pastes it into a sheet): nothing writes into the plane
    return image


def fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The largest size with `size`'s aspect ratio inside `box` (letter-boxing, never stretching)."""
    w, h = size
    bw, bh = box
    scale = min(bw / w, bh / h)
    return max(1, min(bw, round(w * scale))), max(1, min(bh, round(h * scale)))


@dataclass(frozen=True, slots=True)
class SheetLayout:
    """Sprite sheet geometry (ICE §3.5): W = C·cw + (C−1)·pad + 2·margin, likewise H."""

    columns: int
    lines: int
    cell: tuple[int, int]
    padding: int
    margin: int
    color: tuple[int, int, int]

    @classmethod
    def of(cls, config: SpriteConfig, image_size: tuple[int, int]) -> SheetLayout:
        cell = (config.cell_width or image_size[0], config.cell_height or image_size[1])
        return cls(max(config.columns, 1), max(config.lines, 1), cell, config.padding, config.margin, config.color)

    @property
    def per_sheet(self) -> int:
        return self.columns * self.lines

    @property
    def size(self) -> tuple[int, int]:
        return sheet_size(self.columns, self.lines, self.padding, self.margin, self.cell)

    def cell_origin(self, slot: int) -> tuple[int, int]:
        """Top-left corner of cell `slot` (0-based, row by row) on its sheet."""
        row, col = divmod(slot % self.per_sheet, self.columns)
        return (
            self.margin + col * (self.cell[0] + self.padding),
            self.margin + row * (self.cell[1] + self.padding),
        )
