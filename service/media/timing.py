"""Which instants a job captures (ICE §3.2), before any decoding.

Times are milliseconds from the start of the video (the first frame), whatever the container's first pts.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.models import DroppedSlot, SnapshotConfig
from service.errors import CaptureOutOfRange


@dataclass(frozen=True, slots=True)
class Target:
    """Slot `index` (0-based) asks for the frame displayed at `ms`."""

    index: int
    ms: int


def slot_interval_ms(config: SnapshotConfig, duration_ms: int) -> float:
    """Spacing between slots: Interval, or the even spread used when Interval is None/0."""
    if config.interval_s:
        return config.interval_s * 1000.0
    if config.count > 1:
        return max(duration_ms - config.time_ms, 0) / config.count
    # one image: its cue/window spans the rest of the video
    return float(max(duration_ms - config.time_ms, 0))


def plan(config: SnapshotConfig, duration_ms: int) -> tuple[list[Target], list[DroppedSlot]]:
    """Target times in increasing order, and the slots dropped because they lie at/after the end.

    Interval None/0 with Count > 1 spreads the images evenly (MPS/VOD rule): t_k = Time + k·(D − Time)/Count,
    so the first image is at Time and the last one a step before the end. With Count == 1 Interval is
    ignored (MPS). A job where no slot lies inside the video raises CaptureOutOfRange, because it would
    produce nothing; otherwise late slots are dropped and the job succeeds with fewer images (ICE).
    """
    step = slot_interval_ms(config, duration_ms)
    targets: list[Target] = []
    dropped: list[DroppedSlot] = []
    for k in range(max(config.count, 1)):
        ms = config.time_ms + round(k * step) if config.count > 1 else config.time_ms
        if duration_ms > 0 and ms >= duration_ms:
            dropped.append(DroppedSlot(index=k, requested_ms=ms, reason="past_end"))
        else:
            targets.append(Target(index=k, ms=ms))
    if not targets:
        raise CaptureOutOfRange(
            f"The requested snapshot time {config.time_ms} ms lies past the end of the video ({duration_ms} ms)."
        )
    return targets, dropped
