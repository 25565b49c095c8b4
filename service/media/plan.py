"""PlanSnapshotJob's engine side: what a job would produce and read, from the probe and the index alone.

`plan_capture(spec)` opens the input as a capture opens it (`source.open_container`), reads the video
stream's index (every sample of an MP4/MOV with its position and size; a Matroska/WebM file's cue points,
loaded by one seek as a job's first seek loads them) and answers with `predict`, which follows the
engine's own rules: `timing.plan` for the slots, the keyframe at or before each time for `intra` (a slot
whose keyframe the slot before took is dropped: `no_keyframe`), the frame shown at each time for `normal`,
the sinks' key naming and sheet layout, and the range reader's fetch policy (`range_reader.fetch_span`)
for the bytes. Nothing is decoded when the rotation is known (a media asset's probe); otherwise the first
keyframe is, as a probe does, because PyAV exposes the rotation only on frames.

MP4 index timestamps are decode times: a keyframe's presentation time is its decode time plus the offset
the first keyframe packet shows (the B-frame delay), and the frames' presentation times are the decode
times so shifted (constant-rate streams, which is what encoders write). Runs in a process pool.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from fractions import Fraction

import av
import av.container
import av.video.stream

from service.domain.models import DroppedSlot, FrameType, SnapshotConfig, SnapshotType, SpriteConfig
from service.domain.plan import CapturePlan, PlannedFile, PlannedImage, VideoIndex
from service.errors import MediaContentBad, ServiceError
from service.media import naming
from service.media.capture import DEFAULT_VTT_SPRITE
from service.media.compose import SheetLayout, displayed, output_size, rotation_of
from service.media.keyframes import index_offset, keyframe_entries, next_keyframe
from service.media.range_reader import (
    AVIO_BUFFER_SIZE,
    CACHE_BYTES,
    MAX_READAHEAD_BYTES,
    RangeReader,
    fence_block,
    fetch_span,
)
from service.media.source import capture_duration_ms, content_bad, first_pts, open_container
from service.media.timing import plan as plan_targets

#: the first keyframe packet is looked for among this many packets


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """What a pool process needs to plan one job. Small and picklable."""

    source: str
    config: SnapshotConfig
    output_key: str
    max_input_bytes: int = 0
    ssrf_allow: tuple[str, ...] | None = None
    #: a media asset's probe: its capture duration and rotation (counter-clockwise); None: learn them here
    known_duration_ms: int | None = None
    known_rotation: int | None = None


def plan_capture(spec: PlanSpec) -> CapturePlan:
    """The plan of the job `spec` describes; raises only service errors (picklable)."""
    failure: ServiceError | None = None
    try:
        container, reader = open_container(spec.source, ssrf_allow=spec.ssrf_allow, max_bytes=spec.max_input_bytes)
        try:
            index = read_index(container, spec.known_duration_ms, spec.known_rotation)
            if isinstance(reader, RangeReader):
                size, read = reader.size, reader.bytes_fetched
                header, block = reader.blocks_fetched, reader.block_size
            else:
                reader.seek(0, 2)
                size, read, header, block = reader.tell(), 0, frozenset[int](), 0
            return predict(spec.config, spec.output_key, index, size=size, bytes_read=read, header=header, block=block)
        finally:
            container.close()
            reader.close()
    except (av.FFmpegError, EOFError) as exc:
        failure = content_bad(exc)
    assert failure is not None
    failure.__traceback__ = None
    raise failure


def read_index(
    container: av.container.InputContainer, known_duration_ms: int | None, known_rotation: int | None
) -> VideoIndex:
    """The video stream's index, without decoding (but for the first keyframe when the rotation is unknown)."""
    if not container.streams.video:
        raise MediaContentBad("The input media has no video stream.")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if not ctx.width or not ctx.height:
        raise MediaContentBad("The input media has no decodable video (unknown frame size).")
    first = next_keyframe(container, stream)
    if first is None:
        raise MediaContentBad("The input video has no keyframe.")
    rotation = known_rotation
    if rotation is None:
        frames = ctx.decode(first) + ctx.decode(None)
        ctx.flush_buffers()
        if not frames:
            raise MediaContentBad("The input video has no decodable keyframe.")
        rotation = rotation_of(frames[0])
    start = first_pts(container, stream)
    duration_ms = known_duration_ms if known_duration_ms is not None else capture_duration_ms(container, stream, start)
    # a seek loads an index kept apart from the header (Matroska's cues), as a job's first seek does
    container.seek(start, backward=True, any_frame=False, stream=stream)
    entries = list(stream.index_entries)
    assert first.pts is not None
    offset = index_offset(entries, first)
    tb = stream.time_base or Fraction(1, 1)
    full = bool(stream.frames) and len(entries) >= stream.frames and all(e.size for e in entries)
    sar = stream.sample_aspect_ratio or Fraction(1, 1)
    rate = stream.average_rate or stream.guessed_rate or 0
    return VideoIndex(
        duration_ms=duration_ms,
        width=ctx.width,
        height=ctx.height,
        rotation=rotation,
        sar_num=sar.numerator,
        sar_den=sar.denominator,
        start_pts=start,
        time_base=(tb.numerator, tb.denominator),
        keyframes=tuple(pts + offset for pts, _ in keyframe_entries(stream)) or (first.pts,),
        frames=tuple(sorted(e.timestamp + offset for e in entries)) if full else (),
        packets=tuple((e.timestamp + offset, e.pos, e.size) for e in entries),
        reorder_depth=max(int(getattr(ctx, "reorder_depth", 0) or 0), 0),
        frame_rate=float(rate),
    )


