"""Fault-injection helpers: workers as real processes, and the local services stopped and started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


class WorkerProcess:
    """`snapshotd worker` in its own process group, so a kill takes its capture children with it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service", "worker"],
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

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
def spawn_worker(tmp_path: Path) -> Iterator[object]:
    workers: list[WorkerProcess] = []

    def spawn(env: dict[str, str]) -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        return worker

    yield spawn
    for worker in workers:
        if worker.process.poll() is None:
            worker.kill()
        worker.log.close()


def run_quietly(*command: str) -> None:
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def postgres_cluster() -> list[str] | None:
    """The `pg_ctlcluster` command for the local cluster, when this machine manages one."""
    versions = sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").exists() else []
    if not versions or not Path("/usr/bin/pg_ctlcluster").exists():
        return None
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].parent.name, "main"]
