"""Every trick-play file of a WebVtt job, written from one `Storyboard` (`storyboard.py`): the .vtt, and
beside it the formats `StoryboardFormats` asks for (x.json, x.m3u8, x.bif), one module each."""

from __future__ import annotations

from service.domain.models import Artifact, ImageRecord
from service.media import bif, hls, naming, storyboard_json
from service.media.outputs import write_vtt
from service.media.storyboard import Storyboard


def write(
    formats: tuple[str, ...],
    vtt_key: str,
    scratch: str,
    records: list[ImageRecord],
    *,
    step_ms: float,
    duration_ms: int,
    grid: tuple[int, int] | None,
    frames: bif.BifFrames | None,
) -> list[Artifact]:
    """The files of `formats` ("vtt" always first) for `records`; `frames` holds the cells when "bif" is asked."""
    board = Storyboard.of(records, step_ms, duration_ms, grid=grid)
    # the playlist is checked first: a timeline it cannot state fails the job before anything is written
    if "hls" in formats:
        hls.check_even(board)
    artifacts = [write_vtt(vtt_key, scratch, board)]
    if "json" in formats:
        artifacts.append(storyboard_json.write(board, naming.storyboard_key(vtt_key, "json"), scratch))
    if "hls" in formats:
        artifacts.append(hls.write(board, naming.storyboard_key(vtt_key, "hls"), scratch))
    if "bif" in formats:
        assert frames is not None, "bif needs the cells"
        artifacts.append(bif.write(board, frames, naming.storyboard_key(vtt_key, "bif"), scratch))
    return artifacts
