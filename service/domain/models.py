"""Domain values shared by every part of the service. Frozen, picklable, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class JobStatus(StrEnum):
    """Where a snapshot job is in its life. ICE documents Init/Success/Fail; Processing is ours."""

    #: accepted and waiting for a worker
    INIT = "Init"
    #: claimed by a worker that holds a lease on it
    PROCESSING = "Processing"
    #: every image written
    SUCCESS = "Success"
    #: gave up; Code/Message say why
    FAIL = "Fail"


class DeliveryStatus(StrEnum):
    """Where an HTTP callback delivery is."""

    #: due now or later, attempts left
    PENDING = "Pending"
    DELIVERED = "Delivered"
    #: out of attempts, or refused for good; ReplayCallbackDelivery makes it Pending again
    FAILED = "Failed"


class PipelineStatus(StrEnum):
    """A paused pipeline's jobs wait in Init; resuming dispatches them."""

    ACTIVE = "Active"
    PAUSED = "Paused"


class SnapshotType(StrEnum):
    """ICE's snapshot types, spelt as the SDK spells them."""

    NORMAL = "Normal"
    SPRITE = "Sprite"
    WEBVTT = "WebVtt"


class FrameType(StrEnum):
    """`intra`: keyframes only (ICE's default); `normal`: the exact frame at each time."""

    INTRA = "intra"
    NORMAL = "normal"


@dataclass(frozen=True, slots=True)
class SpriteConfig:
    """ICE `SpriteSnapshotConfig`; cell sizes default to the snapshot's output size."""

    cell_width: int | None = None
    cell_height: int | None = None
    padding: int = 0
    margin: int = 0
    #: MPS TileOut defaults (ICE states none)
    columns: int = 10
    lines: int = 10
    #: background as (r, g, b)
    color: tuple[int, int, int] = (0, 0, 0)


@dataclass(frozen=True, slots=True)
class SnapshotConfig:
    """The effective snapshot settings of a job: template merged with OverwriteParams, validated."""

    type: SnapshotType = SnapshotType.NORMAL
    frame_type: FrameType = FrameType.INTRA
    #: first capture time, milliseconds
    time_ms: int = 0
    count: int = 1
    #: seconds between captures; None or 0 with count > 1 spreads count evenly over the duration
    interval_s: int | None = None
    width: int | None = None
    height: int | None = None
    black_level: int | None = None
    pixel_black_threshold: int | None = None
    sprite: SpriteConfig | None = None
    #: WebVtt only: cues point into sprite sheets instead of single images
    is_spt_frag: bool = False
    #: extension: apply the black-frame test to every image, not only the first
    black_filter_all: bool = False
    #: extension, WebVtt only: the trick-play formats written ("vtt" first, always there); () for other types
    storyboard_formats: tuple[str, ...] = ()
    #: extension: the image quality, 1–100; None: the format's default (`domain/image_formats.py`)
    quality: int | None = None


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """An object in the configured store: `oss://bucket/key` and its equivalents."""

    bucket: str
    key: str

    def url(self) -> str:
        return f"oss://{self.bucket}/{self.key}"


@dataclass(frozen=True, slots=True)
class CaptureSpec:
    """Everything a pool process needs to capture one job. Small and picklable by design."""

    #: a local file path, or an http(s) URL read with range requests
    source: str
    config: SnapshotConfig
    #: the Output.Media object key, placeholders unexpanded (e.g. `out/{Count}.jpg`)
    output_key: str
    #: a private directory the engine writes its files into
    scratch_dir: str
    #: JPEG's quality when the config gives none (SNAPSHOTD_JPEG_QUALITY); other formats have their own defaults
    jpeg_quality: int = 90
    #: limits (0 = no limit)
    max_input_pixels: int = 8192 * 8192
    max_input_bytes: int = 0
    max_duration_ms: int = 0
    decode_threads: int = 1
    #: what the capture process may use (its RLIMIT_DATA); checked once the sizes are known (0 = unchecked)
    memory_budget_bytes: int = 0
    #: a user-supplied URL: the reader checks every peer it connects to against the SSRF guard,
    #: allowing only these extra networks (CIDR strings); None for our own storage's URLs
    ssrf_allow: tuple[str, ...] | None = None
    #: the input's duration as its probe measured it (a media asset's): not measured again
    known_duration_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One captured image: what was asked for and what was actually taken."""

    index: int
    requested_ms: int
    #: presentation time of the frame captured, ms from the start of the video
    captured_ms: int
    keyframe: bool
    #: object key of the file holding the image (the sheet, for sprites)
    key: str
    width: int
    height: int
    #: size of the file holding the image
    bytes: int
    #: for sprite cells: the cell rectangle inside the sheet
    x: int | None = None
    y: int | None = None


@dataclass(frozen=True, slots=True)
class DroppedSlot:
    """A requested time that produced no image, and why."""

    index: int
    requested_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file the engine wrote that must be stored under `key`."""

    key: str
    path: str
    content_type: str
    bytes: int
    #: an HLS image playlist's `#EXT-X-IMAGE-STREAM-INF` line for a master playlist (its URI relative to the
    #: playlist's folder); "" for every other file
    stream_inf: str = ""
    #: the file is already in the output bucket under this key (a fanned-out shard's image): it is copied
    #: there inside the store, and `path` names no local file; "" for a file on the local disk
    stored_key: str = ""


@dataclass(frozen=True, slots=True)
class CaptureResult:
    """What a capture produced. `count` is the number of images, as ICE's job `Count`."""

    images: tuple[ImageRecord, ...]
    dropped: tuple[DroppedSlot, ...]
    artifacts: tuple[Artifact, ...]
    duration_ms: int = 0
    frames_decoded: int = 0
    #: non-reference frames the decoder dropped on the way to exact targets
    frames_skipped: int = 0
    bytes_read: int = 0
    #: wall time of the capture, ms (of every shard, from the first open to the last file written)
    capture_ms: int = 0
    #: the pieces the job ran as (`domain/shards.py`), and the process id each ran in, in shard order
    shards: int = 1
    pids: tuple[int, ...] = ()
    #: the worker each shard ran on, in shard order, when the job fanned out across workers (else empty)
    workers: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.images)

    @property
    def processes(self) -> int:
        """How many capture processes worked on the job (process ids repeat across workers' hosts)."""
        if self.workers:
            return len(set(zip(self.workers, self.pids, strict=True)))
        return len(set(self.pids)) or 1

    @property
    def worker_count(self) -> int:
        """How many workers captured the job's shards."""
        return len(set(self.workers)) or 1
