"""What one benchmark run owns (a database, broker names, a storage root) and the `snapshotd` processes.

Everything `Environment` creates is removed by its `cleanup`, also after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
import asyncpg

from benchmarks.api.wire import KEY_ID, SECRET

ADMIN_PG_URL = os.environ.get("SNAPSHOTD_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("SNAPSHOTD_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
#: the checkout: the working directory of every process the benchmark starts
REPO = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (its children, theirs, …), from /proc: the API processes a supervisor runs."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                data = handle.read()
            parents[int(entry.name)] = int(data[data.rfind(b")") + 2 :].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


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

    async def set_database(self, settings: list[str]) -> None:
        """`NAME=VALUE` PostgreSQL settings on the bench database only (diagnosis knobs)."""
        admin = await asyncpg.connect(ADMIN_PG_URL, timeout=5)
        try:
            for name, _, value in (kv.partition("=") for kv in settings):
                await admin.execute(f'ALTER DATABASE "{self.db_name}" SET {name} = {value}')
        finally:
            await admin.close()

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
