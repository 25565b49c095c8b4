"""Black-frame test (ICE/MPS BlackLevel and PixelBlackThreshold, ice-snapshot-api.md §3.4).

Measured on a 64x36 gray thumbnail made by swscale: ~0.1 ms, and a share of pixels barely changes with
the resolution it is measured at.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import av.video.frame

from service.domain.models import SnapshotConfig

#: MPS forces the filter for Time=0, Count=1 and ignores the parameters; these are our defaults for it
DEFAULT_BLACK_LEVEL = 98
DEFAULT_PIXEL_THRESHOLD = 32
#: MPS searches only the first 5 s for a non-black first frame
FIRST_FRAME_WINDOW_MS = 5000
_PROBE = (64, 36)


@dataclass(frozen=True, slots=True)
class BlackRule:
    """A frame is black when at least `level` % of its pixels are below `threshold`."""

    level: int
    threshold: int

    def is_black(self, frame: av.video.frame.VideoFrame) -> bool:
        return black_share(frame, self.threshold) * 100 >= self.level


def black_share(frame: av.video.frame.VideoFrame, threshold: int) -> float:
    """Share (0–1) of pixels whose gray value (full range) is below `threshold`."""
    gray = frame.reformat(width=_PROBE[0], height=_PROBE[1], format="gray")
    plane = gray.planes[0]
    data = bytes(plane)
    table = _table(threshold)
    stride, width = plane.line_size, _PROBE[0]
    dark = sum(sum(data[row * stride : row * stride + width].translate(table)) for row in range(_PROBE[1]))
    return dark / (width * _PROBE[1])


@lru_cache(maxsize=8)
def _table(threshold: int) -> bytes:
    # bytes.translate maps each pixel to 1 (black) or 0 in C; summing the result is the count
    return bytes(1 if v < threshold else 0 for v in range(256))


def first_image_rule(config: SnapshotConfig) -> BlackRule | None:
    """The rule for the first image: Time=0 and Count>1 with BlackLevel set, or Time=0 and Count=1 (forced)."""
    if config.time_ms != 0:
        return None
    threshold = config.pixel_black_threshold if config.pixel_black_threshold is not None else DEFAULT_PIXEL_THRESHOLD
    if config.count == 1:
        return BlackRule(DEFAULT_BLACK_LEVEL, DEFAULT_PIXEL_THRESHOLD)
    if config.black_level is None:
        return None
    return BlackRule(config.black_level, threshold)


def every_image_rule(config: SnapshotConfig) -> BlackRule | None:
    """The opt-in `black_filter_all` extension: the same test on every image."""
    if not config.black_filter_all:
        return None
    return BlackRule(
        config.black_level if config.black_level is not None else DEFAULT_BLACK_LEVEL,
        config.pixel_black_threshold if config.pixel_black_threshold is not None else DEFAULT_PIXEL_THRESHOLD,
    )
