"""A job in shards on several capture processes at once: the engine's side (`domain/shards.py` cuts).

Three kinds of pool task, all module-level functions on small picklable specs:

1. `capture_or_plan(spec, rule)` opens the input, plans the targets and cuts them into GOP-aligned
   shards from the keyframe index. A job that stays one shard is captured right there on the input
   already open, exactly as `capture()` does, so it costs nothing over an unsharded job.
2. `capture_shard(shard)`, one per shard, all at once: each opens the input on its own (its own range
   reads: no shard fetches what another needs but the header), picks its targets with the engine's
   rules and hands its images over as files in a directory of its own: single images encoded as the
   job's files will be (the encoding runs in parallel too), sheet cells as raw RGB.
3. `assemble(spec, plan, results)` merges in target order and applies the one rule that spans shards
   (an `intra` slot whose keyframe the slot before it took gives no image, and the slot before may be
   the last of the previous shard), then fills the sheets, names the files and writes the storyboards
   through the same sinks as an unsharded capture. So the images and records are the same.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import av
from PIL import Image

from service.domain.models import CaptureResult, CaptureSpec, DroppedSlot, FrameType
from service.domain.shards import Cut, Shard, ShardRule, cut_job
from service.errors import InternalError, ServiceError
from service.media.capture import bif_frames, capture_open, finish, guarded, make_sink, pick_all
from service.media.decode import nominal_span
from service.media.keyframes import index_offset, keyframe_entries, next_keyframe
from service.media.outputs import Shot, SingleImages, SpriteSheets
from service.media.source import Source
from service.media.timing import plan, slot_interval_ms

#: the first keyframe packet (for the index's decode-time offset) is looked for among this many packets


@dataclass(frozen=True, slots=True)
class ShardPlan:
    """A job too big for one process: the cuts, and what the planning open learnt and cost."""

    duration_ms: int
    shards: tuple[Shard, ...]
    bytes_read: int
    pid: int
    #: the shards go to the cluster's workers (`worker/fanout.py`), not this worker's pool
    fan_out: bool = False

    def to_json(self) -> dict[str, Any]:
        """The plan as a fanned-out job's row keeps it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardPlan:
        shards = tuple(Shard(s["start"], s["stop"], s["cost"]) for s in data["shards"])
        return cls(data["duration_ms"], shards, data["bytes_read"], data["pid"], data["fan_out"])


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """One shard of a job: targets `start` to `stop` of the job's target list."""

    capture: CaptureSpec
    number: int
    start: int
    stop: int
    #: the job's output size when this shard's first frame would give another one (a size change
    #: mid-stream): every image of a job has the size of its first
    output_size: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class ShardImage:
    shot: Shot
    #: the encoded image (single images) or its raw RGB pixels (sheet cells)
    path: str
    size: tuple[int, int]
    #: the encoded file's size (0 for a raw cell)
    nbytes: int
    #: the pts picked before any black-frame replacement: the keyframe, for `intra`
    key: int
    #: the image's BIF frame, when the job writes a BIF and its images are not sheet cells
    bif_path: str | None = None

    @property
    def is_cell(self) -> bool:
        """A raw sheet cell (the sheets are filled from it), not an encoded image."""
        return self.nbytes == 0


