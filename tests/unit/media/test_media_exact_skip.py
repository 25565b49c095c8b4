"""Exact frames decoded with only what the answer needs are the frames a full decode shows.

The oracle decodes every frame of the clip from the start, without seeking or skipping. The picker must
give, for targets on every frame and just before every next frame (so on I, P, B-reference and B
frames, and in the gaps of a variable frame rate), a frame with the oracle's pts and the oracle's exact
pixels, while the decoder drops non-reference frames on the way and, when the next target needs a
seek, stops at the answer's packet (MP4) instead of decoding on through its output delay.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from service.domain.models import FrameType
from service.media.decode import FramePicker
from service.media.source import Source, open_source
from tests import media_factory as mf
from tests.unit.media.conftest import FPS, Run

#: 2 s GOPs, 4 s clips: two keyframes, targets on the second GOP need a seek past the first
GOP = 50
SECONDS = 4
#: a variable frame rate: mostly 40 ms, a 13 ms step every 7th frame, a 400 ms hole after every 10th
VFR_MS = [sum(400 if k % 10 == 9 else 13 if k % 7 == 3 else 40 for k in range(i)) for i in range(100)]
X265 = f"keyint={GOP}:min-keyint={GOP}:bframes=4:b-pyramid=1:scenecut=0:log-level=none"


@dataclass(frozen=True)
class Clip:
    name: str
    codec: str
    options: dict[str, str]
    vfr: bool = False
    #: whether the stream has frames FFmpeg may drop (with skip_frame=NONREF) that the picker may drop too
    skips: bool = True


CLIPS = [
    Clip("pyramid.mp4", "libx264", {"bf": "3", "b-pyramid": "normal"}),
    Clip("open-gop.mp4", "libx264", {"bf": "3", "x264-params": "open-gop=1"}),
    Clip("vfr.mp4", "libx264", {"bf": "3"}, vfr=True),
    Clip("vfr.mkv", "libx264", {"bf": "3"}, vfr=True),
    Clip("hevc.mp4", "libx265", {"x265-params": X265}),
    # temporal sub-layers: HEVC's "non-reference" pictures may be referenced by a higher sub-layer
    Clip("hevc-layers.mp4", "libx265", {"x265-params": X265 + ":temporal-layers=3"}, skips=False),
    # hidden alternate-reference frames; libvpx makes no non-reference frames
    Clip("vp9.webm", "libvpx-vp9", {"deadline": "good", "lag-in-frames": "16", "auto-alt-ref": "1"}, skips=False),
]


@pytest.fixture(scope="module", params=CLIPS, ids=[c.name for c in CLIPS])
def clip(request: pytest.FixtureRequest, media_dir: Path) -> tuple[Clip, Path]:
    spec: Clip = request.param
    if not mf.codec_available(spec.codec):
        pytest.skip(f"this FFmpeg build has no {spec.codec}")
    path = mf.make_video(
        media_dir / f"oracle-{spec.name}",
        codec=spec.codec,
        seconds=SECONDS,
        gop=GOP,
        options=spec.options,
        frame_ms=VFR_MS if spec.vfr else None,
    )
    return spec, path


@dataclass(frozen=True)
class Oracle:
    pts: list[int]
    pixels: list[bytes]

    def at(self, target_pts: int) -> int:
        """Index of the frame displayed at `target_pts`: the last one at or before it, else the first."""
        return max(bisect.bisect_right(self.pts, target_pts) - 1, 0)


def full_decode(path: Path) -> Oracle:
    with av.open(str(path)) as container:
        frames = [(f.pts, mf.frame_pixels(f)) for f in container.decode(container.streams.video[0])]
    assert [p for p, _ in frames] == sorted(p for p, _ in frames), "the oracle itself is out of order"
    return Oracle([p for p, _ in frames], [px for _, px in frames])


def targets_ms(src: Source, oracle: Oracle) -> list[float]:
    """On every frame, and one time-base tick before the next frame (the end of each frame's display)."""
    times = []
    for i, pts in enumerate(oracle.pts):
        times.append(float((pts - src.start_pts) * src.time_base * 1000))
        if i + 1 < len(oracle.pts):
            times.append(float((oracle.pts[i + 1] - 1 - src.start_pts) * src.time_base * 1000))
    return times


def mismatches(
    src: Source, oracle: Oracle, picker: FramePicker, ms: float, then_ms: float | None = None
) -> list[tuple[float, int | None, int]]:
    picked = picker.exact_at(ms, then_ms)
    expected = oracle.at(src.pts_of(ms))
    if picked is None or picked.pts != oracle.pts[expected] or mf.frame_pixels(picked.frame) != oracle.pixels[expected]:
        return [(ms, picked.pts if picked else None, oracle.pts[expected])]
    return []


@pytest.mark.parametrize("threads", [1, 2], ids=["1-thread", "2-frame-threads"])
@pytest.mark.parametrize("last", [True, False], ids=["last-target", "more-to-come"])
def test_every_target_after_a_seek_is_the_full_decodes_frame(clip: tuple[Clip, Path], threads: int, last: bool) -> None:
    spec, path = clip
    oracle = full_decode(path)
    skipped = redecodes = decoded = 0
    wrong = []
    with open_source(str(path), threads=threads) as src:
        for ms in targets_ms(src, oracle):
            # a fresh picker per target: seek to the keyframe, then decode (and skip) up to the target;
            # as the last target the decoder may be drained at the answer, else it must stay usable
            picker = FramePicker(src)
            wrong += mismatches(src, oracle, picker, ms, None if last else ms + 1)
            skipped += picker.frames_skipped
            redecodes += picker.redecodes
            decoded += picker.frames_decoded
    assert wrong == []
    if spec.skips:
        # the prefix of each GOP costs fewer decoded frames: about a third of them were dropped
        assert skipped > decoded / 3
    else:
        assert skipped == 0
    if spec.vfr:
        # the frame before a 400 ms hole can be the answer and non-reference: dropped, then decoded again
        assert redecodes > 0


def test_a_series_decoding_forward_is_the_full_decodes_frames(clip: tuple[Clip, Path]) -> None:
    spec, path = clip
    oracle = full_decode(path)
    wrong = []
    with open_source(str(path)) as src:
        picker = FramePicker(src)
        # increasing targets 0.3 s apart: the picker keeps decoding forward, skipping between targets,
        # and seeks (after draining at the answer) where a keyframe lies before the next one
        times = [300.0 * k + 7 for k in range(int(src.duration_ms / 300))]
        for ms, then_ms in zip(times, [*times[1:], None], strict=True):
            wrong += mismatches(src, oracle, picker, ms, then_ms)
    assert wrong == []
    assert (picker.frames_skipped > 0) is spec.skips


@pytest.mark.parametrize("threads", [1, 2], ids=["1-thread", "2-frame-threads"])
def test_the_decoder_stops_at_the_answer_when_the_next_target_needs_a_seek(h264: Path, threads: int) -> None:
    with open_source(str(h264), threads=threads) as src:
        # the keyframe at 2 s, and nothing after: its own packet is all the decoder needs
        last = FramePicker(src)
        assert last.exact_at(2000) is not None
        assert last.packets_sent == 1
        # the next target 4 s on is past the next keyframe: a seek anyway, so the same
        far = FramePicker(src)
        assert far.exact_at(2000, 6000) is not None
        assert far.packets_sent == 1
        # the next target 40 ms on continues from here: the decoder keeps going through its delay
        near = FramePicker(src)
        first = near.exact_at(2000, 2040)
        assert first is not None and near.packets_sent > 1
        then = near.exact_at(2040)
        assert then is not None and then.pts > first.pts


def test_capture_reports_the_frames_it_skipped(run: Run, h264: Path) -> None:
    # 1.96 s: the last frame before the 2 s keyframe, 49 frames into the first GOP
    result = run(h264, frame_type=FrameType.NORMAL, time_ms=1960)
    assert mf.read_index(mf.load(result.artifacts[0].path)) == 1960 * FPS // 1000
    assert result.frames_skipped > 0
    # every frame up to the target went either through the decoder or was dropped by it
    assert result.frames_decoded + result.frames_skipped >= 49
    assert result.frames_decoded < 49
