"""`python -m benchmarks.scaling`: one long job on 1 and 2 capture processes, in shards (issue 12 §2, §5).

One job (by default 600 exact frames of a.mp4, one a second) through the worker's own path: its process
pool (`ExecutorSlot`, warmed), the shard rule the worker applies (`shard_rule`: as many shards as idle
processes, none under SNAPSHOTD_SHARD_MIN_FRAMES) and `run_capture` (plan, shards at once, assembly).
For each pool size × decoder threads it prints the wall time, the speedup against one single-threaded
process in the same run, the shards and processes the job ran on, and the frames decoded against what
a keyframe-to-target decode needs (every frame from the keyframe at or before each target up to it,
counted once, from the container's index), with the non-reference frames skipped on the way.

Also times what one rendered image costs against one decoded frame on this clip (`RENDER_FRAMES` in
`domain/shards.py`) and the fixed cost of a shard (an extra open and hand-over), the figures behind
the shard-size default. Same quiet rules as the other benchmarks (`--quiet-below`, `--max-others`).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.engine import DEFAULT_MEDIA, ensure_media, machine, warm
from benchmarks.probes import OthersLoad, add_quiet_arguments, wait_quiet
from service.config import WorkerSettings
from service.domain.models import CaptureResult, CaptureSpec, FrameType, SnapshotConfig
from service.domain.shards import ShardRule
from service.media.plan import read_index
from service.media.shards import capture_or_plan
from service.media.source import open_container
from service.media.timing import plan
from service.worker.pool import ExecutorSlot
from service.worker.sharded import run_capture, shard_rule

CLIP = "a.mp4"
#: (pool processes, decoder threads per process)
COMBOS = [(1, 1), (2, 1), (1, 2), (2, 2)]


@dataclass
class Figure:
    walls: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)
    last: CaptureResult | None = None


def needed_frames(clip: Path, config: SnapshotConfig) -> int:
    """Frames a keyframe-to-target decode needs: from each target's keyframe up to it, each counted once."""
    container, reader = open_container(str(clip))
    try:
        index = read_index(container, None, 0)
    finally:
        container.close()
        reader.close()
    targets, _ = plan(config, index.duration_ms)
    tb = index.time_base[0] / index.time_base[1]
    wanted: set[int] = set()
    for target in targets:
        t = index.start_pts + int(target.ms / 1000 / tb)
        key = index.keyframes[max(bisect.bisect_right(index.keyframes, t) - 1, 0)]
        lo, hi = bisect.bisect_left(index.frames, key), bisect.bisect_right(index.frames, t)
        wanted.update(range(lo, max(hi, lo + 1)))
    return len(wanted)