@dataclass(frozen=True, slots=True)
class ShardResult:
    number: int
    images: tuple[ShardImage, ...]
    dropped: tuple[DroppedSlot, ...]
    output_size: tuple[int, int] | None
    frames_decoded: int
    frames_skipped: int
    bytes_read: int
    pid: int
    #: the worker it ran on, when the job fanned out across workers
    worker: str = ""

    def to_json(self) -> dict[str, Any]:
        """The result as a fanned-out job's shard row keeps it (its paths are then storage keys)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardResult:
        images = tuple(
            ShardImage(
                Shot(**image["shot"]),
                image["path"],
                _size(image["size"]),
                image["nbytes"],
                image["key"],
                image["bif_path"],
            )
            for image in data["images"]
        )
        return cls(
            number=data["number"],
            images=images,
            dropped=tuple(DroppedSlot(**slot) for slot in data["dropped"]),
            output_size=_size(data["output_size"]) if data["output_size"] is not None else None,
            frames_decoded=data["frames_decoded"],
            frames_skipped=data["frames_skipped"],
            bytes_read=data["bytes_read"],
            pid=data["pid"],
            worker=data["worker"],
        )


def _size(value: Sequence[int]) -> tuple[int, int]:
    width, height = value
    return int(width), int(height)


class RawCells:
    """A shard's sheet cells as raw RGB files: the sheets are filled in target order after every shard."""

    def __init__(self, sheets: SpriteSheets, scratch: str) -> None:
        self._sheets, self._scratch = sheets, scratch
        self.cells: list[tuple[Shot, str, tuple[int, int]]] = []

    def render_size(self, output: tuple[int, int]) -> tuple[int, int]:
        return self._sheets.render_size(output)

    def sheet_size(self, output: tuple[int, int]) -> tuple[int, int] | None:
        return self._sheets.sheet_size(output)

    def add(self, shot: Shot, image: Image.Image) -> None:
        path = os.path.join(self._scratch, f"cell-{len(self.cells) + 1:05d}.rgb")
        with open(path, "wb") as out:
            out.write(image.tobytes("raw", "RGB"))
        self.cells.append((shot, path, image.size))


# --- 1. plan ---------------------------------------------------------------------------------------


def keyframe_times(src: Source) -> list[int]:
    """Keyframe presentation times from the container's index, without decoding ([] without an index).

    A seek loads an index kept apart from the header (Matroska's cues), as a capture's first seek does.
    MP4 indexes decode times, Matroska presentation times: the first keyframe packet tells which
    (`keyframes.index_offset`, as the plan reads it).
    """
    stream = src.stream
    try:
        src.container.seek(src.start_pts, backward=True, any_frame=False, stream=stream)
        first = next_keyframe(src.container, stream)
    except (av.FFmpegError, EOFError):
        return []
    offset = index_offset(stream.index_entries, first)
    return [pts + offset for pts, _ in keyframe_entries(stream)]


def _cut(src: Source, spec: CaptureSpec, rule: ShardRule) -> Cut:
    targets, _ = plan(spec.config, src.duration_ms)
    if (rule.max_shards <= 1 and not rule.may_fan_out(len(targets))) or len(targets) < 2:
        return Cut([Shard(0, len(targets), 0.0)])
    keyframes = keyframe_times(src)
    times = [src.pts_of(target.ms) for target in targets]
    return cut_job(times, keyframes, spec.config.frame_type, nominal_span(src), rule)


def capture_or_plan(spec: CaptureSpec, rule: ShardRule) -> CaptureResult | ShardPlan:
    """The capture itself when the job stays one shard, else its shards; raises only service errors."""
    started = time.perf_counter()

    def run(src: Source) -> CaptureResult | ShardPlan:
        cut = _cut(src, spec, rule)
        if len(cut.shards) == 1:
            return capture_open(src, spec)
        return ShardPlan(src.duration_ms, tuple(cut.shards), src.bytes_read, os.getpid(), cut.fan_out)

    outcome = guarded(spec, run)
    if isinstance(outcome, CaptureResult):
        outcome = dataclasses.replace(outcome, capture_ms=round((time.perf_counter() - started) * 1000))
    return outcome


# --- 2. shards -------------------------------------------------------------------------------------


def shard_dir(spec: CaptureSpec, number: int) -> str:
    return os.path.join(spec.scratch_dir, f"shard-{number:03d}")


