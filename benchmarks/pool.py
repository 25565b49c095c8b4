"""`python -m benchmarks.pool`: capture throughput by pool size and decoder threads on this machine.

The figures behind the defaults of SNAPSHOTD_WORKER_PROCESSES and SNAPSHOTD_DECODE_THREADS. Each
combination gets the worker's own process pool (`make_executor`) and a batch of jobs submitted at once,
as a busy worker receives them; jobs/s is the batch over its wall time. A job alone in the pool is timed
too: its latency when the worker is idle. Inputs are the make_media.sh corpus's a.mp4 (10 min 1080p
H.264), read from the page cache.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.engine import DEFAULT_MEDIA, ensure_media, machine, warm
from benchmarks.probes import OthersLoad, add_quiet_arguments, wait_quiet
from service.config import WorkerSettings
from service.domain.models import CaptureSpec, FrameType, SnapshotConfig
from service.media.capture import capture
from service.worker.pool import make_executor

CLIP = "a.mp4"
CLIP_S = 600
#: (processes, decoder threads per process) on a 2-core machine, and one per core as a reference
COMBOS = [(1, 1), (1, 2), (2, 1), (2, 2)]


@dataclass(frozen=True)
class Workload:
    name: str
    configs: list[SnapshotConfig]


def workloads(seed: int = 1) -> list[Workload]:
    rng = random.Random(seed)
    times = [rng.randrange(0, (CLIP_S - 1) * 1000) for _ in range(24)]
    return [
        Workload("1 exact frame", [SnapshotConfig(frame_type=FrameType.NORMAL, time_ms=t) for t in times]),
        Workload("1 keyframe", [SnapshotConfig(frame_type=FrameType.INTRA, time_ms=t) for t in times * 4]),
        Workload(
            "60 exact /10s",
            [SnapshotConfig(frame_type=FrameType.NORMAL, time_ms=0, count=60, interval_s=10) for _ in range(4)],
        ),
    ]


@dataclass
class Figure:
    jobs_per_s: list[float]
    alone_s: list[float]
    others: list[float]


def run_batch(pool: Executor, clip: Path, configs: list[SnapshotConfig], threads: int) -> float:
    """Wall time of `configs` submitted at once, each job writing into a scratch dir of its own."""
    scratch = Path(tempfile.mkdtemp(prefix="snapshotd-pool-"))
    try:
        specs = []
        for n, config in enumerate(configs):
            (scratch / str(n)).mkdir()
            specs.append(
                CaptureSpec(
                    source=str(clip),
                    config=config,
                    output_key="{Count}.jpg",
                    scratch_dir=str(scratch / str(n)),
                    decode_threads=threads,
                )
            )
        started = time.perf_counter()
        for future in [pool.submit(capture, spec) for spec in specs]:
            future.result()
        return time.perf_counter() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class Quiet:
    below: float
    wait_s: float
    max_others: float
    retries: int


def quiet_batch(
    pool: Executor, clip: Path, configs: list[SnapshotConfig], threads: int, quiet: Quiet
) -> tuple[float, float]:
    """(wall s, others' cores) of a batch; run again when other users took more than `quiet.max_others`."""
    for attempt in range(quiet.retries + 1):
        meter = OthersLoad()
        meter.start()
        wall = run_batch(pool, clip, configs, threads)
        others = meter.stop()
        if others <= quiet.max_others or attempt == quiet.retries:
            return wall, others
        print(f"   others took {others:.2f} cores during that batch: again", flush=True)
        wait_quiet(quiet.below, quiet.wait_s)
    raise AssertionError("unreachable")


def measure(
    clip: Path, processes: int, threads: int, loads: list[Workload], rounds: int, quiet: Quiet
) -> dict[str, Figure]:
    settings = replace(WorkerSettings(), processes=processes, max_tasks_per_child=10_000)
    pool = make_executor(settings)
    try:
        # start the processes and their imports before timing anything
        run_batch(pool, clip, [SnapshotConfig(time_ms=0)] * processes * 2, threads)
        figures: dict[str, Figure] = {}
        for load in loads:
            figure = figures[load.name] = Figure([], [], [])
            for _ in range(rounds):
                wall, others = quiet_batch(pool, clip, load.configs, threads, quiet)
                figure.jobs_per_s.append(len(load.configs) / wall)
                figure.others.append(others)
                wall, others = quiet_batch(pool, clip, load.configs[:1], threads, quiet)
                figure.alone_s.append(wall)
                figure.others.append(others)
        return figures
    finally:
        pool.shutdown()


def fmt(values: list[float], digits: int) -> str:
    med = statistics.median(values)
    return f"{med:.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pool", description=__doc__.split("\n")[0])
    add_quiet_arguments(parser, DEFAULT_MEDIA, "combination")
    parser.add_argument("--rounds", type=int, default=3, help="batches per workload and combination (default 3)")
    args = parser.parse_args(argv)
    quiet = Quiet(args.quiet_below, args.quiet_wait, args.max_others, args.retries)
    if CLIP not in ensure_media(args.media, {CLIP}, generate=True):
        print(f"benchmarks.pool: {CLIP} is missing", file=sys.stderr)
        return 1
    clip = args.media / CLIP
    warm(clip)
    loads = workloads()
    print(f"machine: {machine()}")
    results: dict[tuple[int, int], dict[str, Figure]] = {}
    for processes, threads in COMBOS:
        load = wait_quiet(args.quiet_below, args.quiet_wait)
        print(f"[{processes} processes × {threads} threads] (others use {load:.2f} cores) …", flush=True)
        results[(processes, threads)] = measure(clip, processes, threads, loads, args.rounds, quiet)

    print()
    header = ["processes × threads"] + [f"{w.name} ({len(w.configs)} jobs): jobs/s · alone s" for w in loads]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for (processes, threads), figures in results.items():
        cells = [f"{processes} × {threads}"]
        for w in loads:
            f = figures[w.name]
            cells.append(f"{fmt(f.jobs_per_s, 2)} · {fmt(f.alone_s, 3)}")
        print("| " + " | ".join(cells) + " |")
    others = [o for figures in results.values() for f in figures.values() for o in f.others]
    print(
        f"\n- medians of {args.rounds} batches (min–max); other users' load during them: "
        f"median {statistics.median(others):.2f} cores, max {max(others):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
