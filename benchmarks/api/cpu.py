"""CPU time by process from /proc, and waiting for a quiet machine.

Roles: the processes the benchmark starts (by pid), PostgreSQL and RabbitMQ (by name), and everything
else ("others": processes that are not part of the benchmark, which tell how clean a run was). CPU
milliseconds per submission are the figure least moved by a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")
#: process names (/proc/PID/comm) of the co-located services, for the CPU split
RABBITMQ_COMMS = frozenset({"beam.smp", "erl_child_setup", "epmd", "inet_gethost"})
OTHERS = "others (not this benchmark)"
#: `snapshotd relay` processes (--relay-processes): part of the service, not of the API's event loop
RELAY_ROLE = "snapshotd relay"


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


def cpu_per_request(cores: dict[str, float], rate: float) -> dict[str, float]:
    """CPU milliseconds each submission costs, per role: unlike rates, barely moved by other users' load."""
    if rate <= 0:
        return {}
    roles = {
        "api": "snapshotd api",
        "relay": RELAY_ROLE,
        "postgres": "postgres",
        "rabbitmq": "rabbitmq",
        "generator": "load generator",
    }
    out = {name: round(cores.get(role, 0.0) * 1000 / rate, 3) for name, role in roles.items()}
    out["service"] = round(out["api"] + out["relay"] + out["postgres"] + out["rabbitmq"], 3)
    return out
