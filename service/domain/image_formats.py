"""The image encodings snapshotd writes, picked by the output object's extension; one table for all.

Submission checks the extension (`format_of`), the engine encodes with the row's Pillow settings
(`media/images.py`), and delivery serves each object with the row's Content-Type (`api/files/delivery.py`),
so the Content-Type of an object always matches its bytes.

Quality: the `Quality` field (1–100) when a job gives one, else the format's default. JPEG's default is
the server's `SNAPSHOTD_JPEG_QUALITY`; WebP and AVIF have their own scales (AVIF's 60 looks about like
JPEG's 88 at a third of the bytes; `benchmarks/image_formats.py` measures it); PNG is lossless and takes
no quality.
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass
from typing import Any

from PIL import features

from service.errors import InvalidParameter


@dataclass(frozen=True, slots=True)
class ImageFormat:
    name: str
    #: the extensions that pick it, lower case, the first one canonical
    extensions: tuple[str, ...]
    content_type: str
    #: Pillow's format name
    pillow: str
    #: the quality when the job gives none; None: the format has no quality (lossless)
    default_quality: int | None
    #: further Pillow save options, fixed for the format, as (name, value) pairs (the row stays hashable)
    options: tuple[tuple[str, Any], ...] = ()
    #: a Pillow feature the encoder needs ("" when it is built in)
    feature: str = ""
    #: whether Pillow's writer takes an RGBX image (what the renderer maps an unscaled frame as) as RGB
    writes_rgbx: bool = True

    def quality(self, asked: int | None, jpeg_default: int) -> int | None:
        """The quality to encode with: the job's, else this format's default (JPEG: the server's)."""
        if self.default_quality is None:
            return None
        if asked is not None:
            return asked
        return jpeg_default if self is JPEG else self.default_quality


JPEG = ImageFormat("JPEG", (".jpg", ".jpeg"), "image/jpeg", "JPEG", 88)
PNG = ImageFormat("PNG", (".png",), "image/png", "PNG", None, writes_rgbx=False)
#: method 4 of 0–6: Pillow's default, a fair speed/size trade-off
WEBP = ImageFormat("WebP", (".webp",), "image/webp", "WEBP", 80, (("method", 4),))
#: speed 8 of 0–10: about twice as fast as libavif's default 6 for the same bytes within 1 %
AVIF = ImageFormat("AVIF", (".avif",), "image/avif", "AVIF", 60, (("speed", 8),), feature="avif")

FORMATS = (JPEG, PNG, WEBP, AVIF)
#: by extension
BY_EXTENSION = {ext: fmt for fmt in FORMATS for ext in fmt.extensions}


@functools.cache
def writable(fmt: ImageFormat) -> bool:
    """Whether this Pillow build can encode `fmt` (AVIF needs Pillow built with libavif, 11.3 and later)."""
    return not fmt.feature or bool(features.check(fmt.feature))


def extension(key: str) -> str:
    return posixpath.splitext(key)[1].lower()


def format_of(key: str, field_name: str) -> ImageFormat:
    """The encoding an image object's key asks for, or InvalidParameter naming `field_name`."""
    ext = extension(key)
    fmt = BY_EXTENSION.get(ext)
    names = ", ".join(e for f in FORMATS if writable(f) for e in f.extensions)
    if fmt is None:
        said = f"ends with {ext}" if ext else "has no extension"
        raise InvalidParameter.named(field_name, f"The object name {said}; the images can be written as {names}.")
    if not writable(fmt):
        raise InvalidParameter.named(field_name, f"This server cannot write {fmt.name} images; use one of {names}.")
    return fmt