def one_run(slot: ExecutorSlot, settings: WorkerSettings, clip: Path, config: SnapshotConfig) -> CaptureResult:
    scratch = Path(tempfile.mkdtemp(prefix="snapshotd-scaling-"))
    try:
        spec = CaptureSpec(str(clip), config, "{Count}.jpg", str(scratch), decode_threads=settings.decode_threads)
        return asyncio.run(run_capture(slot, spec, shard_rule(settings, slot)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure(
    clip: Path, config: SnapshotConfig, processes: int, threads: int, runs: int, args: argparse.Namespace
) -> Figure:
    settings = replace(WorkerSettings(), processes=processes, decode_threads=threads, max_tasks_per_child=10_000)
    slot = ExecutorSlot(settings)
    figure = Figure()
    try:
        asyncio.run(slot.warm())
        for _ in range(runs):
            for attempt in range(args.retries + 1):
                meter = OthersLoad()
                meter.start()
                started = time.perf_counter()
                result = one_run(slot, settings, clip, config)
                wall = time.perf_counter() - started
                others = meter.stop()
                if others <= args.max_others or attempt == args.retries:
                    break
                print(f"   others took {others:.2f} cores during that run: again", flush=True)
                wait_quiet(args.quiet_below, args.quiet_wait)
            figure.walls.append(wall)
            figure.others.append(others)
            figure.last = result
            print(f"   {wall:.2f} s ({result.shards} shards on {result.processes} processes)", flush=True)
    finally:
        slot.close()
    return figure


def unit_costs(clip: Path, args: argparse.Namespace) -> tuple[float, float, float]:
    """(ms per decoded P/B frame, ms per keyframe image, ms a shard's own open costs) on one process.

    A frame: one exact frame deep in a GOP against one just after its keyframe (the same open and one
    image each). A keyframe image (its decode and render): 60 keyframes against one. A shard's fixed cost:
    the open, index read and keyframe list of `capture_or_plan` on a job it hands back as shards.
    """
    settings = replace(WorkerSettings(), processes=1, max_tasks_per_child=10_000)
    slot = ExecutorSlot(settings)
    try:
        asyncio.run(slot.warm())

        def best(config: SnapshotConfig) -> CaptureResult:
            results = []
            for _ in range(args.runs):
                scratch = Path(tempfile.mkdtemp(prefix="snapshotd-scaling-"))
                try:
                    spec = CaptureSpec(str(clip), config, "{Count}.jpg", str(scratch))
                    rule = replace(shard_rule(settings, slot), max_shards=1)
                    results.append(asyncio.run(run_capture(slot, spec, rule)))
                finally:
                    shutil.rmtree(scratch, ignore_errors=True)
            return min(results, key=lambda r: r.capture_ms)

        shallow = best(SnapshotConfig(frame_type=FrameType.NORMAL, time_ms=300_200))
        deep = best(SnapshotConfig(frame_type=FrameType.NORMAL, time_ms=308_200))
        per_frame = (deep.capture_ms - shallow.capture_ms) / max(deep.frames_decoded - shallow.frames_decoded, 1)
        one = best(SnapshotConfig(frame_type=FrameType.INTRA, time_ms=300_000))
        keys = best(SnapshotConfig(frame_type=FrameType.INTRA, count=60, interval_s=10))
        per_key = (keys.capture_ms - one.capture_ms) / max(keys.count - 1, 1)
        opens = []
        for _ in range(args.runs):
            spec = CaptureSpec(str(clip), SnapshotConfig(frame_type=FrameType.INTRA, count=60, interval_s=10), "x", "")
            started = time.perf_counter()
            slot.submit(capture_or_plan, spec, ShardRule(max_shards=2, min_frames=1)).result()
            opens.append((time.perf_counter() - started) * 1000)
        return per_frame, per_key, min(opens)
    finally:
        slot.close()


def table(figures: dict[tuple[int, ...], Figure], combos: list[tuple[int, ...]], needed: int, runs: int) -> None:
    base = statistics.median(figures[combos[0]].walls)
    print()
    print(
        "| processes × threads | wall s, median (min–max) | speedup | shards · processes | decoded / needed | skipped |"
    )
    print("|---|---|---|---|---|---|")
    for combo, figure in figures.items():
        last = figure.last
        assert last is not None
        print(
            f"| {combo[0]} × {combo[1]} | {fmt(figure.walls)} | {base / statistics.median(figure.walls):.2f}× "
            f"| {last.shards} · {last.processes} | {last.frames_decoded:,} / {needed:,} "
            f"({last.frames_decoded / needed:.2f}) | {last.frames_skipped:,} |"
        )
    others = [o for f in figures.values() for o in f.others]
    print(
        f"\n- speedup against {combos[0][0]} × {combos[0][1]} in the same run; medians of {runs} runs; "
        f"other users' load during them: median {statistics.median(others):.2f} cores, max {max(others):.2f}"
    )


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n")[0])
    add_quiet_arguments(parser, DEFAULT_MEDIA, "combination")
    parser.add_argument("--count", type=int, default=600, help="exact frames in the job (default 600)")
    parser.add_argument("--interval", type=int, default=1, help="seconds between them (default 1)")
    parser.add_argument("--width", type=int, default=None, help="output width (default: the clip's)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per combination (default 3)")
    parser.add_argument("--combos", default=",".join(f"{p}x{t}" for p, t in COMBOS), help="processes×threads list")
    parser.add_argument("--no-unit-costs", action="store_true", help="skip the frame/image/shard cost figures")
    args = parser.parse_args(argv)
    if CLIP not in ensure_media(args.media, {CLIP}, generate=True):
        print(f"benchmarks.scaling: {CLIP} is missing", file=sys.stderr)
        return 1
    clip = args.media / CLIP
    warm(clip)
    config = SnapshotConfig(
        frame_type=FrameType.NORMAL, time_ms=0, count=args.count, interval_s=args.interval, width=args.width
    )
    combos = [tuple(int(n) for n in c.split("x")) for c in args.combos.split(",") if c]
    print(f"machine: {machine()}")
    print(f"job: {args.count} exact frames of {CLIP}, one every {args.interval} s, width {args.width or 'as the clip'}")
    needed = needed_frames(clip, config)
    figures: dict[tuple[int, ...], Figure] = {}
    for processes, threads in combos:
        load = wait_quiet(args.quiet_below, args.quiet_wait)
        print(f"[{processes} processes × {threads} threads] (others use {load:.2f} cores) …", flush=True)
        figures[(processes, threads)] = measure(clip, config, processes, threads, args.runs, args)

    if figures:
        table(figures, combos, needed, args.runs)
    if not args.no_unit_costs:
        per_frame, per_key, per_shard = unit_costs(clip, args)
        print(
            f"- one process, best of {args.runs}: a decoded P/B frame {per_frame:.1f} ms; a keyframe image "
            f"(decode + full-size render) {per_key:.1f} ms = {per_key / per_frame:.1f} frames; a shard's own "
            f"open (index, keyframes) {per_shard:.0f} ms = {per_shard / per_frame:.0f} frames"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
