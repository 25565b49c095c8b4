"""What the benchmark prints: a line per run as it goes, then the summary tables and the machine it ran on."""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Any

import aio_pika
import aiohttp
import asyncpg

from benchmarks.api.cpu import OTHERS, RELAY_ROLE
from benchmarks.api.services import ADMIN_PG_URL, AMQP_URL
from benchmarks.api.targets import TARGET_E2E_OVERHEAD_MS, TARGET_P99_MS, TARGET_RATE, targets_met


def fmt_ms(stats: dict[str, float], *keys: str) -> str:
    return " ".join(f"{k} {stats[k]:.1f}" for k in keys if k in stats)


def relay_cores(cpu: dict[str, float]) -> str:
    """The `snapshotd relay` processes' cores, when the suite ran them."""
    return f" relay {cpu[RELAY_ROLE]:.2f}" if RELAY_ROLE in cpu else ""


def print_closed(run: dict[str, Any]) -> None:
    lat = run["latency_ms"]
    cpu = run["cpu_cores"]
    print(
        f"   closed c={run['concurrency']:<3d} {run['achieved_rate']:7.0f}/s  ms: {fmt_ms(lat, 'p50', 'p90', 'p99', 'max')}"
        f"  errors {sum(run['errors'].values())}  relay {run.get('relay_publish_rate', 0):.0f}/s"
        f" outbox peak {run.get('outbox_peak', 0)} drain {run['drain_s']:.1f}s"
        f"  cores: api {cpu.get('snapshotd api', 0):.2f}{relay_cores(cpu)} pg {cpu.get('postgres', 0):.2f}"
        f" rmq {cpu.get('rabbitmq', 0):.2f} gen {cpu.get('load generator', 0):.2f}"
        f" others {cpu.get(OTHERS, 0):.2f}  cpu ms/req: api {run['cpu_ms_per_request'].get('api', 0):.2f}"
        f" service {run['cpu_ms_per_request'].get('service', 0):.2f}",
        flush=True,
    )


def print_open(run: dict[str, Any]) -> None:
    lat = run["latency_ms"]
    cpu = run["cpu_cores"]
    print(
        f"   open {run['offered_rate']:6.0f}/s -> {run['achieved_rate']:7.0f}/s  ms: {fmt_ms(lat, 'p50', 'p90', 'p99', 'max')}"
        f"  errors {sum(run['errors'].values())} not sent {run['not_sent']}"
        f"  relay {run.get('relay_publish_rate', 0):.0f}/s outbox peak {run.get('outbox_peak', 0)}"
        f" end {run.get('outbox_end', 0)} drain {run['drain_s']:.1f}s"
        f"  cores: api {cpu.get('snapshotd api', 0):.2f}{relay_cores(cpu)} pg {cpu.get('postgres', 0):.2f}"
        f" rmq {cpu.get('rabbitmq', 0):.2f} gen {cpu.get('load generator', 0):.2f}"
        f" others {cpu.get(OTHERS, 0):.2f}  cpu ms/req: api {run['cpu_ms_per_request'].get('api', 0):.2f}"
        f" service {run['cpu_ms_per_request'].get('service', 0):.2f}"
        f"  {'SUSTAINED' if run['sustained'] else 'not sustained'}",
        flush=True,
    )


def print_relay(relay: dict[str, Any]) -> None:
    cpu = relay["cpu_cores"]
    print(
        f"   relay alone: {relay['messages']} dispatches in {relay['seconds']:.1f} s = {relay['msgs_per_s']:.0f} msgs/s"
        f"  cores: api {cpu.get('snapshotd api', 0):.2f}{relay_cores(cpu)} pg {cpu.get('postgres', 0):.2f}"
        f" rmq {cpu.get('rabbitmq', 0):.2f} others {cpu.get(OTHERS, 0):.2f}"
        f"  relay CPU {relay['relay_cpu_us_per_msg']:.0f} µs/msg",
        flush=True,
    )


