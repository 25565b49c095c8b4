"""Keyframes as the container states them, without decoding: the next keyframe packet the demuxer
gives, and the keyframe presentation times of the stream's index. The plan, the shard planner, the
probe and the frame picker all read them here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import av
import av.container
import av.video.stream

if TYPE_CHECKING:
    # generic in the type stubs only
    Packet = av.packet.Packet[Any]

#: packets read looking for a keyframe before giving up: a stream that shows none that soon has none
#: a job can use (the frame picker, after a seek, allows more)
MAX_PACKETS_TO_KEYFRAME = 500


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


def index_offset(entries: Sequence[Any], first: Packet | None) -> int:
    """What to add to the index's timestamps to get presentation times: MP4 indexes decode times,
    Matroska presentation times, and the first keyframe packet tells which."""
    if first is None or first.pts is None or first.dts is None or not entries:
        return 0
    return first.pts - first.dts if entries[0].timestamp == first.dts else 0