# --- the prediction (pure) ---------------------------------------------------------------------------


class _Clock:
    """The engine's conversions between ms and the stream's time base (`source.Source`)."""

    def __init__(self, index: VideoIndex) -> None:
        self.start = index.start_pts
        self.tb = Fraction(*index.time_base)

    def pts_of(self, ms: float) -> int:
        return self.start + int(ms / 1000 / self.tb)

    def ms_of(self, pts: int) -> int:
        return round((pts - self.start) * self.tb * 1000)


def predict(
    config: SnapshotConfig,
    output_key: str,
    index: VideoIndex,
    *,
    size: int,
    bytes_read: int = 0,
    header: frozenset[int] = frozenset(),
    block: int = 0,
) -> CapturePlan:
    """The plan of `config` on a file whose index is `index`. `header`: the range reader's blocks read by
    opening (a job's open reads the same); `block` its block size, 0 for a local file."""
    clock = _Clock(index)
    targets, dropped = plan_targets(config, index.duration_ms)
    chosen: list[tuple[int, int, int, bool]] = []  # (slot, requested ms, pts, keyframe)
    last_key: int | None = None
    notes: list[str] = []
    exact = config.frame_type is FrameType.NORMAL
    for target in targets:
        pts = clock.pts_of(target.ms)
        if exact:
            frame = _frame_at(index, pts)
            chosen.append((target.index, target.ms, frame, frame in _key_set(index)))
            continue
        key = _keyframe_at(index, pts)
        if key == last_key:
            dropped.append(DroppedSlot(target.index, target.ms, "no_keyframe"))
            continue
        last_key = key
        chosen.append((target.index, target.ms, key, True))
    if config.black_level is not None or config.black_filter_all:
        notes.append("Black frames are found by their pixels, which a plan does not decode: it assumes none.")
    if exact and not index.frames:
        notes.append("The index lists keyframes only: frame times are on the frame-rate grid.")
    display = displayed(index.width, index.height, Fraction(index.sar_num, index.sar_den), index.rotation)
    output = output_size(display, config.width, config.height)
    images, files = _layout(config, output_key, output, [(s, ms, clock.ms_of(p), k) for s, ms, p, k in chosen])
    storyboards: tuple[str, ...] = ()
    if config.type is SnapshotType.WEBVTT:
        formats = config.storyboard_formats or ("vtt",)
        storyboards = (output_key, *(naming.storyboard_key(output_key, f) for f in formats if f != "vtt"))
    has_sizes = bool(index.frames) if exact else all(size for _, _, size in index.packets) and bool(index.packets)
    expected = _bytes(index, [p for _, _, p, _ in chosen], exact, size, header, block) if has_sizes and block else None
    if has_sizes and not block:
        expected = 0
    return CapturePlan(
        config=config,
        duration_ms=index.duration_ms,
        output_size=output,
        images=tuple(images),
        dropped=tuple(sorted(dropped, key=lambda d: d.index)),
        files=tuple(files),
        storyboards=storyboards,
        input_bytes=size,
        bytes_expected=expected,
        bytes_read=bytes_read,
        frames_expected=_frames(index, [p for _, _, p, _ in chosen], exact),
        basis="index" if index.frames else "keyframes",
        notes=tuple(notes),
    )


