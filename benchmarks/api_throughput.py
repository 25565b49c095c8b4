"""`python -m benchmarks.api_throughput`: signed SubmitSnapshotJob throughput and end-to-end job latency.

What it runs, all on this machine (PostgreSQL and RabbitMQ included, as the issue asks):

- a fresh database `snapshotd_bench_<random>` migrated with `snapshotd migrate`, RabbitMQ names with a
  random suffix, local storage in a temp dir, `SNAPSHOTD_ACCESS_KEYS=benchid:benchsecret` (auth on);
- `snapshotd api` as one subprocess (the service has no multi-process/SO_REUSEPORT mode, so one
  process is what ships), once with SNAPSHOTD_LOG_LEVEL=WARNING and once with INFO;
- a load generator in its own subprocess and event loop (aiohttp client, keep-alive) signing every
  request with ACS3-HMAC-SHA256 as the official SDK does (fresh nonce and x-acs-date each time):
  1. a closed-loop ramp at fixed concurrencies to find the highest sustained submission rate;
  2. open-model runs at a constant rate (the ramp's best, and the 1,000/s target when the best is lower):
     latency is measured from each request's *scheduled* time, so a stalled server is not hidden by
     coordinated omission;
  during every run the outbox backlog and the jobs queue depth are sampled (the outbox relay inside the
  API publishes what is accepted; no worker runs, jobs just queue), and CPU time is split by process;
- end-to-end latency at low load: `snapshotd worker` (2 capture processes) joins, one-image jobs are
  submitted one at a time and timed from submit to their `SnapshotComplete.Success` event; the capture
  time the job reports (GetSnapshotJob → Stats.capture_s) is subtracted to give the service overhead;
- if a target is missed, py-spy samples the API under load and the hottest paths are printed.

Everything it creates (database, exchanges, queues, temp dir) is removed at the end.
`python -m benchmarks.api_throughput --help` lists the knobs; `--json FILE` keeps the raw figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg
import orjson
from yarl import URL

# ---------------------------------------------------------------------------------------------- settings

KEY_ID, SECRET = "benchid", "benchsecret"
TEMPLATE_ID = "S00000002-000001"
INPUT_MEDIA = "oss://media/clip.mp4"
OUTPUT_MEDIA = "oss://thumbs/bench/{Count}.jpg"
API_VERSION = "2020-11-09"
USER_AGENT = "snapshotd-bench/1 (api_throughput)"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

#: the issue's targets
TARGET_RATE = 1000.0
TARGET_P99_MS = 50.0
TARGET_E2E_OVERHEAD_MS = 100.0

ADMIN_PG_URL = os.environ.get("SNAPSHOTD_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("SNAPSHOTD_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REPO = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: process names (/proc/PID/comm) of the co-located services, for the CPU split
RABBITMQ_COMMS = frozenset({"beam.smp", "erl_child_setup", "epmd", "inet_gethost"})
OTHERS = "others (not this benchmark)"


# ---------------------------------------------------------------------------------------------- signing


def rfc3986(value: str) -> str:
    return quote(value, safe="~")


def canonical_query(params: dict[str, str]) -> str:
    """Sorted, RFC 3986-encoded: sent as is, so the text on the wire is the text signed."""
    return "&".join(f"{rfc3986(k)}={rfc3986(v)}" for k, v in sorted(params.items()))


def submit_query(output: str = OUTPUT_MEDIA, *, input_media: str = INPUT_MEDIA, **overrides: Any) -> str:
    """SubmitSnapshotJob's parameters as the SDK sends them: nested objects as JSON strings in the query."""
    params: dict[str, Any] = {
        "Input": {"Type": "OSS", "Media": input_media},
        "Output": {"Type": "OSS", "Media": output},
        "TemplateConfig": {"TemplateId": TEMPLATE_ID, "OverwriteParams": overrides},
    }
    return canonical_query({k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in params.items()})


@dataclass(frozen=True)
class Signer:
    """ACS3-HMAC-SHA256 over every header the SDK's V3 path sends (host, user-agent, x-acs-*)."""

    host: str
    key_id: str = KEY_ID
    secret: str = SECRET

    def headers(self, action: str, query: str) -> dict[str, str]:
        headers = {
            "host": self.host,
            "user-agent": USER_AGENT,
            "x-acs-action": action,
            "x-acs-version": API_VERSION,
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "x-acs-signature-nonce": uuid.uuid4().hex,
            "x-acs-content-sha256": EMPTY_SHA256,
        }
        names = sorted(headers)
        canonical = "\n".join(
            [
                "POST",
                "/",
                query,
                "".join(f"{name}:{headers[name]}\n" for name in names),
                ";".join(names),
                EMPTY_SHA256,
            ]
        )
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        signature = hmac.new(self.secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"ACS3-HMAC-SHA256 Credential={self.key_id},SignedHeaders={';'.join(names)},Signature={signature}"
        )
        return headers


