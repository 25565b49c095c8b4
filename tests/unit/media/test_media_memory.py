"""Each capture fits its process's memory budget: sizes checked once known, the cap set on the process,
and going over it is a clear, permanent failure, never a crash or a retry."""

from __future__ import annotations

import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from service.domain.memory import MIB, CaptureMemory, max_input_pixels
from service.domain.models import CaptureSpec, FrameType, SnapshotConfig, SnapshotType, SpriteConfig
from service.errors import InvalidParameter, MediaTooLarge
from service.media.capture import capture, init_worker
from tests import media_factory as mf


@pytest.fixture(scope="module")
def clip_640x360(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mf.make_video(tmp_path_factory.mktemp("mem") / "640.mp4", seconds=2, gop=25, size=(640, 360))


@pytest.fixture(scope="module")
def clip_4k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mf.make_video(tmp_path_factory.mktemp("mem") / "4k.mp4", seconds=1, fps=5, gop=5, size=(3840, 2160))


def test_a_sheet_sized_by_the_source_is_checked_once_the_source_is_known(clip_640x360: Path, tmp_path: Path) -> None:
    """No CellWidth: cells take the source's 640x360, so 30x30 cells make a 19200x10800 sheet."""
    config = SnapshotConfig(type=SnapshotType.SPRITE, count=4, interval_s=0, sprite=SpriteConfig(columns=30, lines=30))

    with pytest.raises(InvalidParameter) as caught:
        capture(CaptureSpec(str(clip_640x360), config, "s/{TileCount}.jpg", str(tmp_path)))

    assert "19200x10800" in caught.value.message and "SpriteSnapshotConfig" in caught.value.message
    assert list(tmp_path.iterdir()) == [], "nothing was drawn"


def test_a_capture_over_its_budget_fails_before_it_allocates(clip_4k: Path, tmp_path: Path) -> None:
    spec = CaptureSpec(str(clip_4k), SnapshotConfig(frame_type=FrameType.NORMAL), "o.jpg", str(tmp_path))
    need = CaptureMemory(3840 * 2160, 3840 * 2160, frame_type=FrameType.NORMAL).bytes()

    with pytest.raises(MediaTooLarge, match="MiB"):
        capture(replace(spec, memory_budget_bytes=need - 1))
    assert capture(replace(spec, memory_budget_bytes=need)).count == 1


def _limit() -> tuple[int, int]:
    return resource.getrlimit(resource.RLIMIT_DATA)


def _pool(budget: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker, initargs=(budget,)
    )


def test_the_pool_caps_each_capture_process_at_its_budget() -> None:
    with _pool(300 * MIB) as pool:
        assert pool.submit(_limit).result() == (300 * MIB, 300 * MIB)


def test_going_over_the_cap_is_a_clear_permanent_failure(clip_4k: Path, tmp_path: Path) -> None:
    """The estimate unchecked (budget 0 in the spec), the process's cap still holds: 4K exact frames
    need ~150 MB; a process capped at 100 MiB fails with MediaTooLarge, and the pool survives."""
    spec = CaptureSpec(str(clip_4k), SnapshotConfig(frame_type=FrameType.NORMAL), "o.jpg", str(tmp_path))
    with _pool(100 * MIB) as pool:
        with pytest.raises(MediaTooLarge) as caught:
            pool.submit(capture, spec).result()
        assert not caught.value.retryable
        assert pool.submit(_limit).result()[0] == 100 * MIB


def test_the_derived_frame_limit_covers_8k_uhd_at_the_default_budget() -> None:
    from service.config import Settings

    settings = Settings.from_env({})
    assert settings.input_pixel_limit == max_input_pixels(768 * MIB)
    assert 7680 * 4320 <= settings.input_pixel_limit < 8192 * 8192
