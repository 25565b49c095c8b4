"""The benchmark's options, and one run from start to clean-up: throughput at each log level, then end to end.

Everything the run creates (database, exchanges, queues, temp dir) is removed at the end, also on Ctrl-C
or SIGTERM; `--keep` leaves it for a look.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from benchmarks import api
from benchmarks.api import loadgen, report
from benchmarks.api.cpu import busy_cores_except
from benchmarks.api.e2e import e2e_suite
from benchmarks.api.services import Environment
from benchmarks.api.throughput import throughput_suite


async def orchestrate(opts: argparse.Namespace) -> dict[str, Any]:
    busy = await asyncio.to_thread(busy_cores_except, {os.getpid()})
    results: dict[str, Any] = {
        "machine": report.machine_notes() + "; " + await report.server_versions(),
        "background_busy_cores": busy,
        "suites": [],
    }
    print(f"machine: {results['machine']}")
    print(f"background load (other users) before the run: {busy:.2f} of {os.cpu_count()} cores busy", flush=True)
    env = Environment()
    print(f"database {env.db_name}, AMQP suffix {env.suffix}, work dir {env.work}", flush=True)
    try:
        await env.create()
        if opts.db_setting:
            await env.set_database(opts.db_setting)
        fixed = opts.rates or None
        for processes in opts.api_processes:
            for level in opts.log_levels:
                suite = await throughput_suite(env, level, opts, fixed, processes)
                results["suites"].append(suite)
                # the other suites run the same fixed rates, so they are comparable
                fixed = fixed or suite["fixed_rates"]
        if opts.e2e_jobs:
            results["e2e"] = await e2e_suite(env, opts)
    finally:
        if opts.keep:
            print(f"kept: database {env.db_name}, work dir {env.work}")
        else:
            await env.cleanup()
    return results


async def cancellable(work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run `work`, cancelling it on SIGTERM or SIGINT (even where SIGINT is ignored, as in `cmd &`)."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    return await work


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    description = (api.__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_throughput", description=description)
    sub = parser.add_subparsers(dest="command")
    loadgen.add_arguments(sub.add_parser("loadgen", help="internal: the load generator process"))

    def floats(text: str) -> list[float]:
        return [float(x) for x in text.split(",") if x]

    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each fixed-rate run (default 20)")
    parser.add_argument("--ramp-duration", type=float, default=10.0, help="seconds per ramp step (default 10)")
    parser.add_argument("--warmup", type=float, default=5.0, help="closed-loop warm-up seconds (default 5)")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[16, 32, 64],
        help="ramp concurrencies (default 16,32,64)",
    )
    parser.add_argument(
        "--rates", type=floats, default=[], help="fixed rates, e.g. 500,1000 (default: from the ramp, and the target)"
    )
    parser.add_argument(
        "--api-processes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1],
        help="SNAPSHOTD_API_PROCESSES of each suite, e.g. 1,2 (default 1)",
    )
    parser.add_argument(
        "--relay-processes",
        type=int,
        default=0,
        help="0: each API process runs its own relay; N: SNAPSHOTD_API_RELAY=none and N `snapshotd relay` processes",
    )
    parser.add_argument(
        "--relay-messages",
        type=int,
        default=20_000,
        help="dispatches put in the outbox at once to time the relays alone (default 20000; 0: skip)",
    )
    parser.add_argument("--connections", type=int, default=128, help="keep-alive connections of the open model")
    parser.add_argument(
        "--log-levels",
        type=lambda s: [x for x in s.upper().split(",") if x and x != "NONE"],
        default=["WARNING", "INFO"],
        help="API log levels measured (default WARNING,INFO; none: skip the throughput runs)",
    )
    parser.add_argument("--e2e-jobs", type=int, default=30, help="one-image jobs timed end to end (0: skip)")
    parser.add_argument("--e2e-warmup", type=int, default=3, help="untimed jobs first (process pool start-up)")
    parser.add_argument("--e2e-gap", type=float, default=0.2, help="seconds between end-to-end jobs")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto", help="py-spy the API")
    parser.add_argument("--profile-level", default="WARNING", help="log level of the profiled run")
    parser.add_argument("--profile-seconds", type=float, default=15.0)
    parser.add_argument("--profile-out", default="", help="copy py-spy's collapsed stacks here")
    parser.add_argument("--py-spy", default="", help="py-spy executable (default: beside python, else PATH)")
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=0.25,
        help="before each run, wait until other processes use fewer cores than this (default 0.25)",
    )
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="longest wait for that, s (default 120)")
    parser.add_argument(
        "--api-env",
        action="append",
        default=[],
        metavar="SNAPSHOTD_X=V",
        help="extra setting for the API (experiments, e.g. SNAPSHOTD_DATABASE_POOL_MAX=30); repeatable",
    )
    parser.add_argument(
        "--db-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="PostgreSQL setting on the bench database (diagnosis, e.g. synchronous_commit=off); repeatable",
    )
    parser.add_argument("--closed-only", action="store_true", help="skip the fixed-rate runs")
    parser.add_argument("--json", default="", help="write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the database and temp dir")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.command == "loadgen":
        asyncio.run(loadgen.loadgen(opts))
        return 0
    try:
        results = asyncio.run(cancellable(orchestrate(opts)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: cleaned up", file=sys.stderr)
        return 130
    report.print_report(results)
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=2, default=str))
        print(f"\nfigures written to {opts.json}")
    return 0