async def call(session: aiohttp.ClientSession, port: int, action: str, query: str) -> tuple[int, dict[str, Any]]:
    """One signed ICE call (POST /, empty body); returns (status, JSON body)."""
    host = f"127.0.0.1:{port}"
    url = URL(f"http://{host}/?{query}", encoded=True)
    async with session.post(url, headers=Signer(host).headers(action, query)) as response:
        return response.status, orjson.loads(await response.read())


# ---------------------------------------------------------------------------------------------- statistics


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (q in 0..100)."""
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary_ms(values_s: Sequence[float]) -> dict[str, float]:
    ordered = sorted(v * 1000 for v in values_s)
    if not ordered:
        return {}
    return {
        "p50": percentile(ordered, 50),
        "p90": percentile(ordered, 90),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


# ---------------------------------------------------------------------------------------------- load generator


@dataclass
class Recorder:
    """Latencies of successful calls and the errors, by kind."""

    latencies: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    #: calls started before this (loop) time are warm-up: not recorded
    since: float = 0.0

    async def submit(self, session: aiohttp.ClientSession, url: URL, signer: Signer, query: str, t0: float) -> None:
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
    url = URL(f"http://{host}/?{query}", encoded=True)
    connections = opts.concurrency if opts.mode == "closed" else opts.connections
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=opts.timeout)
    record = Recorder()
    generator_lag: list[float] = []
    not_sent = 0
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


# ---------------------------------------------------------------------------------------------- CPU accounting


def read_proc_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds (user+system, all threads) of every process: pid → (comm, seconds)."""
    out: dict[int, tuple[str, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        left, right = data.find(b"("), data.rfind(b")")
        rest = data[right + 2 :].split()
        out[int(entry.name)] = (
            data[left + 1 : right].decode(errors="replace"),
            (int(rest[11]) + int(rest[12])) / CLK_TCK,
        )
    return out


def cpu_delta(before: tuple[str, float] | None, seconds: float) -> float:
    """CPU used since `before` by the same pid (a pid new to the window, or reused, counts from zero).

    Matched by pid, not name: kernel workers rename themselves as they pick up work.
    """
    if before is None or before[1] > seconds:
        return seconds
    return seconds - before[1]


def read_machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


@dataclass
class CpuWindow:
    """CPU use by role between `start()` and `stop()`, in cores (CPU seconds per wall second)."""

    roles: dict[int, str]
    _procs: dict[int, tuple[str, float]] = field(default_factory=dict)
    _machine: tuple[float, float] = (0.0, 0.0)
    _t0: float = 0.0
    result: dict[str, float] = field(default_factory=dict)

    def start(self) -> None:
        self._procs, self._machine, self._t0 = read_proc_cpu(), read_machine_cpu(), time.monotonic()

    def stop(self) -> dict[str, float]:
        procs, machine, wall = read_proc_cpu(), read_machine_cpu(), time.monotonic() - self._t0
        used: defaultdict[str, float] = defaultdict(float)
        for pid, (comm, seconds) in procs.items():
            used[self.role(pid, comm)] += cpu_delta(self._procs.get(pid), seconds)
        self.result = {role: round(seconds / wall, 3) for role, seconds in sorted(used.items()) if seconds > 0}
        busy, total = machine[0] - self._machine[0], machine[1] - self._machine[1]
        self.result["machine_busy_cores"] = round((busy / total) * (os.cpu_count() or 1), 3) if total else 0.0
        return self.result

    def role(self, pid: int, comm: str) -> str:
        if pid in self.roles:
            return self.roles[pid]
        if comm == "postgres":
            return "postgres"
        if comm in RABBITMQ_COMMS:
            return "rabbitmq"
        return OTHERS


def busy_cores_except(ours: set[int], seconds: float = 2.0) -> float:
    """Cores used over `seconds` by processes other than `ours` and the co-located services."""
    before, t0 = read_proc_cpu(), time.monotonic()
    time.sleep(seconds)
    after, wall = read_proc_cpu(), time.monotonic() - t0
    window = CpuWindow({pid: "ours" for pid in ours})
    used = 0.0
    for pid, (comm, cpu_s) in after.items():
        if window.role(pid, comm) == OTHERS:
            used += cpu_delta(before.get(pid), cpu_s)
    return used / wall


async def wait_quiet(opts: argparse.Namespace, ours: set[int]) -> float:
    """Wait (up to --quiet-wait s) until other users' load is below --quiet-below cores; return that load."""
    deadline = time.monotonic() + opts.quiet_wait
    load = await asyncio.to_thread(busy_cores_except, ours | {os.getpid()})
    announced = False
    while load > opts.quiet_below and time.monotonic() < deadline:
        if not announced:
            print(f"   waiting for a quieter machine: others use {load:.2f} cores …", flush=True)
            announced = True
        await asyncio.sleep(3)
        load = await asyncio.to_thread(busy_cores_except, ours | {os.getpid()})
    if announced:
        print(f"   others now use {load:.2f} cores", flush=True)
    return load


# ---------------------------------------------------------------------------------------------- services


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(ADMIN_PG_URL)._replace(path=f"/{name}"))


def snapshotd_command(*args: str) -> list[str]:
    """`snapshotd …` from the running interpreter's environment (the console script, else `-m service`)."""
    script = Path(sys.executable).parent / "snapshotd"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "service", *args]


