"""What one capture costs in memory, and the size limits a capture process's budget allows.

Every capture process has one budget (`SNAPSHOTD_CAPTURE_MEMORY_MB`): the pool caps the process's
writable memory at it (RLIMIT_DATA), the engine checks a job's estimate against it once the input is
probed (a clear failure instead of an allocation error halfway), and the default size limits are
derived from it. The Kubernetes manifests reserve processes × budget plus the parent's share.

The estimate is linear in pixels, with constants measured by `benchmarks/capture_memory.py` (peak RSS of
a fresh capture process per input size, frame type and decode threads; rounded up):

- a decoded frame is YUV 4:2:0, 1.5 bytes a pixel; the decoder keeps its reference and reorder frames,
  the picker the frame it returned and the next one, FFmpeg's frame threads one more each;
- the frame scaled to the output size is RGB, 3 bytes a pixel, once (Pillow reads the scaler's buffer);
- a sprite sheet is RGB, 3 bytes a pixel, while it is being filled (JPEG encoding streams its rows).

A job in shards (`domain/shards.py`) keeps the model per process: each shard is a capture of its own,
in a process of its own, checked against the same estimate (decoder, output frame, and the sheet it will
land on, as one process running the whole job is checked), so the jobs accepted are the same; the
assembly holds one sheet and one cell, less than that estimate. Sheet cells wait between shards and
assembly as raw RGB on the scratch disk (3 bytes a pixel), never in memory.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.models import FrameType

MIB = 1024 * 1024
#: an idle capture process (Python, PyAV, FFmpeg, Pillow, the first decode's tables) peaks at ~55 MiB
BASE_BYTES = 64 * MIB
YUV_BYTES_PER_PIXEL = 1.5
RGB_BYTES_PER_PIXEL = 3
#: decoded frames alive at once, by frame type (measured with H.264 of 1, 4 and 16 reference frames)
FRAMES_HELD = {FrameType.INTRA: 6, FrameType.NORMAL: 8}
#: more frames in flight per extra FFmpeg decode thread (frame threading)
FRAMES_PER_EXTRA_THREAD = 1


@dataclass(frozen=True, slots=True)
class CaptureMemory:
    """The sizes one capture handles at once, in pixels."""

    input_pixels: int
    output_pixels: int
    sheet_pixels: int = 0
    frame_type: FrameType = FrameType.INTRA
    decode_threads: int = 1

    def bytes(self) -> int:
        held = FRAMES_HELD[self.frame_type] + FRAMES_PER_EXTRA_THREAD * max(self.decode_threads - 1, 0)
        return int(
            BASE_BYTES
            + self.input_pixels * YUV_BYTES_PER_PIXEL * held
            + self.output_pixels * RGB_BYTES_PER_PIXEL
            + self.sheet_pixels * RGB_BYTES_PER_PIXEL
        )


def max_input_pixels(budget_bytes: int, decode_threads: int = 1) -> int:
    """The largest frame an exact-frame capture at full size fits in the budget (the worst case)."""
    unit = CaptureMemory(1, 1, 0, FrameType.NORMAL, decode_threads).bytes() - BASE_BYTES
    return max(0, int((budget_bytes - BASE_BYTES) // max(unit, 1)))


def max_sheet_pixels(budget_bytes: int) -> int:
    """The largest sprite sheet the budget holds beside a small decode (the budget's half)."""
    return max(0, int((budget_bytes - BASE_BYTES) // 2 // RGB_BYTES_PER_PIXEL))
