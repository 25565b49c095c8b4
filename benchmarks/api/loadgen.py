"""The load generator process: signed SubmitSnapshotJob calls in a closed loop or at a constant rate.

It runs in its own process and event loop (aiohttp client, keep-alive), so its CPU is counted apart from
the API's. The orchestrator reads its stdout: `START` and `STOP` mark the measured window, `RESULT {json}`
carries the figures. In the open model latency runs from each request's *scheduled* time, so a stalled
server is not hidden by coordinated omission. `python -m benchmarks.api.loadgen --help` lists its options.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
import orjson
from yarl import URL

from benchmarks.api.stats import percentile, summary_ms
from benchmarks.api.wire import Query, Signer, action_url, submit_query


@dataclass
class Recorder:
    """Latencies of successful calls and the errors, by kind."""

    latencies: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    #: calls started before this (loop) time are warm-up: not recorded
    since: float = 0.0

    async def submit(self, session: aiohttp.ClientSession, url: URL, signer: Signer, query: Query, t0: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with session.post(url, headers=signer.headers("SubmitSnapshotJob", query)) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if t0 >= self.since:
                self.errors[type(exc).__name__] += 1
            return
        now = loop.time()
        if t0 < self.since:
            return
        if status == 200 and b'"JobId"' in body:
            self.latencies.append(now - t0)
            self.done_at.append(now)
            return
        try:
            code = orjson.loads(body).get("Code", "?")
        except orjson.JSONDecodeError:
            code = "non-JSON"
        self.errors[f"{status} {code}"] += 1


def emit(tag: str, payload: object = None) -> None:
    """One line to the orchestrator: START/STOP mark the measured window, RESULT carries the figures."""
    sys.stdout.write(tag if payload is None else f"{tag} {json.dumps(payload)}")
    sys.stdout.write("\n")
    sys.stdout.flush()


async def loadgen(opts: argparse.Namespace) -> None:
    """The generator process: closed loop (fixed concurrency) or open model (constant rate)."""
    loop = asyncio.get_running_loop()
    host = f"127.0.0.1:{opts.port}"
    signer = Signer(host)
    query = submit_query()
    url = action_url(host, query)
    connections = opts.concurrency if opts.mode == "closed" else opts.connections
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=opts.timeout)
    record = Recorder()
    generator_lag: list[float] = []
    not_sent = 0
    # The generator's own garbage collections would count as the API's latency (a full one takes tens of
    # ms here): none run while it measures; what it leaves is collected when it is done.
    gc.collect()
    gc.freeze()
    gc.disable()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if opts.mode == "closed":
            warm_until = loop.time() + opts.warmup
            start = end = float("inf")

            async def user() -> None:
                while (t0 := loop.time()) < end:
                    await record.submit(session, url, signer, query, t0)

            users = [asyncio.create_task(user()) for _ in range(opts.concurrency)]
            await asyncio.sleep(max(0.0, warm_until - loop.time()))
            start = record.since = loop.time()
            end = start + opts.duration
            emit("START")
            cpu_start = time.process_time()
            await asyncio.sleep(opts.duration)
            emit("STOP")
            generator_cpu = time.process_time() - cpu_start
            await asyncio.gather(*users)
            window = opts.duration
            offered = None
        else:
            interval = 1.0 / opts.rate
            total = int(opts.rate * opts.duration)
            tasks: set[asyncio.Task[None]] = set()
            start = loop.time() + 0.05
            emit("START")
            cpu_start = time.process_time()
            i = 0
            while i < total:
                now = loop.time()
                due = start + i * interval
                if due > now:
                    await asyncio.sleep(due - now)
                    continue
                generator_lag.append(now - due)
                while i < total and start + i * interval <= now:
                    if len(tasks) >= opts.max_outstanding:
                        not_sent += 1
                    else:
                        task = asyncio.create_task(record.submit(session, url, signer, query, start + i * interval))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    i += 1
            emit("STOP")
            generator_cpu = time.process_time() - cpu_start
            if tasks:
                await asyncio.wait(set(tasks), timeout=opts.timeout + 5)
            window = max(opts.duration, (max(record.done_at) - start) if record.done_at else opts.duration)
            offered = opts.rate
    gc.enable()
    ok = len(record.latencies)
    in_window = sum(1 for t in record.done_at if t <= start + opts.duration)
    per_second = Counter(int(t - start) for t in record.done_at)
    emit(
        "RESULT",
        {
            "mode": opts.mode,
            "concurrency": opts.concurrency if opts.mode == "closed" else None,
            "connections": connections,
            "offered_rate": offered,
            "duration_s": opts.duration,
            "ok": ok,
            "errors": dict(record.errors),
            "not_sent": not_sent,
            "achieved_rate": ok / window,
            "completed_in_window_rate": in_window / opts.duration,
            "latency_ms": summary_ms(record.latencies),
            "per_second": [per_second.get(s, 0) for s in range(int(opts.duration))],
            "generator_cpu_s": generator_cpu,
            "generator_lag_ms_p99": percentile(sorted(x * 1000 for x in generator_lag), 99) if generator_lag else 0.0,
        },
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("closed", "open"), required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--warmup", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--max-outstanding", type=int, default=20000)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api.loadgen", description=__doc__.split("\n")[0])
    add_arguments(parser)
    asyncio.run(loadgen(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