@dataclass
class Environment:
    """What one run owns: a database, broker names, a storage root; all removed by `cleanup`."""

    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="snapshotd-apibench-")))

    @property
    def db_name(self) -> str:
        return f"snapshotd_bench_{self.suffix}"

    @property
    def jobs_queue(self) -> str:
        return f"bench.jobs.{self.suffix}"

    @property
    def jobs_exchange(self) -> str:
        return f"bench.dispatch.{self.suffix}"

    @property
    def events_exchange(self) -> str:
        return f"bench.events.{self.suffix}"

    @property
    def storage(self) -> Path:
        return self.work / "storage"

    def env(self, *, port: int, log_level: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SNAPSHOTD_")}
        env.update(
            {
                "SNAPSHOTD_DATABASE_URL": database_url(self.db_name),
                "SNAPSHOTD_AMQP_URL": AMQP_URL,
                "SNAPSHOTD_AMQP_JOBS_QUEUE": self.jobs_queue,
                "SNAPSHOTD_AMQP_JOBS_EXCHANGE": self.jobs_exchange,
                "SNAPSHOTD_AMQP_EVENTS_EXCHANGE": self.events_exchange,
                "SNAPSHOTD_STORAGE_BACKEND": "local",
                "SNAPSHOTD_STORAGE_ROOT": str(self.storage),
                "SNAPSHOTD_SCRATCH_DIR": str(self.work / "scratch"),
                "SNAPSHOTD_HTTP_PORT": str(port),
                "SNAPSHOTD_ACCESS_KEYS": f"{KEY_ID}:{SECRET}",
                "SNAPSHOTD_LOG_LEVEL": log_level,
                "SNAPSHOTD_SHUTDOWN_GRACE_S": "5",
                **extra,
            }
        )
        return env

    async def create(self) -> None:
        (self.work / "scratch").mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        admin = await asyncpg.connect(ADMIN_PG_URL, timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{self.db_name}"')
        finally:
            await admin.close()
        proc = await asyncio.create_subprocess_exec(
            *snapshotd_command("migrate"),
            env=self.env(port=8080, log_level="WARNING"),
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"snapshotd migrate failed:\n{output.decode(errors='replace')}")

    async def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            admin = await asyncpg.connect(ADMIN_PG_URL, timeout=5)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            finally:
                await admin.close()
        with contextlib.suppress(Exception):
            async with await aio_pika.connect(AMQP_URL, timeout=5) as connection:
                channel = await connection.channel()
                for queue in (self.jobs_queue, f"{self.jobs_queue}.dead"):
                    await channel.queue_delete(queue)
                for exchange in (self.jobs_exchange, f"{self.jobs_exchange}.dlx", self.events_exchange):
                    await channel.exchange_delete(exchange)
        await asyncio.to_thread(shutil.rmtree, self.work, True)


@dataclass
class Service:
    """A `snapshotd api|worker` subprocess with its log in the run's temp dir."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path

    @classmethod
    async def start(cls, command: str, env: dict[str, str], log_path: Path) -> Service:
        log = log_path.open("ab")
        try:
            process = await asyncio.create_subprocess_exec(
                *snapshotd_command(command), env=env, cwd=REPO, stdout=log, stderr=log, start_new_session=True
            )
        finally:
            log.close()
        return cls(command, process, log_path)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    async def wait_ready(self, port: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"snapshotd {self.name} exited ({self.process.returncode}):\n{self.log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"snapshotd {self.name} not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


# ---------------------------------------------------------------------------------------------- monitoring


@dataclass
class Broker:
    """The orchestrator's own view of the outbox and the jobs queue (sampled once a second)."""

    env: Environment
    pg: asyncpg.Connection
    amqp: aio_pika.abc.AbstractConnection
    channel: aio_pika.abc.AbstractChannel

    @classmethod
    async def open(cls, env: Environment) -> Broker:
        pg = await asyncpg.connect(database_url(env.db_name), timeout=5)
        # not connect_robust: a robust channel hands back its cached queue, with a stale message count
        amqp = await aio_pika.connect(AMQP_URL, timeout=5)
        return cls(env, pg, amqp, await amqp.channel())

    async def close(self) -> None:
        await self.pg.close()
        await self.amqp.close()

    async def outbox(self) -> int:
        return int(await self.pg.fetchval("SELECT count(*) FROM outbox"))

    async def jobs(self) -> int:
        return int(await self.pg.fetchval("SELECT count(*) FROM jobs"))

    async def queue_depth(self) -> int:
        queue = await self.channel.declare_queue(self.env.jobs_queue, passive=True)
        return int(queue.declaration_result.message_count or 0)

    async def purge(self) -> None:
        queue = await self.channel.declare_queue(self.env.jobs_queue, passive=True)
        await queue.purge()

    async def drain(self, timeout_s: float = 180.0) -> float:
        """Wait for the relay to empty the outbox; return how long it took."""
        started = time.monotonic()
        for _ in range(int(timeout_s / 0.2)):
            if not await self.outbox():
                break
            await asyncio.sleep(0.2)
        return time.monotonic() - started

    async def sample(self, stop: asyncio.Event, into: list[tuple[float, int, int]]) -> None:
        while not stop.is_set():
            into.append((time.monotonic(), await self.outbox(), await self.queue_depth()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
        into.append((time.monotonic(), await self.outbox(), await self.queue_depth()))


# ---------------------------------------------------------------------------------------------- phases


async def run_load(
    port: int,
    broker: Broker,
    roles: dict[int, str],
    *,
    mode: str,
    duration: float,
    concurrency: int = 32,
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
        "benchmarks.api_throughput",
        "loadgen",
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


def cpu_per_request(cores: dict[str, float], rate: float) -> dict[str, float]:
    """CPU milliseconds each submission costs, per role: unlike rates, barely moved by other users' load."""
    if rate <= 0:
        return {}
    roles = {"api": "snapshotd api", "postgres": "postgres", "rabbitmq": "rabbitmq", "generator": "load generator"}
    out = {name: round(cores.get(role, 0.0) * 1000 / rate, 3) for name, role in roles.items()}
    out["service"] = round(out["api"] + out["postgres"] + out["rabbitmq"], 3)
    return out


def projection(suite: dict[str, Any]) -> dict[str, float]:
    """Upper bounds of the rate on an otherwise idle machine, from CPU per request of the best closed run.

    One process runs one event loop, so the API tops out at one core; the machine at all of its cores
    shared by API, PostgreSQL, RabbitMQ and the generator. Queueing makes the real figure lower.
    """
    best = max(suite["closed"], key=lambda r: r["achieved_rate"])
    per = best["cpu_ms_per_request"]
    cores = os.cpu_count() or 1
    api_bound = 1000 / per["api"] if per.get("api") else float("inf")
    machine_bound = cores * 1000 / (per["service"] + per["generator"]) if per.get("service") else float("inf")
    return {
        "api_cpu_ms": per["api"],
        "service_cpu_ms": per["service"],
        "generator_cpu_ms": per["generator"],
        "api_single_core_bound": api_bound,
        "machine_bound": machine_bound,
        "projected_max": min(api_bound, machine_bound),
    }


def sustained(run: dict[str, Any]) -> bool:
    """An open-model run was sustained: all offered requests answered in time, none failed."""
    return (
        run["achieved_rate"] >= 0.98 * run["offered_rate"]
        and not run["errors"]
        and not run["not_sent"]
        and run["latency_ms"].get("p99", float("inf")) < 1000
    )


async def throughput_suite(
    env: Environment, log_level: str, opts: argparse.Namespace, fixed_rates: list[float] | None
) -> dict[str, Any]:
    """One API process at `log_level`: warm-up, closed-loop ramp, open-model runs, optional profile."""
    port = free_port()
    api_env = env.env(port=port, log_level=log_level, **dict(kv.split("=", 1) for kv in opts.api_env))
    api = await Service.start("api", api_env, env.work / f"api-{log_level}.log")
    roles = {api.pid: "snapshotd api"}
    out: dict[str, Any] = {"log_level": log_level, "closed": [], "open": []}
    broker = await Broker.open(env)
    try:
        await api.wait_ready(port)
        print(f"\n== API, SNAPSHOTD_LOG_LEVEL={log_level} (pid {api.pid}, port {port})", flush=True)
        await run_load(port, broker, roles, mode="closed", duration=opts.warmup, concurrency=32, quiet=opts)
        await broker.drain()
        await broker.purge()
        for concurrency in opts.concurrency:
            run = await run_load(
                port, broker, roles, mode="closed", duration=opts.ramp_duration, concurrency=concurrency, quiet=opts
            )
            run["drain_s"] = await broker.drain()
            await broker.purge()
            out["closed"].append(run)
            print_closed(run)
        best = max(out["closed"], key=lambda r: r["achieved_rate"])
        out["ramp_best_rate"] = best["achieved_rate"]
        if fixed_rates is None:
            top = int(best["achieved_rate"] // 10 * 10)
            fixed_rates = sorted(
                {top, int(top * 0.8 // 10 * 10)} | ({int(TARGET_RATE)} if top < TARGET_RATE else set())
            )
        out["fixed_rates"] = fixed_rates
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
            print_open(run)
        out["jobs_in_db"] = await broker.jobs()
        out["outbox_after"] = await broker.outbox()
        if opts.profile_level == log_level and opts.profile != "never":
            out["needs_profile"] = True
            if opts.profile == "always" or not targets_met(out):
                out["profile"] = await profile_api(api.pid, port, broker, roles, opts, env)
                await broker.drain()
                await broker.purge()
    finally:
        await broker.close()
        await api.stop()
    return out


def targets_met(suite: dict[str, Any]) -> bool:
    """≥ 1,000/s sustained with p99 ≤ 50 ms in an open-model run."""
    return any(
        run["sustained"] and run["offered_rate"] >= TARGET_RATE and run["latency_ms"]["p99"] <= TARGET_P99_MS
        for run in suite["open"]
    )


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def profile_api(
    pid: int, port: int, broker: Broker, roles: dict[int, str], opts: argparse.Namespace, env: Environment
) -> dict[str, Any]:
    """py-spy samples the API while a closed-loop run (concurrency 32) keeps it busy."""
    py_spy = opts.py_spy or find_py_spy()
    if py_spy is None:
        print("   profile: py-spy not found (pip install py-spy, or --py-spy PATH); skipped", flush=True)
        return {"skipped": "py-spy not found"}
    collapsed = env.work / "profile.txt"
    seconds = int(opts.profile_seconds)
    rate = 200

    async def record() -> int:
        proc = await asyncio.create_subprocess_exec(
            py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate),
            "--nonblocking", "--format", "raw", "--nolineno", "-o", str(collapsed),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await proc.communicate()
        if proc.returncode != 0:
            print(f"   profile: py-spy failed: {err.decode(errors='replace').strip()[-300:]}", flush=True)
        return proc.returncode or 0

    print(f"   profile: py-spy record {seconds} s at {rate} Hz under closed-loop concurrency 32 …", flush=True)
    run = await run_load(
        port, broker, roles, mode="closed", duration=seconds + 2, concurrency=32, during=record, warmup=0.5, quiet=opts
    )
    if run.get("side") or not collapsed.exists():
        return {"skipped": "py-spy failed", "run": run}
    profile = summarize_profile(collapsed.read_text(), expected_samples=seconds * rate)
    profile["rate_during_profile"] = run["achieved_rate"]
    profile["collapsed_stacks"] = str(collapsed)
    if opts.profile_out:
        shutil.copy(collapsed, opts.profile_out)
        profile["collapsed_stacks"] = opts.profile_out
    return profile


#: leaf-frame file → where the time goes, first match wins
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("service/api/signing", "auth: signature check (service/api/signing.py)"),
    ("service/api/auth", "auth: middleware, nonce cache (service/api/auth.py)"),
    ("service/api/", "service API code (params, schemas, handlers, envelope)"),
    ("service/domain/", "service domain code (config merge/validation)"),
    ("service/store/", "service store code"),
    ("service/queue/", "outbox relay (service/queue)"),
    ("service/", "service, other"),
    ("asyncpg/", "asyncpg"),
    ("aio_pika/", "aio-pika/aiormq (relay publishing)"),
    ("aiormq/", "aio-pika/aiormq (relay publishing)"),
    ("pamqp/", "aio-pika/aiormq (relay publishing)"),
    ("aiohttp/", "aiohttp (HTTP server, request/response objects)"),
    ("multidict/", "aiohttp (HTTP server, request/response objects)"),
    ("yarl/", "aiohttp (HTTP server, request/response objects)"),
    ("prometheus_client/", "prometheus metrics"),
    ("logging/", "logging"),
    ("service/logs", "logging"),
    ("asyncio/", "asyncio event loop"),
    ("urllib/", "urllib.parse (query parsing/quoting)"),
    ("uuid", "uuid"),
    ("_strptime", "datetime.strptime"),
    ("datetime", "datetime.strptime"),
    ("json", "json"),
    ("hmac", "hashlib/hmac"),
    ("hashlib", "hashlib/hmac"),
)


def frame_file(frame: str) -> str:
    """`func (path/to/file.py)` → the path."""
    return frame[frame.rfind("(") + 1 : -1] if frame.endswith(")") else ""


def short_frame(frame: str) -> str:
    name, _, path = frame.partition(" (")
    path = path.rstrip(")")
    for marker in ("site-packages/", "/lib/python3.11/", str(REPO) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


#: leaf functions that are system calls in disguise: named by what they talk to
SYSCALL_LEAVES = {
    "_SelectorSocketTransport.write": "socket send",
    "_SelectorSocketTransport._read_ready__data_received": "socket recv",
    "_SelectorSocketTransport._read_ready__get_buffer": "socket recv",
    "EpollSelector.select": "epoll wait",
}
#: frames that wrap everything (event loop, entry point): left out of the inclusive table
WRAPPER_FILES = ("asyncio/base_events.py", "asyncio/runners.py", "asyncio/events.py", "runpy.py", "service/__main__.py")


def categorize(frames: list[str]) -> str:
    """A sample's category from its leaf frame; socket calls are named after the peer on the stack."""
    leaf = frames[-1]
    syscall = SYSCALL_LEAVES.get(leaf.partition(" (")[0])
    if syscall == "socket send":
        stack = ";".join(frames)
        peer = next(
            (name for needle, name in (("asyncpg", "PostgreSQL"), ("aiormq", "RabbitMQ"), ("aiohttp", "HTTP response"))
             if needle in stack),
            "?",
        )  # fmt: skip
        return f"socket send → {peer} (write syscall)"
    if syscall:
        return syscall
    path = frame_file(leaf)
    for needle, category in CATEGORIES:
        if needle in path:
            return category
    return "other Python/builtins"


def summarize_profile(text: str, *, expected_samples: int, top: int = 15) -> dict[str, Any]:
    """Self and inclusive time per function and per category from py-spy's collapsed stacks."""
    total = 0
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_service_frame: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f.endswith(")")]  # the first entry names the thread
        if not frames:
            continue
        total += count
        self_time[short_frame(frames[-1])] += count
        by_category[categorize(frames)] += count
        for frame in {short_frame(f) for f in frames if not frame_file(f).endswith(WRAPPER_FILES)}:
            if not frame.startswith("<module>"):
                inclusive[frame] += count
        # the innermost service function on the stack: which step of a request the time belongs to
        owner = next(
            (short_frame(f) for f in reversed(frames) if "service/" in frame_file(f) and "__main__" not in f), None
        )
        by_service_frame[owner or "no service frame (aiohttp/asyncio internals, relay I/O callbacks)"] += count

    def table(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)] if total else []

    return {
        "samples": total,
        "busy_fraction_of_main_thread": round(total / expected_samples, 3) if expected_samples else None,
        "by_category_pct": table(by_category),
        "self_pct": table(self_time),
        "inclusive_pct": table(inclusive),
        "innermost_service_frame_pct": table(by_service_frame),
    }


async def e2e_suite(env: Environment, opts: argparse.Namespace) -> dict[str, Any]:
    """One-image jobs, one at a time, timed from submit to their SnapshotComplete event."""
    from tests.media_factory import make_video

    clip = env.storage / "media" / "clip.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(make_video, clip, seconds=10)
    port = free_port()
    common = {"SNAPSHOTD_WORKER_PROCESSES": "2"}
    api = await Service.start("api", env.env(port=port, log_level="WARNING", **common), env.work / "e2e-api.log")
    worker = await Service.start(
        "worker", env.env(port=port, log_level="WARNING", **common), env.work / "e2e-worker.log"
    )
    broker = await Broker.open(env)
    events: dict[str, tuple[float, dict[str, Any]]] = {}
    waiting: dict[str, asyncio.Future[None]] = {}
    rows: list[dict[str, Any]] = []
    try:
        await api.wait_ready(port)
        # Events are only routed to queues bound before they are published: bind first.
        exchange = await broker.channel.declare_exchange(env.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await broker.channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="SnapshotComplete.*")

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            now = time.time()
            async with message.process():
                body = orjson.loads(message.body)
            job_id = body["MessageBody"]["JobId"]
            events[job_id] = (now, body)
            waiter = waiting.pop(job_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

        await queue.consume(on_event)
        await wait_worker_ready(broker, env)
        print(f"\n== end-to-end: {opts.e2e_jobs} one-image jobs, one at a time (worker with 2 processes)", flush=True)
        async with aiohttp.ClientSession() as session:
            for n in range(opts.e2e_warmup + opts.e2e_jobs):
                query = submit_query(f"oss://thumbs/bench/e2e-{n}/{{Count}}.jpg", Count=1)
                t0 = time.time()
                status, body = await call(session, port, "SubmitSnapshotJob", query)
                t_accepted = time.time()
                if status != 200:
                    raise RuntimeError(f"submit failed: {status} {body}")
                job_id = body["JobId"]
                if job_id not in events:
                    waiting[job_id] = asyncio.get_running_loop().create_future()
                    await asyncio.wait_for(waiting[job_id], 60)
                t_event, event = events[job_id]
                status, got = await call(session, port, "GetSnapshotJob", canonical_query({"JobId": job_id}))
                job = got["SnapshotJob"]
                if n >= opts.e2e_warmup:
                    rows.append(
                        {
                            "job_id": job_id,
                            "status": job["Status"],
                            "event_status": event["MessageBody"]["Status"],
                            "submit_s": t_accepted - t0,
                            "e2e_s": t_event - t0,
                            "capture_s": float(job.get("Stats", {}).get("capture_s", 0.0)),
                            "t0": t0,
                            "t_event": t_event,
                        }
                    )
                await asyncio.sleep(opts.e2e_gap)
        # Server-side timestamps (microseconds, same clock) split the overhead into its legs.
        timeline = await broker.pg.fetch(
            """SELECT job_id, extract(epoch FROM create_time) AS created, extract(epoch FROM start_time) AS started,
                      extract(epoch FROM finish_time) AS finished FROM jobs WHERE job_id = ANY($1::text[])""",
            [r["job_id"] for r in rows],
        )
        times = {t["job_id"]: t for t in timeline}
        for r in rows:
            t = times[r["job_id"]]
            r["dispatch_s"] = float(t["started"]) - float(t["created"])
            r["run_s"] = float(t["finished"]) - float(t["started"])
            r["event_s"] = r["t_event"] - float(t["finished"])
    finally:
        await broker.close()
        await worker.stop()
        await api.stop()
    failed = [r for r in rows if r["status"] != "Success"]
    return {
        "jobs": len(rows),
        "failed": len(failed),
        "e2e_ms": summary_ms([r["e2e_s"] for r in rows]),
        "capture_ms": summary_ms([r["capture_s"] for r in rows]),
        "overhead_ms": summary_ms([r["e2e_s"] - r["capture_s"] for r in rows]),
        "submit_ms": summary_ms([r["submit_s"] for r in rows]),
        "dispatch_ms": summary_ms([r["dispatch_s"] for r in rows]),
        "run_minus_capture_ms": summary_ms([r["run_s"] - r["capture_s"] for r in rows]),
        "event_ms": summary_ms([r["event_s"] for r in rows]),
        "rows": rows,
    }


async def wait_worker_ready(broker: Broker, env: Environment, timeout_s: float = 30.0) -> None:
    """The worker is consuming once the jobs queue reports a consumer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(aio_pika.exceptions.ChannelClosed):
            queue = await broker.channel.declare_queue(env.jobs_queue, passive=True)
            if queue.declaration_result.consumer_count:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("the worker did not start consuming in time")


# ---------------------------------------------------------------------------------------------- report


def fmt_ms(stats: dict[str, float], *keys: str) -> str:
    return " ".join(f"{k} {stats[k]:.1f}" for k in keys if k in stats)


def print_closed(run: dict[str, Any]) -> None:
    lat = run["latency_ms"]
    cpu = run["cpu_cores"]
    print(
        f"   closed c={run['concurrency']:<3d} {run['achieved_rate']:7.0f}/s  ms: {fmt_ms(lat, 'p50', 'p90', 'p99', 'max')}"
        f"  errors {sum(run['errors'].values())}  relay {run.get('relay_publish_rate', 0):.0f}/s"
        f" outbox peak {run.get('outbox_peak', 0)} drain {run['drain_s']:.1f}s"
        f"  cores: api {cpu.get('snapshotd api', 0):.2f} pg {cpu.get('postgres', 0):.2f}"
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
        f"  cores: api {cpu.get('snapshotd api', 0):.2f} pg {cpu.get('postgres', 0):.2f}"
        f" rmq {cpu.get('rabbitmq', 0):.2f} gen {cpu.get('load generator', 0):.2f}"
        f" others {cpu.get(OTHERS, 0):.2f}  cpu ms/req: api {run['cpu_ms_per_request'].get('api', 0):.2f}"
        f" service {run['cpu_ms_per_request'].get('service', 0):.2f}"
        f"  {'SUSTAINED' if run['sustained'] else 'not sustained'}",
        flush=True,
    )


def print_report(results: dict[str, Any]) -> None:
    print("\n" + "=" * 100)
    print("snapshotd API throughput — summary")
    print(f"machine: {results['machine']}")
    print(f"background load before the run (other users): {results['background_busy_cores']:.2f} cores busy")
    print(
        "\n| log level | run | offered/s | achieved/s | p50 ms | p90 ms | p99 ms | max ms | errors | outbox end "
        "| api cores | pg cores | rmq cores | gen cores | others' cores | api CPU ms/req | service CPU ms/req |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for suite in results["suites"]:
        for run in suite["closed"] + suite["open"]:
            lat, cpu = run["latency_ms"], run["cpu_cores"]
            label = f"closed c={run['concurrency']}" if run["mode"] == "closed" else "open (fixed rate)"
            offered = f"{run['offered_rate']:.0f}" if run["offered_rate"] else "-"
            print(
                f"| {suite['log_level']} | {label} | {offered} | {run['achieved_rate']:.0f} | {lat.get('p50', 0):.1f} "
                f"| {lat.get('p90', 0):.1f} | {lat.get('p99', 0):.1f} | {lat.get('max', 0):.1f} "
                f"| {sum(run['errors'].values()) + run['not_sent']} | {run.get('outbox_end', '-')} "
                f"| {cpu.get('snapshotd api', 0):.2f} | {cpu.get('postgres', 0):.2f} | {cpu.get('rabbitmq', 0):.2f} "
                f"| {cpu.get('load generator', 0):.2f} | {cpu.get(OTHERS, 0):.2f} "
                f"| {run['cpu_ms_per_request'].get('api', 0):.2f} | {run['cpu_ms_per_request'].get('service', 0):.2f} |"
            )
    for suite in results["suites"]:
        ok = [r for r in suite["open"] if r["sustained"]]
        best = max(ok, key=lambda r: r["offered_rate"]) if ok else None
        if best:
            print(
                f"\n{suite['log_level']}: highest sustained fixed rate {best['offered_rate']:.0f}/s, "
                f"p50 {best['latency_ms']['p50']:.1f} ms, p99 {best['latency_ms']['p99']:.1f} ms "
                f"(target ≥ {TARGET_RATE:.0f}/s with p99 ≤ {TARGET_P99_MS:.0f} ms: "
                f"{'met' if targets_met(suite) else 'MISSED'})"
            )
        else:
            print(f"\n{suite['log_level']}: no fixed-rate run was sustained (target MISSED)")
        print(
            f"   jobs accepted into the database: {suite.get('jobs_in_db')}, outbox rows left: {suite.get('outbox_after')}"
        )
        proj = suite["projection"] = projection(suite)
        print(
            f"   CPU per submission (best closed run): api {proj['api_cpu_ms']:.2f} ms, api+PostgreSQL+RabbitMQ"
            f" {proj['service_cpu_ms']:.2f} ms, generator {proj['generator_cpu_ms']:.2f} ms; CPU-only ceilings:"
            f" one API process {proj['api_single_core_bound']:.0f}/s, all {os.cpu_count()} cores"
            f" {proj['machine_bound']:.0f}/s"
        )
    e2e = results.get("e2e")
    if e2e:
        print(f"\nend-to-end, {e2e['jobs']} one-image jobs at low load ({e2e['failed']} not Success):")
        print("| measure | median ms | p95 ms | max ms |")
        print("|---|---|---|---|")
        for key, label in (
            ("e2e_ms", "submit → SnapshotComplete event"),
            ("capture_ms", "capture (Stats.capture_s)"),
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


# ---------------------------------------------------------------------------------------------- main


async def orchestrate(opts: argparse.Namespace) -> dict[str, Any]:
    busy = await asyncio.to_thread(busy_cores_except, {os.getpid()})
    results: dict[str, Any] = {
        "machine": machine_notes() + "; " + await server_versions(),
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
            admin = await asyncpg.connect(ADMIN_PG_URL, timeout=5)
            try:
                for name, _, value in (kv.partition("=") for kv in opts.db_setting):
                    await admin.execute(f'ALTER DATABASE "{env.db_name}" SET {name} = {value}')
            finally:
                await admin.close()
        fixed = opts.rates or None
        for level in opts.log_levels:
            suite = await throughput_suite(env, level, opts, fixed)
            results["suites"].append(suite)
            # the other log level runs the same fixed rates, so the two are comparable
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_throughput", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("loadgen", help="internal: the load generator process")
    gen.add_argument("--port", type=int, required=True)
    gen.add_argument("--mode", choices=("closed", "open"), required=True)
    gen.add_argument("--duration", type=float, required=True)
    gen.add_argument("--concurrency", type=int, default=32)
    gen.add_argument("--rate", type=float, default=0.0)
    gen.add_argument("--connections", type=int, default=128)
    gen.add_argument("--warmup", type=float, default=0.0)
    gen.add_argument("--timeout", type=float, default=10.0)
    gen.add_argument("--max-outstanding", type=int, default=20000)

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
        asyncio.run(loadgen(opts))
        return 0
    try:
        results = asyncio.run(cancellable(orchestrate(opts)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: cleaned up", file=sys.stderr)
        return 130
    print_report(results)
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=2, default=str))
        print(f"\nfigures written to {opts.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
