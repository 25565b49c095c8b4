"""Frame picking: the keyframe at or before t, or the exact frame displayed at t.

Keyframes use the "keyframe-pkt" technique (engine-performance.md pitfall 1): seek backward, demux to the
keyframe packet, decode that one packet and drain with decode(None). `skip_frame=NONKEY` is avoided on
purpose: the decoder holds the keyframe until its output delay fills and so over-reads 2–3 GOPs.

Exact frames: seek backward to the keyframe before t and decode forward until the frame after t shows up;
the answer is the last frame with pts <= t (decoder output is in presentation order, so B-frame
reordering is handled by the decoder). Increasing targets keep decoding forward instead of seeking again
while no keyframe lies between the current position and the next target.

On the way to t the decoder gets only what the answer needs (feed.py): non-reference frames shown more
than SKIP_MARGIN_FRAMES frame durations before t are dropped, and when the next target needs a seek
anyway the decoder is drained at the answer's packet. Irregular timestamps can put the answer among the
dropped frames; the picker sees it (a dropped pts between the pick and t) and decodes that stretch again
without skipping.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import av.packet
import av.video.frame

from service.media.feed import Feed
from service.media.keyframes import keyframe_entries, next_keyframe
from service.media.source import Source

#: after a seek, give up looking for a keyframe packet after this many non-key packets
MAX_PACKETS_AFTER_SEEK = 2000
#: a seek can land on a keyframe whose dts <= t < pts (B-frame delay); retry this many times earlier
SEEK_RETRIES = 3
#: non-reference frames shown at least this many nominal frame durations before the target are not decoded
SKIP_MARGIN_FRAMES = 2


@dataclass(slots=True)
class Picked:
    """A decoded frame and its presentation time."""

    frame: av.video.frame.VideoFrame
    pts: int
    keyframe: bool


class FramePicker:
    """Picks frames from one open Source; keeps decoder state between targets."""

    def __init__(self, src: Source) -> None:
        self.src = src
        self.ctx = src.stream.codec_context
        self.frames_decoded = 0
        #: targets decoded again because their answer was dropped as non-reference
        self.redecodes = 0
        span = nominal_span(src)
        self._margin = SKIP_MARGIN_FRAMES * span if _nonref_is_safe(src) else 0
        self._feed = Feed(src, lookahead_from=SKIP_MARGIN_FRAMES * span)
        self._frames: Iterator[av.video.frame.VideoFrame] | None = None
        #: last frame at or before the previous target, and the first frame after it
        self._held: av.video.frame.VideoFrame | None = None
        self._pending: av.video.frame.VideoFrame | None = None
        self._last_key: int | None = None
        #: largest keyframe spacing seen so far (pts), the fallback when the container has no index
        self._gop = 0
        self._last_keyframe: Picked | None = None
        keys = keyframe_entries(src.stream) if _has_index(src) else []
        self._index = [pts for pts, _ in keys]
        #: where each keyframe's data starts (Matroska: its cluster's), the end of what a frame before it needs
        self._index_pos = [pos for _, pos in keys]

    @property
    def frames_skipped(self) -> int:
        """Frames the decoder dropped as non-reference."""
        return self._feed.frames_skipped

    @property
    def packets_sent(self) -> int:
        """Packets handed to the decoder on the way to exact frames."""
        return self._feed.packets_sent

    # --- keyframes ----------------------------------------------------------------------------

    def _seek(self, pts: int) -> None:
        self._frames = self._held = self._pending = None
        self._last_key = None
        self._feed.restart()
        self.ctx.flush_buffers()
        try:
            self.src.container.seek(
                max(pts, self.src.start_pts), backward=True, any_frame=False, stream=self.src.stream
            )
        except av.FFmpegError:
            # before the first index entry some demuxers refuse; the container start is always valid
            self.src.container.seek(0)

    def _keyframe_packet(self, pts: int) -> av.packet.Packet[Any] | None:
        self._seek(pts)
        return next_keyframe(self.src.container, self.src.stream, MAX_PACKETS_AFTER_SEEK)

    def _keyframe_for(self, target: int) -> av.packet.Packet[Any] | None:
        """The packet of the keyframe shown at or before `target`: a seek can land on a keyframe whose
        dts <= t < pts (B-frame delay), so a keyframe shown after t sends the seek earlier."""
        seek_to = target
        packet = None
        for _ in range(SEEK_RETRIES + 1):
            packet = self._keyframe_packet(seek_to)
            if packet is None or packet.pts is None:
                return None
            if packet.pts <= target or seek_to <= self.src.start_pts:
                break
            seek_to = min(seek_to, packet.dts if packet.dts is not None else packet.pts) - 1
        return packet

    def keyframe_at(self, ms: float) -> Picked | None:
        """The keyframe displayed at or before `ms` (the first keyframe if `ms` precedes it), or None."""
        target = self.src.pts_of(ms)
        self.src.limit_readahead(None)
        try:
            packet = self._keyframe_for(target)
            if packet is None or packet.pts is None:
                return None
            if self._last_keyframe is not None and self._last_keyframe.pts == packet.pts:
                # the slot before used this keyframe already (intra slots closer than a GOP): no decode
                return self._last_keyframe
            self.ctx.flush_buffers()
            frames = self.ctx.decode(packet) + self.ctx.decode(None)
        except MemoryError:
            # over the capture budget: the job's problem, not a damaged input (capture() says so)
            raise
        except (av.FFmpegError, EOFError):
            # data missing (truncated file) or damaged at this point
            return None
        finally:
            # the decoder saw EOF: reset it before the next packet
            self.ctx.flush_buffers()
            self._frames = None
        if not frames:
            return None
        self.frames_decoded += len(frames)
        frame = frames[0]
        self.src.check_frame(frame)
        self._last_keyframe = Picked(frame, frame.pts if frame.pts is not None else packet.pts, True)
        return self._last_keyframe

    # --- exact frames -------------------------------------------------------------------------

    def _decode_forward(self) -> Iterator[av.video.frame.VideoFrame]:
        for frame in self._feed.frames():
            assert frame.pts is not None
            self.src.check_frame(frame)
            self.frames_decoded += 1
            if frame.key_frame:
                if self._last_key is not None and frame.pts > self._last_key:
                    self._gop = max(self._gop, frame.pts - self._last_key)
                self._last_key = frame.pts
            yield frame

    def _next(self) -> av.video.frame.VideoFrame | None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        if self._frames is None:
            return None
        return next(self._frames, None)

    def _can_continue(self, target: int) -> bool:
        if self._frames is None or self._feed.drained:
            return False
        if self._held is None or self._held.pts is None or self._held.pts > target:
            return False
        here = self._pending.pts if self._pending is not None and self._pending.pts is not None else self._held.pts
        return target <= here or not self._keyframe_between(here, target)

    def _keyframe_between(self, here: int, target: int) -> bool:
        """Whether a keyframe lies in (here, target], so that reaching target costs a seek, not a decode."""
        if self._index:
            i = bisect.bisect_right(self._index, here)
            return i < len(self._index) and self._index[i] <= target
        return target - here > self._gop

    def exact_at(self, ms: float, then_ms: float | None = None) -> Picked | None:
        """The frame displayed at `ms`: the last frame with pts <= t (the first frame if t precedes it).

        `then_ms` is the next exact target the caller will ask for (None: there is none), so that the
        decoder can stop at this answer when reaching the next one needs a seek anyway.
        """
        target = self.src.pts_of(ms)
        then = self.src.pts_of(then_ms) if then_ms is not None else None
        last = then is None or then < target or self._keyframe_between(target, then)
        return self._exact_at(target, drain=last)

    def _next_keyframe_pos(self, target: int) -> int | None:
        i = bisect.bisect_right(self._index, target)
        return self._index_pos[i] if i < len(self._index) and self._index_pos[i] > 0 else None

    def _exact_at(self, target: int, *, drain: bool) -> Picked | None:
        # the frame shown at t is decoded from packets before the next keyframe's (its reorder delay aside)
        self.src.limit_readahead(self._next_keyframe_pos(target))
        self._feed.drain_for = target if drain else None
        picked = self._exact(target, skip=self._margin > 0, seek=not self._can_continue(target))
        if self._feed.skip_before is not None and self._dropped_answer(target):
            # irregular timestamps: decode the stretch again, every frame of it
            self.redecodes += 1
            picked = self._exact(target, skip=False, seek=True)
        return picked

    def _dropped_answer(self, target: int) -> bool:
        """Whether a dropped frame is shown after the last frame kept at or before t (so it was the answer).

        Every dropped frame is shown before t, so one shown after that kept frame, or any when no frame
        at or before t was kept, was the frame displayed at t.
        """
        dropped = self._feed.last_dropped
        if dropped is None:
            return False
        held = self._held.pts if self._held is not None else None
        return held is None or held > target or dropped > held

    def _exact(self, target: int, *, skip: bool, seek: bool) -> Picked | None:
        seek_to = target
        retries = SEEK_RETRIES
        if seek:
            self._seek(seek_to)
            self._frames = self._decode_forward()
        self._feed.skip_before = target - self._margin if skip else None
        prev = self._held
        while True:
            frame = self._next()
            if frame is None:
                self._held = prev
                if prev is None or prev.pts is None:
                    return None
                # drained at the answer: every frame shown at or before t is out
                if self._feed.drained:
                    return self._picked(prev)
                # EOF: the last frame is shown at t only if t falls within its display time; a
                # truncated file ends early and the target is unreadable
                if target >= prev.pts + self._frame_span(prev):
                    return None
                return self._picked(prev)
            assert frame.pts is not None
            if frame.pts > target:
                if prev is None and retries and seek_to > self.src.start_pts:
                    # landed on a keyframe displayed after t: seek a GOP earlier
                    retries -= 1
                    seek_to -= max(self._gop, int(1 / self.src.time_base))
                    self._seek(seek_to)
                    self._frames = self._decode_forward()
                    continue
                self._pending = frame
                chosen = prev if prev is not None else frame
                self._held = chosen
                return self._picked(chosen)
            prev = frame

    def frames_from(self, ms: float, end_ms: float) -> Iterator[Picked]:
        """The frame displayed at `ms`, then every following frame shown before `end_ms`."""
        first = self._exact_at(self.src.pts_of(ms), drain=False)
        if first is None:
            return
        yield first
        # every frame of the window is wanted: none may be dropped, and it may span keyframes
        self._feed.skip_before = None
        self.src.limit_readahead(None)
        end = self.src.pts_of(end_ms)
        while True:
            frame = self._next()
            if frame is None:
                return
            assert frame.pts is not None
            if frame.pts >= end:
                self._pending = frame
                return
            self._held = frame
            yield self._picked(frame)

    def _frame_span(self, frame: av.video.frame.VideoFrame) -> int:
        if frame.duration:
            return int(frame.duration)
        rate = self.src.stream.guessed_rate or self.src.stream.average_rate
        return max(int(1 / (rate * self.src.time_base)), 1) if rate else int(1 / self.src.time_base)

    @staticmethod
    def _picked(frame: av.video.frame.VideoFrame) -> Picked:
        assert frame.pts is not None
        return Picked(frame, frame.pts, bool(frame.key_frame))


def nominal_span(src: Source) -> int:
    """One frame duration in stream time-base units, from the stream's frame rate (0 when unknown)."""
    rate = src.stream.guessed_rate or src.stream.average_rate
    return max(int(1 / (rate * src.time_base)), 1) if rate else 0


def _nonref_is_safe(src: Source) -> bool:
    """Whether the decoder's "non-reference" frames are referenced by no frame at all.

    HEVC calls a picture non-reference when no picture of its own temporal sub-layer uses it; a higher
    sub-layer still may. So HEVC qualifies only when its hvcC record says there is one sub-layer.
    """
    if src.stream.codec_context.name != "hevc":
        return True
    extradata = src.stream.codec_context.extradata or b""
    # hvcC: configurationVersion 1; byte 21 = constantFrameRate:2 numTemporalLayers:3 temporalIdNested:1 ...
    return len(extradata) > 22 and extradata[0] == 1 and (extradata[21] >> 3) & 0b111 == 1


def _has_index(src: Source) -> bool:
    try:
        return len(src.stream.index_entries) > 0
    except (AttributeError, av.FFmpegError):
        return False
