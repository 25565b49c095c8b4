"""Session-scoped test clips (made once with PyAV, ~2 s in all) and a capture helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.domain.models import CaptureResult, CaptureSpec, SnapshotConfig
from service.media.capture import capture
from tests import media_factory as mf

#: every clip: 320x180, 25 fps, 10 s, frame i shown at i*40 ms
FPS = 25
FRAME_MS = 1000 // FPS
#: the main H.264 clip has a keyframe every 2 s and 2 B-frames
GOP = 50


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def h264(media_dir: Path) -> Path:
    return mf.make_video(media_dir / "h264.mp4", gop=GOP, bframes=2, audio=True)


@pytest.fixture(scope="session")
def h264_faststart(media_dir: Path) -> Path:
    return mf.make_video(media_dir / "faststart.mp4", gop=GOP, faststart=True)


@pytest.fixture(scope="session")
def offset_mkv(media_dir: Path) -> Path:
    """First frame at 3 s (pts 3000 ms): API times are relative to it."""
    return mf.make_video(media_dir / "offset.mkv", gop=GOP, start_frames=3 * FPS)


@pytest.fixture(scope="session")
def rotated(media_dir: Path) -> Path:
    """Coded 320x180 with a display matrix turning it 90° clockwise, as a phone's portrait recording."""
    return mf.make_video(media_dir / "rotated.mp4", seconds=2, rotation=-90)


@pytest.fixture(scope="session")
def hevc(media_dir: Path) -> Path:
    if not mf.codec_available("libx265"):
        pytest.skip("this FFmpeg build has no libx265")
    return mf.make_video(media_dir / "hevc.mp4", codec="libx265", seconds=4, gop=GOP)


@pytest.fixture(scope="session")
def vp9(media_dir: Path) -> Path:
    if not mf.codec_available("libvpx-vp9"):
        pytest.skip("this FFmpeg build has no libvpx-vp9")
    return mf.make_video(media_dir / "vp9.webm", codec="libvpx-vp9", seconds=4, gop=GOP)


@pytest.fixture(scope="session")
def black_intro(media_dir: Path) -> Path:
    """The first 2 s (50 frames) are pure black."""
    return mf.make_video(media_dir / "black.mp4", gop=GOP, black_frames=2 * FPS)


@pytest.fixture(scope="session")
def audio_only(media_dir: Path) -> Path:
    return mf.make_audio_only(media_dir / "audio.m4a")


@pytest.fixture(scope="session")
def zero_byte(media_dir: Path) -> Path:
    return mf.make_zero_byte(media_dir / "empty.mp4")


@pytest.fixture(scope="session")
def corrupt(media_dir: Path) -> Path:
    return mf.make_corrupt(media_dir / "corrupt.mp4")


@pytest.fixture(scope="session")
def truncated_faststart(media_dir: Path, h264_faststart: Path) -> Path:
    """Index up front, first 30 % of the data: the first seconds decode."""
    return mf.make_truncated(h264_faststart, media_dir / "truncated-faststart.mp4")


@pytest.fixture(scope="session")
def truncated_moov_at_end(media_dir: Path, h264: Path) -> Path:
    """moov at the end (PyAV's default mp4 layout) cut off: nothing is usable."""
    return mf.make_truncated(h264, media_dir / "truncated.mp4")


Run = Callable[..., CaptureResult]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """run(source, output_key="out/{Count}.jpg", **SnapshotConfig fields) → CaptureResult."""

    def _run(
        source: Path | str, output_key: str = "out/{Count}.jpg", spec: dict[str, Any] | None = None, **config: Any
    ) -> CaptureResult:
        scratch = tmp_path / f"scratch-{len(list(tmp_path.iterdir()))}"
        scratch.mkdir()
        return capture(
            CaptureSpec(
                source=str(source),
                config=SnapshotConfig(**config),
                output_key=output_key,
                scratch_dir=str(scratch),
                **(spec or {}),
            )
        )

    return _run
