"""What the decoder is given on the way to an exact frame, so that it decodes only what the answer needs.

Two savings, both exact (the answer is bit-identical to a full decode's):
- Packets displayed more than a margin before the target go to the decoder with `skip_frame=NONREF`.
  It drops the non-reference frames among them (no other frame predicts from them, and they are shown
  too early to be the answer) and decodes the reference frames as usual, loop filter included. Which
  pts were dropped is known from what comes out: frames leave the decoder in presentation order.
- When the caller will seek for its next target anyway, the feed stops at the answer's own packet and
  drains the decoder, instead of decoding the frames after it that the decoder's output delay (B-frame
  reordering, frame threads) would otherwise want first. The answer's packet is known from decode
  timestamps: once a packet is decoded after t, every later one is displayed after t too (pts >= dts),
  so the packets read up to it hold every frame shown at or before t. This needs a container that stores
  real decode timestamps (MP4/MOV); elsewhere they are guessed, and the feed does not drain.
"""

from __future__ import annotations

import bisect
import heapq
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import av
import av.packet
import av.video.frame

from service.media.source import Source

if TYPE_CHECKING:
    # generic in the type stubs only
    Packet = av.packet.Packet[Any]
#: demuxers whose packets carry the decode timestamps stored in the file
DTS_STORED = {"mov,mp4,m4a,3gp,3g2,mj2"}


class Feed:
    """Demuxes the source's video stream into its decoder; restart() after every seek."""

    def __init__(self, src: Source, lookahead_from: int) -> None:
        self.src = src
        self.ctx = src.stream.codec_context
        #: packets with a pts below this go to the decoder with skip_frame=NONREF (None: skip nothing)
        self.skip_before: int | None = None
        #: the target whose answer ends this run of decoding (None: keep decoding past it)
        self.drain_for: int | None = None
        #: packets handed to the decoder; frames it dropped as non-reference, the largest pts dropped since
        #: the restart
        self.packets_sent = 0
        self.frames_skipped = 0
        self.last_dropped: int | None = None
        #: this run of decoding ends at an answer (the decoder is or will be drained there): frames after it
        #: need a seek and a restart
        self.drained = False
        self._can_drain = src.container.format.name in DTS_STORED
        #: look ahead for the answer's packet once packets are decoded this close (pts units) to t
        self._lookahead_from = lookahead_from
        self._skipping = False
        #: pts of the NONREF packets whose frame has not come out yet (a min-heap), and of every packet
        #: sent since the restart (sorted)
        self._sent_nonref: list[int] = []
        self._sent: list[int] = []

    def restart(self) -> None:
        self._sent_nonref.clear()
        self._sent.clear()
        self.last_dropped = None
        self.drained = False
        self._set_skipping(False)

    def frames(self) -> Iterator[av.video.frame.VideoFrame]:
        """Decoded frames in presentation order, until EOF or a drain; a damaged packet is skipped."""
        demuxed = self.src.container.demux(self.src.stream)
        ahead: deque[Packet] = deque()
        try:
            while True:
                packet = ahead.popleft() if ahead else next(demuxed, None)
                if packet is None:
                    break
                send = self._packets_to_answer(packet, ahead, demuxed)
                if send is None:
                    yield from self._decode(packet)
                    continue
                # the answer's packet is among the first `send`: decode those, then drain. Flagged first,
                # so that no later target tries to go on from here while those frames come out.
                self.drained = True
                for queued in [packet, *ahead][:send]:
                    yield from self._decode(queued)
                ahead.clear()
                self._set_skipping(False)
                yield from self._out(self.ctx.decode(None))
                break
        except MemoryError:
            # over the capture budget: the job's problem, not a damaged input (capture() says so)
            raise
        except (av.FFmpegError, EOFError):
            # truncated input: what was decoded so far stands, the rest is EOF
            pass
        # EOF or drained: every frame the decoder will give is out, the NONREF packets left were dropped
        self._account(None)

    def _decode(self, packet: Packet) -> Iterator[av.video.frame.VideoFrame]:
        try:
            frames = self._send(packet)
        except av.InvalidDataError:
            # one damaged packet: the decoder conceals it, keep going
            return
        yield from self._out(frames)

    def _out(self, frames: list[av.video.frame.VideoFrame]) -> Iterator[av.video.frame.VideoFrame]:
        for frame in frames:
            if frame.pts is not None:
                self._account(frame.pts)
                yield frame

    def _send(self, packet: Packet) -> list[av.video.frame.VideoFrame]:
        """Decode one packet, letting the decoder drop it if it is non-reference and shown early enough."""
        if not packet.size:
            self._set_skipping(False)
            return self.ctx.decode(None)
        skip = self.skip_before is not None and packet.pts is not None and packet.pts < self.skip_before
        self._set_skipping(skip)
        self.packets_sent += 1
        if packet.pts is not None:
            bisect.insort(self._sent, packet.pts)
            if skip:
                heapq.heappush(self._sent_nonref, packet.pts)
        return self.ctx.decode(packet)

    def _set_skipping(self, on: bool) -> None:
        if on != self._skipping:
            # frame threads copy skip_frame from this context with each packet they are handed
            self.ctx.skip_frame = "NONREF" if on else "DEFAULT"
            self._skipping = on

    def _account(self, shown: int | None) -> None:
        """Frames come out in presentation order: a NONREF packet shown before `shown` was dropped."""
        sent = self._sent_nonref
        while sent and (shown is None or sent[0] <= shown):
            pts = heapq.heappop(sent)
            if pts != shown:
                self.frames_skipped += 1
                self.last_dropped = pts if self.last_dropped is None else max(self.last_dropped, pts)

    def _packets_to_answer(self, packet: Packet, ahead: deque[Packet], demuxed: Iterator[Packet]) -> int | None:
        """How many of `packet` and `ahead` to decode before draining (0: none), or None: do not drain yet.

        Reads ahead (into `ahead`) to the first packet decoded after t; the answer is the packet shown
        last at or before t among those and the ones already sent.
        """
        t = self.drain_for
        if t is None or not self._can_drain or not packet.size or packet.dts is None:
            return None
        if packet.dts < t - self._lookahead_from:
            return None
        queue = [packet, *ahead]
        while queue[-1].size and queue[-1].dts is not None and queue[-1].dts <= t:
            nxt = next(demuxed, None)
            if nxt is None:
                break
            ahead.append(nxt)
            queue.append(nxt)
        if queue[-1].size and queue[-1].dts is None:
            # a packet without its decode time: the rule does not hold here, decode as usual
            self.drain_for = None
            return None
        i = bisect.bisect_right(self._sent, t)
        best = self._sent[i - 1] if i else None
        send = 0
        for n, queued in enumerate(queue, start=1):
            if queued.size and queued.pts is not None and queued.pts <= t and (best is None or queued.pts > best):
                best, send = queued.pts, n
        # no frame shown at or before t: the answer is the first frame after it (or the seek landed late)
        return send if best is not None else None
