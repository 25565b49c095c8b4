"""A job in shards on a real spawn-context pool gives what one process gives: the same records, drops and
file bytes, for every output type, frame type and black-frame rule; and it does run on every process."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.config import WorkerSettings
from service.domain.models import (
    CaptureResult,
    CaptureSpec,
    DroppedSlot,
    FrameType,
    SnapshotConfig,
    SnapshotType,
    SpriteConfig,
)
from service.domain.shards import Shard, ShardRule
from service.errors import MediaTooLarge
from service.media.capture import capture
from service.media.outputs import Shot
from service.media.shards import ShardImage, ShardPlan, ShardResult, ShardSpec, assemble, capture_shard
from service.worker.pool import ExecutorSlot
from service.worker.sharded import run_capture, shard_rule
from tests import media_factory as mf

pytestmark = pytest.mark.timeout(180)

#: every way of filling output files: single images, sheets, and WebVtt over either (with BIF, made of cells)
CONFIGS: list[tuple[str, SnapshotConfig, str]] = [
    ("exact", SnapshotConfig(frame_type=FrameType.NORMAL, count=40, interval_s=3), "o/{Count}.jpg"),
    ("keyframes sharing slots", SnapshotConfig(frame_type=FrameType.INTRA, count=50, interval_s=0), "o/{Count}.png"),
    (
        "sprite",
        SnapshotConfig(
            type=SnapshotType.SPRITE,
            frame_type=FrameType.NORMAL,
            count=45,
            interval_s=2,
            width=96,
            sprite=SpriteConfig(columns=4, lines=3, padding=2, margin=3, color=(10, 200, 30)),
        ),
        "s/sheet-{TileCount}.jpg",
    ),
    (
        "intra sprite",
        SnapshotConfig(type=SnapshotType.SPRITE, count=30, interval_s=4, sprite=SpriteConfig(columns=5, lines=5)),
        "s/{TileCount}.webp",
    ),
    (
        "WebVtt in sheets",
        SnapshotConfig(
            type=SnapshotType.WEBVTT,
            frame_type=FrameType.NORMAL,
            count=40,
            interval_s=3,
            is_spt_frag=True,
            storyboard_formats=("vtt", "json", "hls", "bif"),
        ),
        "v/board.vtt",
    ),
    (
        "WebVtt images",
        SnapshotConfig(type=SnapshotType.WEBVTT, count=24, interval_s=5, storyboard_formats=("vtt", "bif")),
        "w/board.vtt",
    ),
]


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 s at 25 fps with a keyframe every 10 s (250 frames) and 2 B-frames: the issue's GOP."""
    return mf.make_video(tmp_path_factory.mktemp("media") / "long.mp4", seconds=120, gop=250, bframes=2)


@pytest.fixture(scope="module")
def slot() -> Iterator[ExecutorSlot]:
    pool = ExecutorSlot(WorkerSettings(processes=2))
    assert len(asyncio.run(pool.warm())) == 2
    yield pool
    pool.close()


def spec_of(source: Path, config: SnapshotConfig, key: str, scratch: Path, **extra: Any) -> CaptureSpec:
    scratch.mkdir(parents=True, exist_ok=True)
    return CaptureSpec(str(source), config, key, str(scratch), **extra)


def sharded(pool: ExecutorSlot, spec: CaptureSpec, max_shards: int = 4) -> CaptureResult:
    return asyncio.run(run_capture(pool, spec, ShardRule(max_shards=max_shards, min_frames=1)))


def files(result: CaptureResult) -> list[tuple[str, str, bytes]]:
    return [(a.key, a.content_type, Path(a.path).read_bytes()) for a in result.artifacts]


def assert_same(one: CaptureResult, split: CaptureResult) -> None:
    assert split.images == one.images
    assert split.dropped == one.dropped
    assert files(split) == files(one)


