"""The engine's entry point: one job's capture, run inside a spawn-context process pool.

`capture(spec)` opens the input once, plans the target times, picks a frame per target (keyframe-packet
for `intra`, exact frame for `normal`), applies the black-frame rules, renders at the output size and
writes images / sprite sheets / storyboards into `spec.scratch_dir`. Rendering and the sink run on an
output thread beside the picker (`overlap.py`): image N is encoded while frame N+1 decodes. Library errors are translated here into
service errors with one string argument, because they cross the process boundary by pickling.

The pieces are public because a job in shards (`shards.py`) runs them apart: `pick_all` over a shard's
targets in each process, `make_sink` and `finish` once, after every shard; `guarded` gives every pool
task the same error translation.

A truncated input decodes what it can: targets past the readable part are dropped with reason
"unreadable"; a job that captures nothing at all fails with MediaContentBad.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import Protocol, TypeVar

import av
import av.logging
import av.video.frame
from av.video.reformatter import VideoReformatter
from PIL import Image

from service.domain.image_formats import format_of
from service.domain.memory import MIB, CaptureMemory
from service.domain.models import (
    Artifact,
    CaptureResult,
    CaptureSpec,
    DroppedSlot,
    FrameType,
    ImageRecord,
    SnapshotConfig,
    SnapshotType,
    SpriteConfig,
)
from service.domain.snapshot_config import check_sheet_size
from service.errors import InternalError, MediaContentBad, MediaTooLarge, ServiceError
from service.media import bif, memory_cap, naming, storyboards
from service.media.black import FIRST_FRAME_WINDOW_MS, BlackRule, every_image_rule, first_image_rule
from service.media.compose import display_size, output_size, render
from service.media.decode import FramePicker, Picked
from service.media.images import Encoder, jpeg
from service.media.outputs import OnCell, Shot, SingleImages, SpriteSheets
from service.media.overlap import Overlap
from service.media.source import Source, content_bad, open_source
from service.media.timing import Target, plan, slot_interval_ms

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: WebVtt with IsSptFrag and no sprite config: ICE was seen using 10 columns (ice-snapshot-api.md §3.5)
DEFAULT_VTT_SPRITE = SpriteConfig(columns=10, lines=10)


class Sink(Protocol):
    """What the pick loop hands its images to: the job's own sinks (`outputs.py`) or a shard's cells."""

    def render_size(self, output: tuple[int, int]) -> tuple[int, int]: ...

    def sheet_size(self, output: tuple[int, int]) -> tuple[int, int] | None: ...

    def add(self, shot: Shot, image: Image.Image) -> None: ...


def init_worker(memory_budget_bytes: int = 0) -> None:
    """Pool initializer: the parent handles Ctrl-C; FFmpeg stays quiet (errors surface as exceptions);
    the process's memory is capped at its budget, so a capture that needs more fails clearly instead of
    pushing the pod into the OOM killer (`memory_cap`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_budget_bytes:
        memory_cap.cap_process(memory_budget_bytes)
    # FFmpeg's messages are dropped in C (PyAV's default). Any level instead routes every message, TRACE
    # included, through PyAV's callback first: the MP4 demuxer logs each of an index's entries, and
    # opening a 10-min 1080p file took 19.7 ms that way against 13.8 ms. Errors still raise FFmpegError
    # with FFmpeg's own error string.
    av.logging.set_level(None)
    logging.getLogger("libav").setLevel(logging.CRITICAL)


def make_sink(spec: CaptureSpec, scratch: str, on_cell: OnCell | None = None) -> SingleImages | SpriteSheets:
    """Where the job's images go, writing its files into `scratch`."""
    cfg, key = spec.config, spec.output_key
    if cfg.type is SnapshotType.WEBVTT:
        # the .vtt names the track; its images are JPEG, which every player and BIF reader takes
        encoder = jpeg(cfg.quality or spec.jpeg_quality)
        if cfg.is_spt_frag:
            return SpriteSheets(
                scratch,
                encoder,
                lambda n, _total: naming.vtt_image_key(key, n, sheet=True)[0],
                cfg.sprite or DEFAULT_VTT_SPRITE,
                on_cell,
            )
        return SingleImages(scratch, encoder, lambda n, _total: naming.vtt_image_key(key, n, sheet=False)[0], on_cell)
    encoder = Encoder.of(format_of(key, "Output.Media"), cfg.quality, spec.jpeg_quality)
    if cfg.type is SnapshotType.SPRITE:
        return SpriteSheets(
            scratch,
            encoder,
            lambda n, total: naming.expand(key, naming.TILE_COUNT, n, total),
            cfg.sprite or SpriteConfig(),
        )
    return SingleImages(scratch, encoder, lambda n, total: naming.expand(key, naming.COUNT, n, total))


def _replace_black(picker: FramePicker, picked: Picked, rule: BlackRule, start_ms: float, end_ms: float) -> Picked:
    """The non-black frame in [start, end) nearest to `picked`, or `picked` itself when there is none."""
    if not rule.is_black(picked.frame):
        return picked
    best: Picked | None = None
    for candidate in picker.frames_from(start_ms, end_ms):
        if rule.is_black(candidate.frame):
            continue
        if best is None or abs(candidate.pts - picked.pts) < abs(best.pts - picked.pts):
            best = candidate
        if candidate.pts >= picked.pts:
            # frames only get farther from here on
            break
    return best or picked


@dataclass(slots=True)
class Picks:
    """What the pick loop decided beyond the images it handed to the sink."""

    dropped: list[DroppedSlot]
    #: per image given to the sink, in order: the pts of the frame picked before any black-frame
    #: replacement (for `intra`, the keyframe: what a later slot must not use again)
    keys: list[int]
    #: the output size, from the first frame picked (None: nothing was picked)
    size: tuple[int, int] | None
    picker: FramePicker


#: Keyframes for images whose sides are at most this share of the coded frame's shorter side decode
#: without the in-loop deblocking filter: 20 % less decode time (a 1080p H.264 keyframe: 6.7 → 5.35 ms),
#: and once the image is that much smaller the filter's work is averaged away: the benchmark's a.mp4, 60
#: keyframes, mean absolute difference 0.10 at 160x90 (at most 5 levels) and 0.26 at 480x270 (at most
#: 13). JPEG q88 alone moves pixels by more. A frame that others are predicted from keeps it (drift).
THUMBNAIL_SHARE = 0.25


def decodes_as_thumbnails(
    src: Source, spec: CaptureSpec, sink: Sink, fixed_size: tuple[int, int] | None = None
) -> bool:
    """Whether every frame this capture decodes ends as a small image only: keyframes, each decoded alone
    (`FramePicker.keyframe_at`), no black-frame rule (which decodes forward from them), and images whose
    sides are at most THUMBNAIL_SHARE of the coded frame's shorter side, whichever way the display matrix
    turns the frame (known only once one is decoded)."""
    cfg = spec.config
    if cfg.frame_type is not FrameType.INTRA or first_image_rule(cfg) or every_image_rule(cfg):
        return False
    width, height = src.stream.codec_context.width, src.stream.codec_context.height
    sar = src.stream.sample_aspect_ratio or Fraction(1, 1)
    shown = (round(width * sar), height)
    largest = max(
        max(sink.render_size(fixed_size or output_size(display, cfg.width, cfg.height)))
        for display in (shown, shown[::-1])
    )
    return largest <= min(width, height) * THUMBNAIL_SHARE


def pick_all(
    src: Source,
    spec: CaptureSpec,
    targets: list[Target],
    sink: Sink,
    *,
    step_ms: float,
    output_size: tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Picks:
    """Pick, test and render a frame for each of `targets` (increasing) into `sink`.

    `output_size` fixes the size instead of taking it from the first frame picked: a shard renders at
    the size the job's first image has.
    """
    cfg = spec.config
    if decodes_as_thumbnails(src, spec, sink, output_size):
        ctx = src.stream.codec_context
        ctx.options = {**ctx.options, "skip_loop_filter": "all"}
    picker = FramePicker(src)
    first_rule, all_rule = first_image_rule(cfg), every_image_rule(cfg)
    sar = src.stream.sample_aspect_ratio
    picks = Picks([], [], None, picker)
    last_key: int | None = None
    # one scaler for the job's images, used by the output thread only (`compose.render`)
    scaler = VideoReformatter()
    with Overlap() as output:
        for n, target in enumerate(targets, start=1):
            then_ms = targets[n].ms if n < len(targets) else None
            picked = _pick(picker, cfg.frame_type, target, then_ms)
            if picked is None:
                picks.dropped.append(DroppedSlot(target.index, target.ms, "unreadable"))
            elif cfg.frame_type is FrameType.INTRA and picked.pts == last_key:
                # ICE emits one image per keyframe: a slot whose keyframe was already used produces nothing
                picks.dropped.append(DroppedSlot(target.index, target.ms, "no_keyframe"))
            else:
                last_key = picked.pts
                picks.keys.append(picked.pts)
                if target.index == 0 and first_rule is not None:
                    picked = _replace_black(picker, picked, first_rule, 0, FIRST_FRAME_WINDOW_MS)
                elif all_rule is not None:
                    window = (target.ms - step_ms / 2, target.ms + step_ms / 2)
                    picked = _replace_black(picker, picked, all_rule, *window)
                if picks.size is None:
                    picks.size = output_size or output_size_of(picked, sar, cfg)
                    _check_fits(spec, src, picks.size, sink.sheet_size(picks.size))
                shot = Shot(target.index, target.ms, src.ms_of(picked.pts), picked.keyframe)
                # rendered and handed to the sink on the output thread while the next frame decodes;
                # the image is dropped as soon as the sink has it (a full-size RGB frame is large)
                output.submit(partial(_output, sink, shot, picked.frame, sink.render_size(picks.size), scaler))
            # let the frame go before the next pick decodes another (the output task holds it until done)
            picked = None
            if progress is not None:
                progress(n, len(targets))
    return picks


def _output(
    sink: Sink, shot: Shot, frame: av.video.frame.VideoFrame, size: tuple[int, int], scaler: VideoReformatter
) -> None:
    sink.add(shot, render(frame, size, scaler))


def output_size_of(picked: Picked, sar: Fraction | None, cfg: SnapshotConfig) -> tuple[int, int]:
    return output_size(display_size(picked.frame, sar), cfg.width, cfg.height)


def bif_frames(spec: CaptureSpec, scratch: str) -> bif.BifFrames | None:
    """BIF holds cells, not sheets: they are kept as the sink fills them."""
    cfg = spec.config
    return bif.BifFrames(scratch, jpeg(cfg.quality or spec.jpeg_quality)) if "bif" in cfg.storyboard_formats else None


def finish(
    spec: CaptureSpec,
    sink: SingleImages | SpriteSheets,
    frames: bif.BifFrames | None,
    *,
    duration_ms: int,
    step_ms: float,
) -> tuple[list[ImageRecord], list[Artifact]]:
    """The files of a capture once every image is in `sink`: keys, sheets, storyboards."""
    cfg = spec.config
    records, artifacts = sink.finish()
    if not records:
        raise MediaContentBad("No frame of the input video could be decoded.")
    if cfg.type is SnapshotType.WEBVTT:
        grid = (sink.layout.columns, sink.layout.lines) if sink.layout else None
        artifacts += storyboards.write(
            cfg.storyboard_formats or ("vtt",),
            spec.output_key,
            spec.scratch_dir,
            records,
            step_ms=step_ms,
            duration_ms=duration_ms,
            grid=grid,
            frames=frames,
        )
    return records, artifacts


def capture_open(src: Source, spec: CaptureSpec, progress: Callable[[int, int], None] | None = None) -> CaptureResult:
    """The whole capture on an input already open, in this process."""
    cfg = spec.config
    targets, dropped = plan(cfg, src.duration_ms)
    step_ms = slot_interval_ms(cfg, src.duration_ms)
    frames = bif_frames(spec, spec.scratch_dir)
    sink = make_sink(spec, spec.scratch_dir, frames.add if frames else None)
    picks = pick_all(src, spec, targets, sink, step_ms=step_ms, progress=progress)
    records, artifacts = finish(spec, sink, frames, duration_ms=src.duration_ms, step_ms=step_ms)
    return CaptureResult(
        images=tuple(records),
        dropped=tuple(sorted(dropped + picks.dropped, key=lambda d: d.index)),
        artifacts=tuple(artifacts),
        duration_ms=src.duration_ms,
        frames_decoded=picks.picker.frames_decoded,
        frames_skipped=picks.picker.frames_skipped,
        bytes_read=src.bytes_read,
        pids=(os.getpid(),),
    )


def _check_fits(spec: CaptureSpec, src: Source, output: tuple[int, int], sheet: tuple[int, int] | None) -> None:
    """Sizes known once the first frame is decoded: the sheet's sides, and the whole capture's memory."""
    cfg = spec.config
    if sheet is not None:
        check_sheet_size(sheet, f"TemplateConfig.SpriteSnapshotConfig (cells of {output[0]}x{output[1]} px)")
    if not spec.memory_budget_bytes:
        return
    need = CaptureMemory(
        input_pixels=src.stream.codec_context.width * src.stream.codec_context.height,
        output_pixels=output[0] * output[1],
        sheet_pixels=sheet[0] * sheet[1] if sheet else 0,
        frame_type=cfg.frame_type,
        decode_threads=spec.decode_threads,
    ).bytes()
    if need > spec.memory_budget_bytes:
        raise MediaTooLarge(
            f"This capture needs about {need // MIB} MiB (frames of {output[0]}x{output[1]} px"
            + (f", sheets of {sheet[0]}x{sheet[1]} px" if sheet else "")
            + f"), more than a capture process's {spec.memory_budget_bytes // MIB} MiB: ask for a smaller Width/Height"
            + (" or CellWidth/CellHeight, or fewer Columns/Lines." if sheet else ".")
        )


def _pick(picker: FramePicker, frame_type: FrameType, target: Target, then_ms: float | None) -> Picked | None:
    if frame_type is FrameType.NORMAL:
        return picker.exact_at(target.ms, then_ms)
    return picker.keyframe_at(target.ms)


def _over_budget(spec: CaptureSpec) -> MediaTooLarge:
    budget = f" of {spec.memory_budget_bytes // MIB} MiB" if spec.memory_budget_bytes else ""
    return MediaTooLarge(f"The input media needs more memory to decode than a capture process's budget{budget}.")


def capture(spec: CaptureSpec, progress: Callable[[int, int], None] | None = None) -> CaptureResult:
    """Capture the snapshots `spec` asks for in this process; raises only service errors (picklable)."""
    started = time.perf_counter()
    result = guarded(spec, lambda src: capture_open(src, spec, progress))
    result = dataclasses.replace(result, capture_ms=round((time.perf_counter() - started) * 1000))
    log.debug("captured %d images in %d ms", result.count, result.capture_ms)
    return result


def guarded(spec: CaptureSpec, run: Callable[[Source], _T]) -> _T:
    """`run` on the input `spec` opens, with every failure turned into the service error it means."""
    memory_cap.reset_peak()
    # The error leaves after the except blocks: raised inside them it would chain the library error,
    # whose traceback holds the decoder's frames, and keep them alive in this process after a
    # memory failure, which is just when they must go.
    failure: ServiceError | None = None
    try:
        with open_source(
            spec.source,
            threads=spec.decode_threads,
            max_pixels=spec.max_input_pixels,
            max_bytes=spec.max_input_bytes,
            max_duration_ms=spec.max_duration_ms,
            ssrf_allow=spec.ssrf_allow,
            known_duration_ms=spec.known_duration_ms,
        ) as src:
            return run(src)
    except MemoryError:
        # FFmpeg's ENOMEM is both an av error and a MemoryError: this clause goes first
        failure = _over_budget(spec)
    except (av.FFmpegError, EOFError, MediaContentBad) as exc:
        if memory_cap.hit_cap():
            failure = _over_budget(spec)
        else:
            failure = exc if isinstance(exc, MediaContentBad) else content_bad(exc)
    except OSError as exc:
        # av errors are OSErrors too, but were handled above: this is the scratch dir failing
        failure = InternalError(f"The snapshot files cannot be written: {exc.strerror or type(exc).__name__}.")
    failure.__traceback__ = None
    if isinstance(failure, MediaTooLarge):
        memory_cap.give_back()
    raise failure
