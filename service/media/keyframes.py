"""Keyframes as the container states them, without decoding: the next keyframe packet the demuxer
gives, and the keyframe presentation times of the stream's index. The plan, the shard planner, the
probe and the frame picker all read them here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import av
import av.container
import av.index
import av.video.stream

if TYPE_CHECKING:
    # generic in the type stubs only
    Packet = av.packet.Packet[Any]

#: packets read looking for a keyframe before giving up: a stream that shows none that soon has none
#: a job can use (the frame picker, after a seek, allows more)
MAX_PACKETS_TO_KEYFRAME = 500
#: the smallest timestamp FFmpeg's index can hold: a search from it finds the first entry
INT64_MIN = -(2**63)


def next_keyframe(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    limit: int = MAX_PACKETS_TO_KEYFRAME,
) -> Packet | None:
    """The next keyframe packet (with a pts) from where the container stands, or None within `limit`."""
    for n, packet in enumerate(container.demux(stream)):
        if packet.size and packet.is_keyframe and packet.pts is not None:
            return packet
        if n > limit:
            break
    return None


def keyframe_entries(stream: av.video.stream.VideoStream) -> list[tuple[int, int]]:
    """(timestamp, pos) of the index's keyframe entries in timestamp order ([] without an index).

    FFmpeg's own search hops from one keyframe entry to the next, so the cost follows the keyframes, not
    the frames: a walk over every entry in Python took 5 ms for a 10-minute 1080p H.264 file (18,000
    entries, 72 keyframes; the search 0.08 ms), a third of opening it, and would take ~0.1 s for a 3-hour
    film, on every open of every shard. The index is kept sorted by timestamp (FFmpeg inserts in order).
    """
    entries = stream.index_entries
    count = len(entries)
    found: list[tuple[int, int]] = []
    at = entries.search_timestamp(INT64_MIN, backward=False) if count else -1
    while 0 <= at < count:
        entry = entries[at]
        found.append((entry.timestamp, entry.pos))
        at = entries.search_timestamp(entry.timestamp + 1, backward=False)
    return found


def index_offset(entries: av.index.IndexEntries | Sequence[Any], first: Packet | None) -> int:
    """What to add to the index's timestamps to get presentation times: MP4 indexes decode times,
    Matroska presentation times, and the first keyframe packet tells which."""
    if first is None or first.pts is None or first.dts is None or not entries:
        return 0
    return first.pts - first.dts if entries[0].timestamp == first.dts else 0