def capture_shard(shard: ShardSpec) -> ShardResult:
    """Capture one shard's targets into its own directory; raises only service errors (picklable)."""
    spec = shard.capture
    scratch = shard_dir(spec, shard.number)

    def run(src: Source) -> ShardResult:
        os.makedirs(scratch, exist_ok=True)
        cfg = spec.config
        targets, _ = plan(cfg, src.duration_ms)
        frames = bif_frames(spec, scratch)
        sink = make_sink(spec, scratch, frames.add if frames else None)
        into: RawCells | SingleImages = RawCells(sink, scratch) if isinstance(sink, SpriteSheets) else sink
        picks = pick_all(
            src,
            spec,
            targets[shard.start : shard.stop],
            into,
            step_ms=slot_interval_ms(cfg, src.duration_ms),
            output_size=shard.output_size,
        )
        if isinstance(into, RawCells):
            images = [
                ShardImage(shot, path, size, 0, key)
                for (shot, path, size), key in zip(into.cells, picks.keys, strict=True)
            ]
        else:
            bif_paths: Sequence[str | None] = frames.paths if frames else [None] * len(picks.keys)
            images = [
                ShardImage(shot, path, size, nbytes, key, bif_path)
                for (shot, path, size, nbytes), key, bif_path in zip(into.added(), picks.keys, bif_paths, strict=True)
            ]
        return ShardResult(
            number=shard.number,
            images=tuple(images),
            dropped=tuple(picks.dropped),
            output_size=picks.size,
            frames_decoded=picks.picker.frames_decoded,
            frames_skipped=picks.picker.frames_skipped,
            bytes_read=src.bytes_read,
            pid=os.getpid(),
        )

    return guarded(spec, run)


# --- 3. assembly -----------------------------------------------------------------------------------


def assemble(spec: CaptureSpec, shard_plan: ShardPlan, results: Sequence[ShardResult]) -> CaptureResult:
    """The job's files and records from its shards' images, in target order; raises only service errors."""
    failure: ServiceError | None = None
    try:
        return _assemble(spec, shard_plan, sorted(results, key=lambda r: r.number))
    except OSError as exc:
        failure = InternalError(f"The snapshot files cannot be written: {exc.strerror or type(exc).__name__}.")
    failure.__traceback__ = None
    raise failure


def _assemble(spec: CaptureSpec, shard_plan: ShardPlan, results: list[ShardResult]) -> CaptureResult:
    cfg = spec.config
    duration_ms = shard_plan.duration_ms
    _, dropped = plan(cfg, duration_ms)
    frames = bif_frames(spec, spec.scratch_dir)
    sink = make_sink(spec, spec.scratch_dir, frames.add if frames else None)
    size = next((r.output_size for r in results if r.output_size is not None), None)
    if size is not None and isinstance(sink, SpriteSheets):
        # lays the sheets out for the job's output size, as the first image does in one process
        sink.render_size(size)
    last_key: int | None = None
    for result in results:
        dropped.extend(result.dropped)
        for image in result.images:
            if cfg.frame_type is FrameType.INTRA and image.key == last_key:
                # the previous shard's last image came from this keyframe already
                dropped.append(DroppedSlot(image.shot.index, image.shot.requested_ms, "no_keyframe"))
                for path in (image.path, image.bif_path):
                    if path is not None:
                        # a fanned-out job's single images stay in the store: no local file to remove
                        with contextlib.suppress(FileNotFoundError):
                            os.remove(path)
                continue
            last_key = image.key
            if isinstance(sink, SpriteSheets):
                with open(image.path, "rb") as raw:
                    cell = Image.frombytes("RGB", image.size, raw.read())
                os.remove(image.path)
                sink.add(image.shot, cell)
            else:
                sink.add_file(image.shot, image.path, image.size, image.nbytes)
                if frames is not None and image.bif_path is not None:
                    frames.paths.append(image.bif_path)
    step_ms = slot_interval_ms(cfg, duration_ms)
    records, artifacts = finish(spec, sink, frames, duration_ms=duration_ms, step_ms=step_ms)
    dropped.sort(key=lambda d: d.index)
    return CaptureResult(
        images=tuple(records),
        dropped=tuple(dropped),
        artifacts=tuple(artifacts),
        duration_ms=duration_ms,
        frames_decoded=sum(r.frames_decoded for r in results),
        frames_skipped=sum(r.frames_skipped for r in results),
        bytes_read=shard_plan.bytes_read + sum(r.bytes_read for r in results),
        shards=len(results),
        pids=tuple(r.pid for r in results),
        workers=tuple(r.worker for r in results) if any(r.worker for r in results) else (),
    )


def first_size_mismatch(results: Sequence[ShardResult]) -> tuple[tuple[int, int] | None, list[int]]:
    """The job's output size (its first shard with an image), and the shards whose first frame gave another."""
    ordered = sorted(results, key=lambda r: r.number)
    size = next((r.output_size for r in ordered if r.output_size is not None), None)
    return size, [r.number for r in ordered if r.output_size is not None and r.output_size != size]
