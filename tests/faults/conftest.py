"""Fault-injection fixtures: PostgreSQL and RabbitMQ servers of the suite's own, services as real
processes, and the machine's own servers left alone.

Every test here gets its databases and queues on the private servers (the `pg_server_url`,
`amqp_server_url` and `template_database` overrides), so stopping, restarting or cutting them
disturbs nobody. Each server starts once per session and is removed at the end, failures included.
`test_host_services_are_untouched` runs last and compares the machine's servers with what they were
before the first test here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import AMQP_URL, PG_URL, migrated_template
from tests.faults.host_services import HostServices, snapshot
from tests.faults.servers import PrivatePostgres, PrivateRabbitMQ, ServerMissing

#: runs after every other test of the session, so "after" means after the fault suite
HOST_CHECK = "test_host_services_are_untouched"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.name == HOST_CHECK)  # stable: only the check moves


@pytest.fixture(scope="session", autouse=True)
def host_services_before() -> HostServices:
    """The machine's own PostgreSQL and RabbitMQ, before the first fault test."""
    return asyncio.run(snapshot(PG_URL, AMQP_URL))


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    try:
        server = PrivatePostgres()
    except ServerMissing as exc:
        pytest.skip(f"fault tests need a private PostgreSQL: {exc}")
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def private_rabbitmq() -> Iterator[PrivateRabbitMQ]:
    try:
        server = PrivateRabbitMQ()
    except ServerMissing as exc:
        pytest.skip(f"fault tests need a private RabbitMQ: {exc}")
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def pg_server_url(private_postgres: PrivatePostgres) -> str:
    return private_postgres.url


@pytest.fixture(scope="session")
def amqp_server_url(private_rabbitmq: PrivateRabbitMQ) -> str:
    return private_rabbitmq.url


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    """The root fixture again, so that its session-wide copy is made on the private server."""
    yield from migrated_template(pg_server_url)


class ServiceProcess:
    """`snapshotd <command>` in its own process group, so a kill takes its capture children with it."""

    def __init__(self, command: str, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", command],
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """What an OOM kill or a node loss does: no drain, no goodbye."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout_s: float = 60) -> int:
        """What Kubernetes does on a rollout: SIGTERM, then wait for the drain."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.log.close()


@pytest.fixture
def spawn_service(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], ServiceProcess]]:
    processes: list[ServiceProcess] = []

    def spawn(command: str, env: dict[str, str]) -> ServiceProcess:
        process = ServiceProcess(command, env, tmp_path / f"{command}-{len(processes)}.log")
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.running:
            process.kill()
        process.log.close()


@pytest.fixture
def spawn_worker(
    spawn_service: Callable[[str, dict[str, str]], ServiceProcess],
) -> Callable[[dict[str, str]], ServiceProcess]:
    return lambda env: spawn_service("worker", env)
