"""The keyframes of a stream's index, found by FFmpeg's search (`keyframes.keyframe_entries`), are the ones a
walk over every entry finds: on every container and codec the engine reads, with B-frames, open GOPs, a
variable frame rate, a start offset, and an MP4 edit list whose first keyframe is discarded pre-roll."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from service.media.keyframes import keyframe_entries
from tests import media_factory as mf

GOP = 25
VFR_MS = [sum(400 if k % 10 == 9 else 13 if k % 7 == 3 else 40 for k in range(i)) for i in range(120)]


def walk(path: Path) -> tuple[list[tuple[int, int]], list[tuple[int, int]], int]:
    """(every keyframe entry by a walk, keyframe_entries, discarded keyframe entries) after the first seek,
    which loads an index kept apart (Matroska's cues)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        container.seek(0, backward=True, any_frame=False, stream=stream)
        entries = list(stream.index_entries)
        walked = sorted((e.timestamp, e.pos) for e in entries if e.is_keyframe)
        discarded = sum(1 for e in entries if e.is_keyframe and e.is_discard)
        return walked, keyframe_entries(stream), discarded


def shifted(source: Path, target: Path, seconds: float) -> Path:
    """`source` with every packet `seconds` earlier: the MP4 muxer writes an edit list, and the demuxer
    marks what comes before 0 (the first keyframe among it) as discarded."""
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        video = src.streams.video[0]
        stream = out.add_stream_from_template(video)
        shift = round(seconds / video.time_base)
        for packet in src.demux(video):
            if packet.size:
                packet.pts, packet.dts = packet.pts - shift, packet.dts - shift
                packet.stream = stream
                out.mux(packet)
    return target


CLIPS = {
    "pyramid.mp4": {"options": {"bf": "3", "b-pyramid": "normal"}},
    "open-gop.mp4": {"options": {"bf": "3", "x264-params": "open-gop=1"}},
    "vfr.mkv": {"frame_ms": VFR_MS},
    "offset.mkv": {"start_frames": 3 * GOP},
    "hevc.mp4": {"codec": "libx265"},
    "vp9.webm": {"codec": "libvpx-vp9"},
}


@pytest.mark.parametrize("name", CLIPS)
def test_the_search_finds_the_keyframes_a_walk_finds(media_dir: Path, name: str) -> None:
    options = CLIPS[name]
    codec = str(options.get("codec", "libx264"))
    if not mf.codec_available(codec):
        pytest.skip(f"this FFmpeg build has no {codec}")
    path = mf.make_video(media_dir / f"index-{name}", seconds=4, gop=GOP, **options)  # type: ignore[arg-type]
    walked, searched, _ = walk(path)
    assert len(walked) >= 2
    assert searched == walked


def test_a_discarded_first_keyframe_is_found_as_the_walk_finds_it(media_dir: Path) -> None:
    source = mf.make_video(media_dir / "index-source.mp4", seconds=4, gop=GOP)
    walked, searched, discarded = walk(shifted(source, media_dir / "index-edit-list.mp4", 0.5))
    assert discarded == 1
    assert searched == walked


def test_a_file_without_cues_gives_what_the_demuxer_indexed_on_the_way(media_dir: Path) -> None:
    source = mf.make_video(media_dir / "index-live-source.mkv", seconds=2, gop=GOP)
    walked, searched, _ = walk(mf.remux(source, media_dir / "index-live.mkv", {"live": "1"}))
    assert walked
    assert searched == walked
