"""Encoding one image to a file in the format its object key names (`domain/image_formats.py`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from PIL import Image

from service.domain.image_formats import JPEG, ImageFormat


@dataclass(frozen=True, slots=True)
class Encoder:
    """An image format with the quality a job encodes it at."""

    format: ImageFormat
    quality: int | None

    @classmethod
    def of(cls, fmt: ImageFormat, asked: int | None, jpeg_default: int) -> Encoder:
        return cls(fmt, fmt.quality(asked, jpeg_default))

    @property
    def suffix(self) -> str:
        return self.format.extensions[0]

    def save(self, image: Image.Image, path: str) -> int:
        """Write `image` to `path`; returns the file's size in bytes."""
        if image.mode == "RGBX" and not self.format.writes_rgbx:
            image = image.convert("RGB")
        options = dict(self.format.options)
        if self.quality is not None:
            options["quality"] = self.quality
        image.save(path, self.format.pillow, **options)
        return os.path.getsize(path)


def jpeg(quality: int) -> Encoder:
    """JPEG at `quality`: what WebVtt images and BIF frames are (every player and BIF reader takes it)."""
    return Encoder(JPEG, quality)