@pytest.mark.parametrize(("name", "config", "key"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_sharded_job_matches_one_process(
    slot: ExecutorSlot, long_clip: Path, tmp_path: Path, name: str, config: SnapshotConfig, key: str
) -> None:
    one = capture(spec_of(long_clip, config, key, tmp_path / "one"))
    split = sharded(slot, spec_of(long_clip, config, key, tmp_path / "split"))
    assert split.shards > 1
    assert_same(one, split)
    if config.frame_type is FrameType.INTRA and config.type is SnapshotType.NORMAL:
        assert any(d.reason == "no_keyframe" for d in one.dropped)
    # GOP-aligned cuts decode nothing twice
    assert split.frames_decoded == one.frames_decoded


@pytest.mark.parametrize(
    "config",
    [
        # the first image's black test (Time 0): replaced by the first non-black frame of the first 5 s
        SnapshotConfig(frame_type=FrameType.NORMAL, count=12, interval_s=1, black_level=90),
        # every image tested, windows reaching into neighbouring GOPs of another shard
        SnapshotConfig(frame_type=FrameType.INTRA, count=20, interval_s=0, black_level=90, black_filter_all=True),
        SnapshotConfig(frame_type=FrameType.NORMAL, count=15, interval_s=0, black_level=95, black_filter_all=True),
    ],
    ids=["first image", "every keyframe", "every exact frame"],
)
def test_black_frame_rules_unchanged(
    slot: ExecutorSlot, black_intro: Path, tmp_path: Path, config: SnapshotConfig
) -> None:
    one = capture(spec_of(black_intro, config, "b/{Count}.jpg", tmp_path / "one"))
    split = sharded(slot, spec_of(black_intro, config, "b/{Count}.jpg", tmp_path / "split"))
    assert split.shards > 1
    assert_same(one, split)
    # the rule did something: the first image is not the black frame asked for
    assert one.images[0].captured_ms > 0


def test_truncated_input_drops_the_same_slots(slot: ExecutorSlot, truncated_faststart: Path, tmp_path: Path) -> None:
    config = SnapshotConfig(frame_type=FrameType.NORMAL, count=20, interval_s=0)
    one = capture(spec_of(truncated_faststart, config, "t/{Count}.jpg", tmp_path / "one"))
    split = sharded(slot, spec_of(truncated_faststart, config, "t/{Count}.jpg", tmp_path / "split"))
    assert split.shards > 1
    assert any(d.reason == "unreadable" for d in one.dropped)
    assert_same(one, split)


@pytest.mark.parametrize(("name", "config", "key"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_any_cut_gives_the_same_job(
    long_clip: Path, tmp_path: Path, name: str, config: SnapshotConfig, key: str
) -> None:
    """Cuts that ignore GOPs (an index that lies): only decoding is lost, never an image or a drop rule;
    keyframe slots across a cut still give one image per keyframe."""
    one = capture(spec_of(long_clip, config, key, tmp_path / "one"))
    spec = spec_of(long_clip, config, key, tmp_path / "split")
    targets = len(one.images) + sum(d.reason != "past_end" for d in one.dropped)
    cuts = [Shard(start, min(start + 3, targets), 0.0) for start in range(0, targets, 3)]
    results = [capture_shard(ShardSpec(spec, n, cut.start, cut.stop)) for n, cut in enumerate(cuts)]
    split = assemble(spec, ShardPlan(one.duration_ms, tuple(cuts), 0, os.getpid()), results)
    assert split.shards == len(cuts)
    assert_same(one, split)


def test_rotated_input_keeps_its_size_and_pixels(slot: ExecutorSlot, rotated: Path, tmp_path: Path) -> None:
    config = SnapshotConfig(frame_type=FrameType.NORMAL, count=10, interval_s=0, width=90)
    one = capture(spec_of(rotated, config, "r/{Count}.jpg", tmp_path / "one"))
    split = sharded(slot, spec_of(rotated, config, "r/{Count}.jpg", tmp_path / "split"))
    assert (one.images[0].width, one.images[0].height) == (90, 160)
    assert split.shards > 1
    assert_same(one, split)


def test_a_multi_gop_job_runs_on_every_process_of_an_idle_worker(
    slot: ExecutorSlot, long_clip: Path, tmp_path: Path
) -> None:
    # the example: 12 exact frames 10 s apart on a 250-frame GOP, with the worker's own rule
    config = SnapshotConfig(frame_type=FrameType.NORMAL, time_ms=5000, count=12, interval_s=10)
    settings = WorkerSettings(processes=2)
    rule = shard_rule(settings, slot)
    assert rule.max_shards == 2 and rule.min_frames == settings.shard_min_frames
    result = asyncio.run(run_capture(slot, spec_of(long_clip, config, "m/{Count}.jpg", tmp_path), rule))
    assert (result.shards, result.processes, result.count) == (2, 2, 12)
    assert len(set(result.pids)) == 2


def test_a_job_inside_one_gop_stays_in_one_process(slot: ExecutorSlot, long_clip: Path, tmp_path: Path) -> None:
    config = SnapshotConfig(frame_type=FrameType.NORMAL, time_ms=10_000, count=9, interval_s=1)
    result = sharded(slot, spec_of(long_clip, config, "g/{Count}.jpg", tmp_path))
    assert (result.shards, result.processes, result.count) == (1, 1, 9)


def test_a_failing_shard_fails_the_job_as_one(slot: ExecutorSlot, long_clip: Path, tmp_path: Path) -> None:
    config = SnapshotConfig(frame_type=FrameType.NORMAL, count=40, interval_s=3)
    # a budget below what any capture needs: every shard refuses, the job fails once with that error
    spec = spec_of(long_clip, config, "f/{Count}.jpg", tmp_path, memory_budget_bytes=1)
    with pytest.raises(MediaTooLarge) as alone:
        capture(spec)
    with pytest.raises(MediaTooLarge) as split:
        sharded(slot, spec)
    assert str(split.value) == str(alone.value)
    # nothing of the job is left running in the pool
    assert slot.in_flight == 0


def test_a_crashing_shard_process_breaks_the_whole_job(long_clip: Path, tmp_path: Path) -> None:
    pool = ExecutorSlot(WorkerSettings(processes=2))
    try:
        pids = asyncio.run(pool.warm())
        config = SnapshotConfig(frame_type=FrameType.NORMAL, count=1000, interval_s=0)

        async def crash_one_shard() -> CaptureResult:
            job = asyncio.create_task(
                run_capture(pool, spec_of(long_clip, config, "c/{Count}.jpg", tmp_path), ShardRule(2, 1))
            )
            # the plan is done and both shards are running once two tasks are in flight
            while pool.in_flight < 2 and not job.done():
                await asyncio.sleep(0.005)
            os.kill(min(pids), signal.SIGKILL)
            return await job

        with pytest.raises(BrokenProcessPool):
            asyncio.run(crash_one_shard())
        # the handler's next step: a fresh pool for the retry, which runs the whole job again
        pool.replace_if_broken()
        retried = sharded(pool, spec_of(long_clip, config, "c/{Count}.jpg", tmp_path / "retry"), max_shards=2)
        assert retried.count == 1000 and retried.shards == 2
    finally:
        pool.close()


def test_a_busy_worker_or_job_shards_1_does_not_split(slot: ExecutorSlot) -> None:
    settings = WorkerSettings(processes=2)
    assert shard_rule(settings, slot).max_shards == 2
    assert shard_rule(WorkerSettings(processes=2, job_shards=1), slot).max_shards == 1
    busy = slot.submit(time.sleep, 0.5)
    try:
        # one process holds another job: this one gets the idle one only
        assert shard_rule(settings, slot).max_shards == 1
    finally:
        busy.result()


def test_a_shard_result_and_its_plan_keep_every_field_through_json() -> None:
    """What a fanned-out job's rows keep (`worker/fanout.py`) reads back as what was written."""
    result = ShardResult(
        number=3,
        images=(
            ShardImage(Shot(7, 7000, 6960, False), "k/image-00001.jpg", (160, 90), 1234, 89088, "k/bif-00001.jpg"),
            ShardImage(Shot(8, 8000, 8000, True), "k/cell-00002.rgb", (80, 45), 0, 102400),
        ),
        dropped=(DroppedSlot(9, 9000, "past_end"),),
        output_size=(160, 90),
        frames_decoded=55,
        frames_skipped=20,
        bytes_read=4096,
        pid=41,
        worker="host:1:abc",
    )
    plan = ShardPlan(60_000, (Shard(0, 10, 12.5), Shard(10, 20, 13.0)), 2048, 40, fan_out=True)
    assert ShardResult.from_json(orjson.loads(orjson.dumps(result.to_json()))) == result
    assert ShardPlan.from_json(orjson.loads(orjson.dumps(plan.to_json()))) == plan


def test_a_pool_replaced_after_a_crash_starts_its_processes_at_once() -> None:
    """The pool that replaces a broken one is warmed in the background, as at start-up: the retry's
    shards find their processes running instead of each waiting ~0.5 s for a spawn."""
    pool = ExecutorSlot(WorkerSettings(processes=2))

    async def crash_and_replace() -> set[int]:
        old = await pool.warm()
        os.kill(min(old), signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            await asyncio.wrap_future(pool.submit(time.sleep, 0.5))
        pool.replace_if_broken()
        # no task submitted: the new processes start by themselves
        async with asyncio.timeout(30):
            while len({p.pid for p in multiprocessing.active_children() if p.is_alive()} - old) < 2:
                await asyncio.sleep(0.05)
        return old

    try:
        asyncio.run(crash_and_replace())
    finally:
        pool.close()
