"""WebVTT thumbnail track: one cue per image, `HH:MM:SS.mmm --> HH:MM:SS.mmm`, optional `#xywh=`.

A thumbnail cue's payload is a URL reference, written percent-encoded and relative to the .vtt, so the
stored file works as is behind a public bucket or a CDN. `references`/`rewrite_references` let the API
serve the same file with those references replaced by signed URLs (`api/files/delivery.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

#: characters of a key left unescaped in a reference: the separators and RFC 3986 unreserved marks
_REF_SAFE = "/-._~"


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


def reference(path: str) -> str:
    """A relative object path as a URL reference: spaces, '#', '?', '%' and non-ASCII text escaped."""
    return quote(path, safe=_REF_SAFE)


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


def _payload_lines(lines: list[str]) -> Iterator[int]:
    """Indexes of cue payload lines: after a cue's timing line, up to the blank line ending the cue.

    The header block, NOTE, STYLE and REGION blocks and cue identifiers carry no `-->`, so they are skipped.
    """
    in_header, in_payload = True, False
    for i, line in enumerate(lines):
        if not line.strip():
            in_header = in_payload = False
        elif in_payload:
            yield i
        elif not in_header and "-->" in line:
            in_payload = True


def references(text: str) -> list[str]:
    """Each cue payload's URL reference (the part before any `#` fragment), in file order."""
    lines = text.splitlines()
    return [lines[i].strip().partition("#")[0] for i in _payload_lines(lines)]


def rewrite_references(text: str, urls: Mapping[str, str]) -> str:
    """`text` with each cue reference found in `urls` replaced by its URL; fragments (`#xywh=`) and
    everything else, line endings included, stay as they were."""
    lines = text.splitlines(keepends=True)
    for i in _payload_lines(lines):
        body = lines[i].rstrip("\r\n")
        ending = lines[i][len(body) :]
        ref, sep, fragment = body.strip().partition("#")
        if ref in urls:
            lines[i] = urls[ref] + sep + fragment + ending
    return "".join(lines)
