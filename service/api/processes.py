"""`SNAPSHOTD_API_PROCESSES`: several API processes on one port, under a small supervisor.

One API process runs one event loop, so it uses one core however many the machine has. With
API_PROCESSES > 1, `snapshotd api` (and `up`, whose worker then runs beside the supervisor) starts that
many children, `snapshotd api --supervised`, each listening on the same address with SO_REUSEPORT: the
kernel shares new connections out among them. The supervisor

- restarts a child that a signal killed (SIGKILL, the OOM killer, a crash), with a back-off so a child
  dying at once does not spin; one that *exits* with an error (start-up gave up, a refused credential)
  would only fail again, so the supervisor stops the others and exits with that error, as a single
  process would;
- forwards SIGTERM/SIGINT to every child, waits for each to drain its in-flight requests and exit
  (SIGKILL after `DRAIN_LIMIT_S`), and exits 0 when they all did;
- gives its children what they must share: the URL-signing key (drawn once here when
  SNAPSHOTD_URL_SIGNING_KEY is empty, so a URL signed by one verifies in another), and one
  prometheus-client multiprocess directory (any child's `/metrics` adds up all of them). Nonces and
  everything else already live in PostgreSQL. Per-key rate limits (SNAPSHOTD_RATE_LIMIT_PER_S) stay
  per process.

Children run in their own session, so a terminal's Ctrl-C reaches the supervisor alone, which
stops them in order; a child whose supervisor vanished (SIGKILL) notices and stops itself
(`watch_supervisor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, MutableMapping

from service.config import PREFIX, Settings
from service.retry import Backoff

log = logging.getLogger(__name__)

#: the hidden `snapshotd api` option a child runs with
CHILD_FLAG = "--supervised"
#: prometheus-client's own variable: when set, every process writes its metrics to files there
MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: a child that ran this long was healthy: its next crash restarts at once again
HEALTHY_AFTER_S = 30.0
#: restart back-off: first delay and ceiling
RESTART_FIRST_S = 0.5
RESTART_MAX_S = 30.0
#: how long children get to drain on SIGTERM before SIGKILL (aiohttp waits up to 60 s for handlers)
DRAIN_LIMIT_S = 75.0
#: how often a child checks that its supervisor is still there
PARENT_POLL_S = 1.0


class ApiProcessFailed(RuntimeError):
    """An API child exited with an error: the supervisor stops, as one API process would."""


def child_environment(settings: Settings, environ: Mapping[str, str], metrics_dir: str) -> dict[str, str]:
    """What every child runs with: this environment, one process each, a signing key and metrics shared."""
    env = dict(environ)
    env[PREFIX + "API_PROCESSES"] = "1"
    env[MULTIPROC_DIR_ENV] = metrics_dir
    if not settings.http.url_signing_key:
        log.warning(
            "SNAPSHOTD_URL_SIGNING_KEY is empty: the %d API processes sign file URLs with a random key drawn "
            "at start-up; the URLs stop working when the API restarts, and other replicas cannot verify them",
            settings.http.process_count,
        )
        env[PREFIX + "URL_SIGNING_KEY"] = secrets.token_hex(32)
    return env


def prepare_metrics_dir(environ: MutableMapping[str, str]) -> str:
    """A fresh multiprocess directory, set in `environ`: call it before prometheus-client is imported (it
    reads the variable then). Always a new one: files left by an earlier run would add to this one's
    figures. `main` deletes it when the command ends (in `up`, the worker writes there until then)."""
    path = tempfile.mkdtemp(prefix="snapshotd-metrics-")
    environ[MULTIPROC_DIR_ENV] = path
    return path


class Supervisor:
    """Runs `count` API children until `stop` is set (or one fails), then drains them all."""

    def __init__(
        self, settings: Settings, count: int, stop: asyncio.Event, environ: Mapping[str, str], metrics_dir: str
    ) -> None:
        self.settings = settings
        self.count = count
        self.stop = stop
        self.metrics_dir = metrics_dir
        self.env = child_environment(settings, environ, metrics_dir)
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self.failure: ApiProcessFailed | None = None

    async def run(self) -> None:
        log.info(
            "API: %d processes on http://%s:%d/ (SO_REUSEPORT)",
            self.count,
            self.settings.http.host,
            self.settings.http.port,
        )
        forward = asyncio.create_task(self._forward_stop(), name="forward stop to API processes")
        try:
            await asyncio.gather(*(self._slot(n) for n in range(self.count)))
        finally:
            self.stop.set()
            await forward
        if self.failure is not None:
            raise self.failure
        log.info("API: every process stopped")

    async def _slot(self, slot: int) -> None:
        """Keep one child running: start it, wait for it, restart it if a signal killed it."""
        backoff = Backoff(RESTART_FIRST_S, RESTART_MAX_S)
        while not self.stop.is_set():
            child = await self._spawn(slot)
            started = time.monotonic()
            try:
                status = await child.wait()
            finally:
                del self.children[slot]
                self._forget(child.pid)
            if self.stop.is_set():
                return
            if status > 0:
                # It exited by itself with an error: start-up gave up, or a setting was refused. A restart
                # would fail the same way; stop everything and say why, as one API process would.
                self.failure = ApiProcessFailed(f"API process {slot} (pid {child.pid}) exited with status {status}")
                log.error("%s: stopping the others", self.failure)
                self.stop.set()
                return
            if time.monotonic() - started >= HEALTHY_AFTER_S:
                backoff.reset()
            delay = backoff.next_delay()
            why = f"was killed by {signal_name(-status)}" if status < 0 else "exited"
            log.warning("API process %d (pid %d) %s; restarting it in %.1f s", slot, child.pid, why, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), delay)

    async def _spawn(self, slot: int) -> asyncio.subprocess.Process:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "service",
            "api",
            CHILD_FLAG,
            env=self.env,
            # Own session (so process group): a terminal's Ctrl-C reaches the supervisor alone, which
            # stops the children in order. (uvloop has no `process_group`.)
            start_new_session=True,
        )
        self.children[slot] = child
        log.info("API process %d started (pid %d)", slot, child.pid)
        if self.stop.is_set():  # stopped while it was starting: the forwarder has already passed
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        return child

    async def _forward_stop(self) -> None:
        """On stop: SIGTERM to every child (each drains and exits), SIGKILL to one still there after the limit."""
        await self.stop.wait()
        children = list(self.children.values())
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        waits = [asyncio.ensure_future(child.wait()) for child in children]
        if not waits:
            return
        _, late = await asyncio.wait(waits, timeout=DRAIN_LIMIT_S)
        for child in children:
            if child.returncode is None:
                log.error("API process pid %d still running %.0f s after SIGTERM: killing it", child.pid, DRAIN_LIMIT_S)
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
        await asyncio.gather(*late, return_exceptions=True)

    def _forget(self, pid: int) -> None:
        """A dead child's live gauges leave the figures; its counters stay (they count what happened)."""
        from prometheus_client import multiprocess

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


async def watch_supervisor(stop: asyncio.Event) -> None:
    """In a child: set `stop` when the supervisor is gone (the child was re-parented), so no API process
    outlives it holding the port."""
    parent = os.getppid()
    while not stop.is_set():
        if os.getppid() != parent:
            log.warning("API supervisor (pid %d) is gone: stopping", parent)
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PARENT_POLL_S)
