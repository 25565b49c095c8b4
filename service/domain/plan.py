"""What a snapshot job would produce and read, answered before any frame is decoded (PlanSnapshotJob). Pure.

An extension: no peer offers it. The plan comes from the file's probe (size, rotation, duration) and the
container's index (keyframe and frame times, packet positions and sizes), never from decoded pictures, so
what only pixels decide is left out and said so: the black-frame rules (BlackLevel), and a frame that
turns out damaged (a job drops its slot as `unreadable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.domain.models import DroppedSlot, SnapshotConfig


@dataclass(frozen=True, slots=True)
class PlannedImage:
    """One image as GetSnapshotJob's `Images` will list it (without its file's size)."""

    index: int
    requested_ms: int
    captured_ms: int
    keyframe: bool
    key: str
    width: int
    height: int
    x: int | None = None
    y: int | None = None


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """An image or sprite sheet the job would write."""

    key: str
    width: int
    height: int
    #: images on it (1, or the cells used on a sheet)
    images: int


@dataclass(frozen=True, slots=True)
class VideoIndex:
    """What the container says of the video stream, in its time base; nothing here was decoded."""

    duration_ms: int
    width: int
    height: int
    #: the display rotation, degrees counter-clockwise
    rotation: int
    sar_num: int
    sar_den: int
    start_pts: int
    #: the time base as (numerator, denominator)
    time_base: tuple[int, int]
    #: keyframe presentation times, increasing
    keyframes: tuple[int, ...]
    #: every frame's presentation time, increasing, when the index lists every frame (MP4, MOV); () otherwise
    frames: tuple[int, ...] = ()
    #: index entries in decode order, (pts, byte position, size); size 0 where the index gives none
    packets: tuple[tuple[int, int, int], ...] = ()
    #: the decoder's reorder depth: packets read past a frame before it comes out
    reorder_depth: int = 0
    frame_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class CapturePlan:
    config: SnapshotConfig
    duration_ms: int
    #: the images' size before sheets: the output size the job renders at
    output_size: tuple[int, int]
    images: tuple[PlannedImage, ...]
    dropped: tuple[DroppedSlot, ...]
    files: tuple[PlannedFile, ...]
    #: WebVtt: the .vtt and the other storyboard files, by key
    storyboards: tuple[str, ...]
    input_bytes: int
    #: what the job is expected to read from an http(s)/S3 input through the range reader (a local file is
    #: not read through it); None when the index gives no packet sizes to count
    bytes_expected: int | None
    #: what the plan itself read: the header, the index (and the file's end when its duration was unknown)
    bytes_read: int
    frames_expected: int | None
    #: where the figures come from: "index" (every frame listed, with sizes) or "keyframes" (cue points only)
    basis: str
    notes: tuple[str, ...] = field(default_factory=tuple)
