"""WebVTT thumbnail track: one cue per image, `HH:MM:SS.mmm --> HH:MM:SS.mmm`, optional `#xywh=`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cue:
    start_ms: int
    end_ms: int
    #: image path relative to the .vtt
    ref: str
    #: sprite cell (x, y, w, h) when the images are sheets
    xywh: tuple[int, int, int, int] | None = None


def timestamp(ms: int) -> str:
    hours, rest = divmod(max(ms, 0), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def render_vtt(cues: list[Cue]) -> str:
    lines = ["WEBVTT", ""]
    for cue in cues:
        target = cue.ref if cue.xywh is None else f"{cue.ref}#xywh={','.join(map(str, cue.xywh))}"
        lines += [f"{timestamp(cue.start_ms)} --> {timestamp(cue.end_ms)}", target, ""]
    return "\n".join(lines)


def cue_times(starts: list[int], step_ms: float, duration_ms: int) -> list[tuple[int, int]]:
    """Cue k covers [t_k, t_{k+1}); the last one ends a step later, capped at the duration."""
    spans = []
    for i, start in enumerate(starts):
        if i + 1 < len(starts):
            end = starts[i + 1]
        else:
            end = round(start + step_ms) if step_ms > 0 else duration_ms
            if duration_ms > 0:
                end = min(end, duration_ms)
        spans.append((start, max(end, start + 1)))
    return spans