def _key_set(index: VideoIndex) -> frozenset[int]:
    return frozenset(index.keyframes)


def _keyframe_at(index: VideoIndex, pts: int) -> int:
    """`FramePicker.keyframe_at`: the keyframe shown at or before `pts`, the first one before them all."""
    i = bisect.bisect_right(index.keyframes, pts)
    return index.keyframes[max(i - 1, 0)]


def _frame_at(index: VideoIndex, pts: int) -> int:
    """`FramePicker.exact_at`: the last frame with pts <= t (the first frame if t precedes it)."""
    frames = index.frames or _grid(index, pts)
    i = bisect.bisect_right(frames, pts)
    return frames[max(i - 1, 0)]


def _grid(index: VideoIndex, pts: int) -> tuple[int, ...]:
    """Without a full index: the frame-rate grid around `pts`, from the keyframe before it."""
    key = _keyframe_at(index, pts)
    if not index.frame_rate:
        return (key,)
    step = 1 / (index.frame_rate * Fraction(*index.time_base))
    n = max(int((pts - key) / step), 0)
    return (key, *(key + round(k * step) for k in range(1, n + 2)))


def _layout(
    config: SnapshotConfig, key: str, output: tuple[int, int], shots: list[tuple[int, int, int, bool]]
) -> tuple[list[PlannedImage], list[PlannedFile]]:
    """Each image's object and place, as the sinks name and place them (`media/outputs.py`)."""
    sheets = config.type is SnapshotType.SPRITE or (config.type is SnapshotType.WEBVTT and config.is_spt_frag)
    if not sheets:
        total = len(shots)
        images = [
            PlannedImage(slot, ms, captured, keyframe, _single_key(config, key, n, total), *output)
            for n, (slot, ms, captured, keyframe) in enumerate(shots, start=1)
        ]
        return images, [PlannedFile(i.key, i.width, i.height, 1) for i in images]
    sprite = config.sprite or (DEFAULT_VTT_SPRITE if config.type is SnapshotType.WEBVTT else SpriteConfig())
    layout = SheetLayout.of(sprite, output)
    total = math.ceil(len(shots) / layout.per_sheet)
    images, files = [], []
    for sheet in range(total):
        on_sheet = shots[sheet * layout.per_sheet : (sheet + 1) * layout.per_sheet]
        sheet_key = _sheet_key(config, key, sheet + 1, total)
        for slot_on_sheet, (slot, ms, captured, keyframe) in enumerate(on_sheet):
            x, y = layout.cell_origin(slot_on_sheet)
            images.append(PlannedImage(slot, ms, captured, keyframe, sheet_key, *layout.cell, x=x, y=y))
        files.append(PlannedFile(sheet_key, *layout.size, len(on_sheet)))
    return images, files


def _single_key(config: SnapshotConfig, key: str, n: int, total: int) -> str:
    if config.type is SnapshotType.WEBVTT:
        return naming.vtt_image_key(key, n, sheet=False)[0]
    return naming.expand(key, naming.COUNT, n, total)


