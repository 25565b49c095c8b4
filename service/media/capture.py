"""The engine's entry point: one job's capture, run inside a spawn-context process pool.

`capture(spec)` opens the input once, plans the target times, picks a frame per target (keyframe-packet
for `intra`, exact frame for `normal`), applies the black-frame rules, renders at the output size and
writes JPEGs / sprite sheets / a .vtt into `spec.scratch_dir`. Library errors are translated here into
service errors with one string argument, because they cross the process boundary by pickling.

A truncated input decodes what it can: targets past the readable part are dropped with reason
"unreadable"; a job that captures nothing at all fails with MediaContentBad.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable

import av
import av.logging

from service.domain.models import CaptureResult, CaptureSpec, DroppedSlot, FrameType, SnapshotType, SpriteConfig
from service.errors import InternalError, MediaContentBad
from service.media import naming
from service.media.black import FIRST_FRAME_WINDOW_MS, BlackRule, every_image_rule, first_image_rule
from service.media.compose import display_size, output_size, render
from service.media.decode import FramePicker, Picked
from service.media.outputs import Shot, SingleImages, SpriteSheets, write_vtt
from service.media.source import Source, content_bad, open_source
from service.media.timing import Target, plan, slot_interval_ms

log = logging.getLogger(__name__)

#: WebVtt with IsSptFrag and no sprite config: ICE was seen using 10 columns (ice-snapshot-api.md §3.5)
DEFAULT_VTT_SPRITE = SpriteConfig(columns=10, lines=10)


def init_worker() -> None:
    """Pool initializer: the parent handles Ctrl-C; FFmpeg stays quiet (errors surface as exceptions)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    av.logging.set_level(av.logging.PANIC)
    logging.getLogger("libav").setLevel(logging.CRITICAL)


def _sink(spec: CaptureSpec) -> SingleImages | SpriteSheets:
    cfg, key = spec.config, spec.output_key
    if cfg.type is SnapshotType.SPRITE:
        return SpriteSheets(
            spec.scratch_dir,
            spec.jpeg_quality,
            lambda n, total: naming.expand(key, naming.TILE_COUNT, n, total),
            cfg.sprite or SpriteConfig(),
        )
    if cfg.type is SnapshotType.WEBVTT:
        if cfg.is_spt_frag:
            return SpriteSheets(
                spec.scratch_dir,
                spec.jpeg_quality,
                lambda n, _total: naming.vtt_image_key(key, n, sheet=True)[0],
                cfg.sprite or DEFAULT_VTT_SPRITE,
            )
        return SingleImages(
            spec.scratch_dir, spec.jpeg_quality, lambda n, _total: naming.vtt_image_key(key, n, sheet=False)[0]
        )
    return SingleImages(
        spec.scratch_dir, spec.jpeg_quality, lambda n, total: naming.expand(key, naming.COUNT, n, total)
    )


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


def _capture(src: Source, spec: CaptureSpec, progress: Callable[[int, int], None] | None) -> CaptureResult:
    cfg = spec.config
    targets, dropped = plan(cfg, src.duration_ms)
    step_ms = slot_interval_ms(cfg, src.duration_ms)
    picker = FramePicker(src)
    sink = _sink(spec)
    first_rule, all_rule = first_image_rule(cfg), every_image_rule(cfg)
    sar = src.stream.sample_aspect_ratio
    size: tuple[int, int] | None = None
    last_key: int | None = None
    for n, target in enumerate(targets, start=1):
        then_ms = targets[n].ms if n < len(targets) else None
        picked = _pick(picker, cfg.frame_type, target, then_ms)
        if picked is None:
            dropped.append(DroppedSlot(target.index, target.ms, "unreadable"))
        elif cfg.frame_type is FrameType.INTRA and picked.pts == last_key:
            # ICE emits one image per keyframe: a slot whose keyframe was already used produces nothing
            dropped.append(DroppedSlot(target.index, target.ms, "no_keyframe"))
        else:
            last_key = picked.pts
            if target.index == 0 and first_rule is not None:
                picked = _replace_black(picker, picked, first_rule, 0, FIRST_FRAME_WINDOW_MS)
            elif all_rule is not None:
                picked = _replace_black(picker, picked, all_rule, target.ms - step_ms / 2, target.ms + step_ms / 2)
            if size is None:
                size = output_size(display_size(picked.frame, sar), cfg.width, cfg.height)
            image = render(picked.frame, sink.render_size(size))
            sink.add(Shot(target.index, target.ms, src.ms_of(picked.pts), picked.keyframe), image)
        if progress is not None:
            progress(n, len(targets))
    records, artifacts = sink.finish()
    if not records:
        raise MediaContentBad("No frame of the input video could be decoded.")
    if cfg.type is SnapshotType.WEBVTT:
        artifacts.append(
            write_vtt(spec.output_key, spec.scratch_dir, records, step_ms, src.duration_ms, sheets=cfg.is_spt_frag)
        )
    return CaptureResult(
        images=tuple(records),
        dropped=tuple(sorted(dropped, key=lambda d: d.index)),
        artifacts=tuple(artifacts),
        duration_ms=src.duration_ms,
        frames_decoded=picker.frames_decoded,
        frames_skipped=picker.frames_skipped,
        bytes_read=src.bytes_read,
    )


def _pick(picker: FramePicker, frame_type: FrameType, target: Target, then_ms: float | None) -> Picked | None:
    if frame_type is FrameType.NORMAL:
        return picker.exact_at(target.ms, then_ms)
    return picker.keyframe_at(target.ms)


def capture(spec: CaptureSpec, progress: Callable[[int, int], None] | None = None) -> CaptureResult:
    """Capture the snapshots `spec` asks for; raises only service errors (picklable)."""
    started = time.perf_counter()
    try:
        with open_source(
            spec.source,
            threads=spec.decode_threads,
            max_pixels=spec.max_input_pixels,
            max_bytes=spec.max_input_bytes,
            max_duration_ms=spec.max_duration_ms,
            ssrf_allow=spec.ssrf_allow,
        ) as src:
            result = _capture(src, spec, progress)
    except (av.FFmpegError, EOFError) as exc:
        raise content_bad(exc) from None
    except OSError as exc:
        # av errors are OSErrors too, but were handled above: this is the scratch dir failing
        raise InternalError(f"The snapshot files cannot be written: {exc.strerror or type(exc).__name__}.") from None
    except MemoryError:
        raise MediaContentBad("The input media needs more memory to decode than is available.") from None
    result.stats["capture_s"] = round(time.perf_counter() - started, 4)
    log.debug("captured %d images in %.3f s", result.count, result.stats["capture_s"])
    return result
