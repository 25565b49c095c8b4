"""capture() runs in a spawn-context process pool, and its errors come back as the same service errors."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import av.logging
import pytest

from service.domain.models import CaptureSpec, FrameType, SnapshotConfig
from service.errors import MediaContentBad, MediaNotFound
from service.media.capture import capture, init_worker
from tests.media_factory import load, read_index


def test_capture_in_a_spawned_worker(tmp_path: Path, h264: Path, corrupt: Path) -> None:
    config = SnapshotConfig(frame_type=FrameType.NORMAL, time_ms=1000, count=2, interval_s=2)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"), initializer=init_worker) as pool:
        result = pool.submit(capture, CaptureSpec(str(h264), config, "o/{Count}.jpg", str(tmp_path))).result(timeout=30)
        assert [read_index(load(a.path)) for a in result.artifacts] == [25, 75]
        assert result.count == 2 and result.capture_ms > 0
        with pytest.raises(MediaContentBad, match="cannot be decoded"):
            pool.submit(capture, CaptureSpec(str(corrupt), config, "o.jpg", str(tmp_path))).result(timeout=30)
        with pytest.raises(MediaNotFound):
            pool.submit(capture, CaptureSpec(str(tmp_path / "gone.mp4"), config, "o.jpg", str(tmp_path))).result(
                timeout=30
            )


def ffmpeg_log_level() -> int | None:
    return av.logging.get_level()


def test_a_capture_process_drops_ffmpegs_messages_in_c(tmp_path: Path, corrupt: Path) -> None:
    """PyAV's callback would see every message FFmpeg logs, TRACE included (an MP4's index, entry by
    entry): a capture process leaves them to FFmpeg's C side, and errors still say what FFmpeg said."""
    config = SnapshotConfig(frame_type=FrameType.NORMAL, time_ms=1000)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"), initializer=init_worker) as pool:
        assert pool.submit(ffmpeg_log_level).result(timeout=30) is None
        with pytest.raises(MediaContentBad, match="Invalid data found"):
            pool.submit(capture, CaptureSpec(str(corrupt), config, "o.jpg", str(tmp_path))).result(timeout=30)
