"""Who the machine's own PostgreSQL and RabbitMQ are, to prove the fault tests left them alone.

A restart shows as a new PostgreSQL postmaster start time; for RabbitMQ, whose `stop_app` keeps the
Erlang VM (and its OS process) running, the listening socket on the AMQP port shows it too: the
broker closes it when it stops and opens a new one when it starts. The process listening on the
port, and when that process started, are read from /proc (Linux).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

#: /proc/net/tcp state of a listening socket
LISTEN = "0A"


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket and the process holding it (None if we may not see it)."""

    port: int
    inode: int
    pid: int | None
    #: the process's start time in clock ticks since boot (/proc/<pid>/stat field 22)
    process_started: int | None


@dataclass(frozen=True, slots=True)
class HostServices:
    postgres_started: datetime.datetime | None
    rabbitmq: Listener | None


def _listening_sockets() -> dict[int, int]:
    """inode -> port of every listening TCP socket."""
    sockets: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == LISTEN:
                    sockets[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return sockets


def _listening_inodes(port: int) -> set[int]:
    return {inode for inode, listening in _listening_sockets().items() if listening == port}


def listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on."""
    sockets = _listening_sockets()
    ports: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:[") and (inode := int(link[8:-1])) in sockets:
                    ports.add(sockets[inode])
    return ports


def _socket_owner(inode: int) -> int | None:
    target = f"socket:[{inode}]"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == target:
                        return int(proc.name)
    return None


def _process_started(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    return int(stat.rpartition(")")[2].split()[19])


def listener(port: int) -> Listener | None:
    """The local listener on `port` (the lowest inode when IPv4 and IPv6 both listen), or None."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    inode = min(inodes)
    pid = _socket_owner(inode)
    return Listener(port, inode, pid, _process_started(pid) if pid is not None else None)


async def postgres_started(url: str) -> datetime.datetime | None:
    try:
        connection = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        started: datetime.datetime = await connection.fetchval("SELECT pg_postmaster_start_time()")
        return started
    finally:
        await connection.close()


async def snapshot(pg_url: str, amqp_url: str) -> HostServices:
    amqp = urlsplit(amqp_url)
    local = amqp.hostname in ("127.0.0.1", "localhost", "::1")
    return HostServices(await postgres_started(pg_url), listener(amqp.port or 5672) if local else None)