def _sheet_key(config: SnapshotConfig, key: str, n: int, total: int) -> str:
    if config.type is SnapshotType.WEBVTT:
        return naming.vtt_image_key(key, n, sheet=True)[0]
    return naming.expand(key, naming.TILE_COUNT, n, total)


def _frames(index: VideoIndex, chosen: list[int], exact: bool) -> int | None:
    """Frames a job decodes: one per keyframe (intra); from each seek's keyframe through the first frame
    after the target, going on without a seek while no keyframe lies between (normal, `FramePicker`)."""
    if not exact:
        return len(chosen)
    if not index.frames:
        return None
    decoded, upto = 0, -1
    for pts in chosen:
        here = bisect.bisect_left(index.frames, pts)
        after = min(here + 1, len(index.frames) - 1)
        if upto < 0 or not _continues(index, upto, pts):
            start = bisect.bisect_left(index.frames, _keyframe_at(index, pts))
            decoded += after - start + 1
        else:
            decoded += max(after - upto, 0)
        upto = after
    return decoded


def _continues(index: VideoIndex, upto: int, pts: int) -> bool:
    """`FramePicker._can_continue`: decoding goes on from frame `upto` when no keyframe lies in (it, pts]."""
    here = index.frames[upto]
    if pts <= here:
        return True
    i = bisect.bisect_right(index.keyframes, here)
    return i >= len(index.keyframes) or index.keyframes[i] > pts


def _bytes(index: VideoIndex, chosen: list[int], exact: bool, size: int, header: frozenset[int], block: int) -> int:
    """The range reader's bytes: the blocks opening read, then for each image the reads a job makes, fetched
    by `fetch_span` (the reader's own policy): the keyframe packet (intra; at least one AVIO buffer), or the
    packets from the seek's keyframe through the one that brings the frame after the target out of the
    decoder (normal; packets past it: the reorder depth)."""
    total_blocks = (size - 1) // block + 1
    cached = set(header)
    last, readahead = -2, 1
    until: int | None = None
    by_pts = {pts: n for n, (pts, _, _) in enumerate(index.packets)}
    decode_order = sorted(range(len(index.packets)), key=lambda n: index.packets[n][1])

    def read(start: int, length: int) -> None:
        nonlocal last, readahead
        first, final = start // block, min(start + length - 1, size - 1) // block
        b = first
        while b <= final:
            if b in cached:
                b += 1
                continue
            span, readahead = fetch_span(
                b,
                final,
                last,
                readahead,
                max_readahead=max(1, MAX_READAHEAD_BYTES // block),
                cache_blocks=max(1, CACHE_BYTES // block),
                total_blocks=total_blocks,
                until=until,
            )
            cached.update(range(b, b + span))
            last = b + span - 1
            b += span

    position = {n: i for i, n in enumerate(decode_order)}
    upto: int | None = None
    for pts in chosen:
        if not exact:
            _, pos, length = index.packets[by_pts[pts]]
            read(pos, max(length, AVIO_BUFFER_SIZE))
            continue
        # the decoder's own limit (`FramePicker`): nothing read ahead from the next keyframe's data on
        following = bisect.bisect_right(index.keyframes, pts)
        next_key = index.packets[by_pts[index.keyframes[following]]][1] if following < len(index.keyframes) else 0
        until = fence_block(next_key or None, block)
        first = position[by_pts[_keyframe_at(index, pts)]]
        frame_after = index.frames[min(bisect.bisect_right(index.frames, pts), len(index.frames) - 1)]
        final = min(position[by_pts[frame_after]] + index.reorder_depth, len(decode_order) - 1)
        if upto is not None and _continues(index, bisect.bisect_left(index.frames, upto), pts):
            first = position[by_pts[upto]]
        for n in decode_order[first : final + 1]:
            _, pos, length = index.packets[n]
            read(pos, length)
        upto = frame_after
    return sum(min(block, size - b * block) for b in cached)
