"""The throughput phases of one API process: warm-up, closed-loop ramp, fixed-rate runs, and a profile.

Each run is a load-generator subprocess (benchmarks/api/loadgen.py); over its measured window the CPU
is split by process and the outbox and jobs queue are sampled. Before each run the machine must be
quiet (`--quiet-below`, `--quiet-wait`), so other users' load is reported, not mistaken for ours.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable
from typing import Any

from benchmarks.api import profile, report
from benchmarks.api.broker import Broker
from benchmarks.api.cpu import RELAY_ROLE, CpuWindow, cpu_per_request, wait_quiet
from benchmarks.api.services import REPO, Environment, Service, descendants, free_port
from benchmarks.api.targets import TARGET_RATE, sustained, targets_met

#: the concurrency of the warm-up and of the profiled run
BASE_CONCURRENCY = 32


async def run_load(
    port: int,
    broker: Broker,
    roles: dict[int, str],
    *,
    mode: str,
    duration: float,
    concurrency: int = BASE_CONCURRENCY,
    rate: float = 0.0,
    connections: int = 128,
    warmup: float = 0.0,
    during: Callable[[], Any] | None = None,
    quiet: argparse.Namespace | None = None,
) -> dict[str, Any]:
    """Run the generator subprocess; sample outbox/queue and CPU over its measured window.

    With `quiet`, first wait for other users' load on the machine to fall (see `wait_quiet`).
    """
    others_before = await wait_quiet(quiet, set(roles)) if quiet is not None else None
    args = [
        sys.executable,
        "-m",
        "benchmarks.api.loadgen",
        f"--port={port}",
        f"--mode={mode}",
        f"--duration={duration}",
        f"--concurrency={concurrency}",
        f"--rate={rate}",
        f"--connections={connections}",
        f"--warmup={warmup}",
    ]
    proc = await asyncio.create_subprocess_exec(*args, cwd=REPO, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    cpu = CpuWindow({**roles, proc.pid: "load generator", os.getpid(): "bench orchestrator"})
    samples: list[tuple[float, int, int]] = []
    stop_sampling = asyncio.Event()
    sampler: asyncio.Task[None] | None = None
    side: asyncio.Task[Any] | None = None
    result: dict[str, Any] = {}
    try:
        async for raw in proc.stdout:
            line = raw.decode().strip()
            if line == "START":
                cpu.start()
                sampler = asyncio.create_task(broker.sample(stop_sampling, samples))
                if during is not None:
                    side = asyncio.create_task(during())
            elif line == "STOP":
                cpu.stop()
                stop_sampling.set()
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
        await proc.wait()
    finally:
        if proc.returncode is None:  # interrupted: don't leave the generator running
            proc.kill()
            await proc.wait()
    if sampler is not None:
        stop_sampling.set()
        await sampler
    if proc.returncode != 0 or not result:
        raise RuntimeError(f"load generator failed (exit {proc.returncode})")
    result["cpu_cores"] = cpu.result
    result["others_before_cores"] = others_before
    result["cpu_ms_per_request"] = cpu_per_request(cpu.result, result["completed_in_window_rate"])
    if samples:
        (t0, _, depth0), (t1, outbox1, depth1) = samples[0], samples[-1]
        result["outbox_peak"] = max(s[1] for s in samples)
        result["outbox_end"] = outbox1
        result["relay_publish_rate"] = (depth1 - depth0) / (t1 - t0) if t1 > t0 else 0.0
    if side is not None:
        result["side"] = await side
    return result


def projection(suite: dict[str, Any]) -> dict[str, float]:
    """Upper bounds of the rate on an otherwise idle machine, from CPU per request of the best closed run.

    One process runs one event loop, so N API processes top out at N cores; the machine at all of its
    cores shared by API, PostgreSQL, RabbitMQ and the generator. Queueing makes the real figure lower.
    """
    best = max(suite["closed"], key=lambda r: r["achieved_rate"])
    per = best["cpu_ms_per_request"]
    cores = os.cpu_count() or 1
    api_cores = min(cores, suite.get("api_processes", 1))
    api_bound = api_cores * 1000 / per["api"] if per.get("api") else float("inf")
    machine_bound = cores * 1000 / (per["service"] + per["generator"]) if per.get("service") else float("inf")
    return {
        "api_cpu_ms": per["api"],
        "service_cpu_ms": per["service"],
        "generator_cpu_ms": per["generator"],
        "api_single_core_bound": api_bound,
        "machine_bound": machine_bound,
        "projected_max": min(api_bound, machine_bound),
    }


def default_rates(best_rate: float) -> list[float]:
    """80 % and 100 % of the ramp's best, and the target when the best is below it."""
    top = int(best_rate // 10 * 10)
    return sorted({top, int(top * 0.8 // 10 * 10)} | ({int(TARGET_RATE)} if top < TARGET_RATE else set()))


async def relay_saturation(broker: Broker, roles: dict[int, str], opts: argparse.Namespace) -> dict[str, Any]:
    """The API's relays alone at saturation: `--relay-messages` dispatches put in the outbox at once (no
    requests running), timed from the first row taken to the last one confirmed and deleted."""
    flood = opts.relay_messages
    others_before = await wait_quiet(opts, set(roles))
    cpu = CpuWindow({**roles, os.getpid(): "bench orchestrator"})
    await broker.flood_outbox(flood)
    cpu.start()
    started, left_at_start, ended = await broker.time_drain(flood)
    cpu.stop()
    # the rows still there when the first batch was seen taken, all published by the end
    rate = left_at_start / (ended - started) if ended > started else 0.0
    depth = await broker.queue_depth()
    await broker.purge()
    return {
        "messages": flood,
        "msgs_per_s": rate,
        "seconds": ended - started,
        "queued": depth,
        "cpu_cores": cpu.result,
        "relay_cpu_us_per_msg": (cpu.result.get("snapshotd api", 0.0) + cpu.result.get(RELAY_ROLE, 0.0)) * 1e6 / rate
        if rate
        else 0.0,
        "others_before_cores": others_before,
    }


async def throughput_suite(
    env: Environment, log_level: str, opts: argparse.Namespace, fixed_rates: list[float] | None, processes: int = 1
) -> dict[str, Any]:
    """The API (`processes` of them on one port) at `log_level`: warm-up, closed-loop ramp, open-model runs,
    the relay alone at saturation, optional profile (one process only)."""
    port = free_port()
    extra = {"SNAPSHOTD_API_PROCESSES": str(processes), **dict(kv.split("=", 1) for kv in opts.api_env)}
    if opts.relay_processes:
        extra["SNAPSHOTD_API_RELAY"] = "none"
    api_env = env.env(port=port, log_level=log_level, **extra)
    api = await Service.start("api", api_env, env.work / f"api-{log_level}-{processes}.log")
    relays = [
        await Service.start("relay", api_env, env.work / f"relay-{log_level}-{processes}-{n}.log")
        for n in range(opts.relay_processes)
    ]
    label = f"{log_level}, {processes} API process{'es' if processes > 1 else ''}"
    if relays:
        label += f", {len(relays)} relay process{'es' if len(relays) > 1 else ''}"
    out: dict[str, Any] = {"log_level": log_level, "api_processes": processes, "label": label, "closed": [], "open": []}
    broker = await Broker.open(env)
    try:
        await api.wait_ready(port)
        # the supervisor and every API process it runs count as the API
        pids = {api.pid} | (await wait_children(api.pid, processes) if processes > 1 else set())
        roles = dict.fromkeys(pids, "snapshotd api") | {relay.pid: RELAY_ROLE for relay in relays}
        print(f"\n== API {label} (pids {sorted(pids)}, port {port})", flush=True)
        await run_load(port, broker, roles, mode="closed", duration=opts.warmup, quiet=opts)
        await broker.drain()
        await broker.purge()
        for concurrency in opts.concurrency:
            run = await run_load(
                port, broker, roles, mode="closed", duration=opts.ramp_duration, concurrency=concurrency, quiet=opts
            )
            run["drain_s"] = await broker.drain()
            await broker.purge()
            out["closed"].append(run)
            report.print_closed(run)
        best = max(out["closed"], key=lambda r: r["achieved_rate"])
        out["ramp_best_rate"] = best["achieved_rate"]
        out["fixed_rates"] = fixed_rates = fixed_rates or default_rates(best["achieved_rate"])
        for rate in fixed_rates if not opts.closed_only else []:
            run = await run_load(
                port,
                broker,
                roles,
                mode="open",
                duration=opts.duration,
                rate=rate,
                connections=opts.connections,
                quiet=opts,
            )
            run["drain_s"] = await broker.drain()
            await broker.purge()
            run["sustained"] = sustained(run)
            out["open"].append(run)
            report.print_open(run)
        if opts.relay_messages:
            out["relay"] = await relay_saturation(broker, roles, opts)
            report.print_relay(out["relay"])
        out["jobs_in_db"] = await broker.jobs()
        out["outbox_after"] = await broker.outbox()
        if opts.profile_level == log_level and opts.profile != "never" and processes == 1:
            out["needs_profile"] = True
            if opts.profile == "always" or not targets_met(out):
                out["profile"] = await profile_api(api.pid, port, broker, roles, opts, env)
                await broker.drain()
                await broker.purge()
    finally:
        await broker.close()
        await api.stop()
        for relay in relays:
            await relay.stop()
    out["projection"] = projection(out)
    return out


async def wait_children(pid: int, count: int, timeout_s: float = 30.0) -> set[int]:
    """The supervisor's `count` API processes (all up: the port answered /readyz, but maybe from one)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    children = await asyncio.to_thread(descendants, pid)
    while len(children) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
        children = await asyncio.to_thread(descendants, pid)
    await asyncio.sleep(3.0)  # the last child to start may still be connecting to PostgreSQL and RabbitMQ
    return children


async def profile_api(
    pid: int, port: int, broker: Broker, roles: dict[int, str], opts: argparse.Namespace, env: Environment
) -> dict[str, Any]:
    """py-spy samples the API while a closed-loop run keeps it busy."""
    py_spy = opts.py_spy or profile.find_py_spy()
    if py_spy is None:
        print("   profile: py-spy not found (pip install py-spy, or --py-spy PATH); skipped", flush=True)
        return {"skipped": "py-spy not found"}
    collapsed = env.work / "profile.txt"
    seconds = int(opts.profile_seconds)
    print(
        f"   profile: py-spy record {seconds} s at {profile.SAMPLE_RATE} Hz under closed-loop concurrency "
        f"{BASE_CONCURRENCY} …",
        flush=True,
    )
    run = await run_load(
        port,
        broker,
        roles,
        mode="closed",
        duration=seconds + 2,
        during=lambda: profile.record(py_spy, pid, seconds, collapsed),
        warmup=0.5,
        quiet=opts,
    )
    if run.get("side") or not collapsed.exists():
        return {"skipped": "py-spy failed", "run": run}
    summary = profile.summarize_profile(collapsed.read_text(), expected_samples=seconds * profile.SAMPLE_RATE)
    summary["rate_during_profile"] = run["achieved_rate"]
    summary["collapsed_stacks"] = str(collapsed)
    if opts.profile_out:
        shutil.copy(collapsed, opts.profile_out)
        summary["collapsed_stacks"] = opts.profile_out
    return summary