def print_report(results: dict[str, Any]) -> None:
    print("\n" + "=" * 100)
    print("snapshotd API throughput — summary")
    print(f"machine: {results['machine']}")
    print(f"background load before the run (other users): {results['background_busy_cores']:.2f} cores busy")
    print(
        "\n| suite | run | offered/s | achieved/s | p50 ms | p90 ms | p99 ms | max ms | errors | outbox end "
        "| api cores | pg cores | rmq cores | gen cores | others' cores | api CPU ms/req | service CPU ms/req |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for suite in results["suites"]:
        for run in suite["closed"] + suite["open"]:
            lat, cpu = run["latency_ms"], run["cpu_cores"]
            label = f"closed c={run['concurrency']}" if run["mode"] == "closed" else "open (fixed rate)"
            offered = f"{run['offered_rate']:.0f}" if run["offered_rate"] else "-"
            print(
                f"| {suite['label']} | {label} | {offered} | {run['achieved_rate']:.0f} | {lat.get('p50', 0):.1f} "
                f"| {lat.get('p90', 0):.1f} | {lat.get('p99', 0):.1f} | {lat.get('max', 0):.1f} "
                f"| {sum(run['errors'].values()) + run['not_sent']} | {run.get('outbox_end', '-')} "
                f"| {cpu.get('snapshotd api', 0):.2f}{relay_cores(cpu)} | {cpu.get('postgres', 0):.2f} "
                f"| {cpu.get('rabbitmq', 0):.2f} "
                f"| {cpu.get('load generator', 0):.2f} | {cpu.get(OTHERS, 0):.2f} "
                f"| {run['cpu_ms_per_request'].get('api', 0):.2f} | {run['cpu_ms_per_request'].get('service', 0):.2f} |"
            )
    for suite in results["suites"]:
        ok = [r for r in suite["open"] if r["sustained"]]
        best = max(ok, key=lambda r: r["offered_rate"]) if ok else None
        if best:
            print(
                f"\n{suite['label']}: highest sustained fixed rate {best['offered_rate']:.0f}/s, "
                f"p50 {best['latency_ms']['p50']:.1f} ms, p99 {best['latency_ms']['p99']:.1f} ms "
                f"(target ≥ {TARGET_RATE:.0f}/s with p99 ≤ {TARGET_P99_MS:.0f} ms: "
                f"{'met' if targets_met(suite) else 'MISSED'})"
            )
        else:
            print(f"\n{suite['label']}: no fixed-rate run was sustained (target MISSED)")
        print(
            f"   jobs accepted into the database: {suite.get('jobs_in_db')}, outbox rows left: {suite.get('outbox_after')}"
        )
        if "relay" in suite:
            relay = suite["relay"]
            print(
                f"   relay alone at saturation: {relay['msgs_per_s']:.0f} msgs/s"
                f" ({relay['relay_cpu_us_per_msg']:.0f} µs of the relay's CPU per message); outbox peak in the runs:"
                f" {max((r.get('outbox_peak', 0) for r in suite['closed'] + suite['open']), default=0)}"
            )
        proj = suite["projection"]
        print(
            f"   CPU per submission (best closed run): api {proj['api_cpu_ms']:.2f} ms, api+PostgreSQL+RabbitMQ"
            f" {proj['service_cpu_ms']:.2f} ms, generator {proj['generator_cpu_ms']:.2f} ms; CPU-only ceilings:"
            f" the API processes {proj['api_single_core_bound']:.0f}/s, all {os.cpu_count()} cores"
            f" {proj['machine_bound']:.0f}/s"
        )
    e2e = results.get("e2e")
    if e2e:
        print(f"\nend-to-end, {e2e['jobs']} one-image jobs at low load ({e2e['failed']} not Success):")
        print("| measure | median ms | p95 ms | max ms |")
        print("|---|---|---|---|")
        for key, label in (
            ("e2e_ms", "submit → SnapshotComplete event"),
            ("capture_ms", "capture (Stats.CaptureMs)"),
            ("overhead_ms", "overhead (e2e − capture)"),
            ("submit_ms", "  SubmitSnapshotJob response"),
            ("dispatch_ms", "  create → claimed by worker (relay, broker, claim)"),
            ("run_minus_capture_ms", "  claimed → finished, minus capture (pool hand-off, upload, finish)"),
            ("event_ms", "  finished → event received (worker relay, broker)"),
        ):
            stats = e2e[key]
            print(f"| {label} | {stats.get('p50', 0):.1f} | {stats.get('p95', 0):.1f} | {stats.get('max', 0):.1f} |")
        met = e2e["overhead_ms"].get("p50", float("inf")) <= TARGET_E2E_OVERHEAD_MS
        print(f"target: overhead ≤ {TARGET_E2E_OVERHEAD_MS:.0f} ms (median): {'met' if met else 'MISSED'}")
    for suite in results["suites"]:
        profile = suite.get("profile")
        if not profile or "skipped" in profile:
            continue
        print(
            f"\nprofile of the API (LOG_LEVEL={suite['log_level']}, closed loop c=32 at "
            f"{profile['rate_during_profile']:.0f}/s; {profile['samples']} samples, main thread busy "
            f"{100 * (profile['busy_fraction_of_main_thread'] or 0):.0f}% of the time):"
        )
        for title, key in (
            ("where the CPU goes (leaf frame's module)", "by_category_pct"),
            ("hottest functions, self time", "self_pct"),
            ("hottest paths, inclusive time", "inclusive_pct"),
            ("innermost service function on the stack", "innermost_service_frame_pct"),
        ):
            print(f"  {title}:")
            for name, pct in profile[key]:
                print(f"    {pct:5.1f}%  {name}")
        print(f"  collapsed stacks: {profile['collapsed_stacks']}")


def machine_notes() -> str:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as handle:
        model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    versions = []
    for module in (aiohttp, asyncpg, aio_pika):
        versions.append(f"{module.__name__} {getattr(module, '__version__', '?')}")
    return (
        f"{os.cpu_count()} cores ({model or platform.processor()}), Python {platform.python_version()}, "
        f"{', '.join(versions)}; PostgreSQL, RabbitMQ, the API, the load generator (and the worker for e2e) "
        "all on this machine"
    )


async def server_versions() -> str:
    parts = []
    with contextlib.suppress(Exception):
        pg = await asyncpg.connect(ADMIN_PG_URL, timeout=5)
        try:
            parts.append(f"PostgreSQL {await pg.fetchval('SHOW server_version')}")
            parts.append(f"synchronous_commit={await pg.fetchval('SHOW synchronous_commit')}")
        finally:
            await pg.close()
    with contextlib.suppress(Exception):
        async with await aio_pika.connect(AMQP_URL, timeout=5) as amqp:
            props = amqp.transport.connection.server_properties  # type: ignore[union-attr]
            version = props.get("version", "?")
            parts.append(f"RabbitMQ {version.decode() if isinstance(version, bytes) else version}")
    return ", ".join(parts)
