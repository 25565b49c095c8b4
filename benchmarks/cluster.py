"""`python -m benchmarks.cluster`: one long job through the whole service on one and two workers (issue 12 §3).

The scaling table's service rows: `snapshotd api` and `snapshotd worker` processes on this machine's
PostgreSQL and RabbitMQ (a database and queue names of the run's own, removed after), local storage,
and one job (by default 600 exact frames of a.mp4, one a second) submitted, then GetSnapshotJob polled
until it is final. Rows: one worker of one capture process; one worker of two (its own shards); two
workers of one process each, without fan-out (the job stays on the worker that took it) and with it
(SNAPSHOTD_FANOUT_MIN_TARGETS=1: its shards through the queue to both). A worker alone never fans out. It prints the wall time from submit to final, the speedup against the first row in the
same run, and the job's Stats (shards, processes, workers, frames decoded).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.api.services import Environment, Service, free_port
from benchmarks.api.wire import call, submit_query
from benchmarks.engine import DEFAULT_MEDIA, ensure_media, machine, warm
from benchmarks.probes import OthersLoad, add_quiet_arguments, wait_quiet

CLIP = "a.mp4"


@dataclass(frozen=True)
class Row:
    name: str
    workers: int
    processes: int
    fanout_min_targets: int


ROWS = {
    "1x1": Row("1 worker × 1 process", 1, 1, 0),
    "1x2": Row("1 worker × 2 processes, its own shards", 1, 2, 0),
    "2x1": Row("2 workers × 1 process, no fan-out", 2, 1, 0),
    "2x1-fanout": Row("2 workers × 1 process, fanned out", 2, 1, 1),
}


@dataclass
class Figure:
    walls: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


async def run_row(env: Environment, row: Row, args: argparse.Namespace, run: int) -> tuple[float, dict[str, Any]]:
    port = free_port()
    extra = {
        "SNAPSHOTD_WORKER_PROCESSES": str(row.processes),
        "SNAPSHOTD_FANOUT_MIN_TARGETS": str(row.fanout_min_targets),
        "SNAPSHOTD_FANOUT_SHARDS": str(args.fanout_shards),
        "SNAPSHOTD_JOB_TIMEOUT_S": "3600",
        "SNAPSHOTD_JOB_TIMEOUT_PER_IMAGE_S": "10",
    }
    level = args.log_level
    api = await Service.start("api", env.env(port=port, log_level=level, **extra), env.work / "api.log")
    workers = [
        await Service.start("worker", env.env(port=port, log_level=level, **extra), env.work / f"worker-{n}.log")
        for n in range(row.workers)
    ]
    try:
        await api.wait_ready(port)
        await asyncio.sleep(3 + row.workers)  # every worker's pool is warm and consuming
        query = submit_query(
            f"oss://thumbs/cluster/{row.name.replace(' ', '_')}-{run}/{{Count}}.jpg",
            input_media=f"oss://media/{CLIP}",
            Count=args.count,
            Interval=args.interval,
            FrameType="normal",
            Time=0,
        )
        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            status, body = await call(session, port, "SubmitSnapshotJob", query)
            if status != 200:
                raise RuntimeError(f"submit failed: {status} {body}")
            while True:
                _, got = await call(session, port, "GetSnapshotJob", [("JobId", body["JobId"])])
                job = got["SnapshotJob"]
                if job["Status"] in ("Success", "Fail"):
                    break
                await asyncio.sleep(0.1)
            wall = time.perf_counter() - started
        if job["Status"] != "Success":
            raise RuntimeError(f"the job failed: {job.get('Code')} {job.get('Message')}")
        return wall, job["Stats"]
    finally:
        for service in (api, *workers):
            await service.stop()


async def measure(args: argparse.Namespace, rows: list[Row]) -> dict[str, Figure]:
    env = Environment()
    figures: dict[str, Figure] = {}
    try:
        await env.create()
        media = env.storage / "media"
        media.mkdir(parents=True, exist_ok=True)
        try:
            os.link(args.media / CLIP, media / CLIP)
        except OSError:
            shutil.copyfile(args.media / CLIP, media / CLIP)
        for row in rows:
            load = wait_quiet(args.quiet_below, args.quiet_wait)
            print(f"[{row.name}] (others use {load:.2f} cores) …", flush=True)
            figure = figures[row.name] = Figure()
            for run in range(args.runs):
                meter = OthersLoad()
                meter.start()
                wall, stats = await run_row(env, row, args, run)
                figure.others.append(meter.stop())
                figure.walls.append(wall)
                figure.stats = stats
                print(
                    f"   {wall:.2f} s ({stats['Shards']} shards, {stats['Processes']} processes, "
                    f"{stats.get('Workers', 1)} workers; others {figure.others[-1]:.2f} cores)",
                    flush=True,
                )
    finally:
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in env.work.glob("*.log"):
                shutil.copyfile(log, args.keep_logs / log.name)
        await env.cleanup()
    return figures


def table(figures: dict[str, Figure], runs: int) -> None:
    base = statistics.median(next(iter(figures.values())).walls)
    print("\n| through the service | wall s, median (min–max) | speedup | shards · processes · workers | decoded |")
    print("|---|---|---|---|---|")
    for name, figure in figures.items():
        walls, stats = figure.walls, figure.stats
        print(
            f"| {name} | {statistics.median(walls):.2f} ({min(walls):.2f}–{max(walls):.2f}) "
            f"| {base / statistics.median(walls):.2f}× | {stats['Shards']} · {stats['Processes']} · "
            f"{stats.get('Workers', 1)} | {stats['FramesDecoded']:,} |"
        )
    others = [o for f in figures.values() for o in f.others]
    print(
        f"\n- submit to final, medians of {runs} runs; other users' load during them: median "
        f"{statistics.median(others):.2f} cores, max {max(others):.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__.split("\n")[0])
    add_quiet_arguments(parser, DEFAULT_MEDIA, "row", reruns=False)
    parser.add_argument("--count", type=int, default=600, help="exact frames in the job (default 600)")
    parser.add_argument("--interval", type=int, default=1, help="seconds between them (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per row (default 3)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"rows to run, of {','.join(ROWS)}")
    parser.add_argument("--fanout-shards", type=int, default=32, help="SNAPSHOTD_FANOUT_SHARDS (default 32)")
    parser.add_argument("--log-level", default="WARNING", help="the services' SNAPSHOTD_LOG_LEVEL (default WARNING)")
    parser.add_argument("--keep-logs", type=Path, help="copy the services' logs (every run appended) here")
    args = parser.parse_args(argv)
    if CLIP not in ensure_media(args.media, {CLIP}, generate=True):
        print(f"benchmarks.cluster: {CLIP} is missing", file=sys.stderr)
        return 1
    warm(args.media / CLIP)
    rows = [ROWS[name] for name in args.rows.split(",") if name]
    print(f"machine: {machine()}")
    print(f"job: {args.count} exact frames of {CLIP}, one every {args.interval} s, through the service")
    figures = asyncio.run(measure(args, rows))
    table(figures, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
