"""Start-up without the broker or the database: every command waits and retries instead of exiting.

The services run as real processes (`snapshotd api`, `worker`, `migrate`) and reach PostgreSQL and
RabbitMQ through TCP proxies (tests/tcp_proxy.py) that start cut and are restored later, like a
dependency that restarts, or comes up after the service, under Kubernetes or compose.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from service.worker.heartbeat import is_alive
from tests.faults.conftest import ServiceProcess
from tests.ice import call, submit_params
from tests.tcp_proxy import proxy_to

pytestmark = [pytest.mark.slow, pytest.mark.pg, pytest.mark.amqp, pytest.mark.timeout(180)]

Spawn = Callable[[str, dict[str, str]], ServiceProcess]

#: how long both dependencies stay away after the processes start
OUTAGE_S = 10
JOBS = 5


def put_clip(env: dict[str, str], clip: Path) -> None:
    target = Path(env["SNAPSHOTD_STORAGE_ROOT"]) / "media" / "clip.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, target)


async def until_listening(http: aiohttp.ClientSession, *processes: ServiceProcess) -> None:
    async with asyncio.timeout(30):
        while True:
            assert all(process.running for process in processes), [p.output()[-2000:] for p in processes]
            try:
                async with http.get("/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)


async def readiness(http: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
    async with http.get("/readyz") as response:
        return response.status, await response.json()


async def wait_final(http: aiohttp.ClientSession, job_id: str, timeout_s: float = 90) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            status, body = await call(http, "GetSnapshotJob", JobId=job_id)
            assert status == 200, body
            if body["SnapshotJob"]["Status"] in ("Success", "Fail"):
                return dict(body["SnapshotJob"])
            await asyncio.sleep(0.1)


async def test_api_and_worker_started_without_database_and_broker_run_every_job(
    base_env: dict[str, str], clip: Path, spawn_service: Spawn, tmp_path: Path
) -> None:
    put_clip(base_env, clip)
    params = submit_params(media="oss://media/clip.mp4", Count=2, Interval=2)
    heartbeat = tmp_path / "worker.heartbeat"
    async with (
        proxy_to(base_env["SNAPSHOTD_DATABASE_URL"], cut="reset") as database,
        proxy_to(base_env["SNAPSHOTD_AMQP_URL"], cut="reset") as broker,
    ):
        env = {
            **base_env,
            "SNAPSHOTD_DATABASE_URL": database.url(base_env["SNAPSHOTD_DATABASE_URL"]),
            "SNAPSHOTD_AMQP_URL": broker.url(base_env["SNAPSHOTD_AMQP_URL"]),
            "SNAPSHOTD_WORKER_PROCESSES": "1",
            "SNAPSHOTD_HEARTBEAT_FILE": str(heartbeat),
            "SNAPSHOTD_HEARTBEAT_S": "1",
        }
        api, worker = spawn_service("api", env), spawn_service("worker", env)
        base_url = f"http://127.0.0.1:{env['SNAPSHOTD_HTTP_PORT']}"
        async with aiohttp.ClientSession(base_url=base_url) as http:
            started = time.monotonic()
            await until_listening(http, api, worker)
            # Both away: the API is alive, not ready, and refuses work cleanly; nobody exits.
            refused = 0
            while time.monotonic() - started < OUTAGE_S:
                status, checks = await readiness(http)
                assert (status, checks["postgres"], checks["rabbitmq"]) == (503, "down: not connected yet", "down")
                status, body = await call(http, "SubmitSnapshotJob", **params)
                assert (status, body["Code"]) == (503, "ServiceUnavailable"), body
                refused += 1
                assert api.running and worker.running
                await asyncio.sleep(0.5)
            # Waiting is healthy: the liveness probe passes, so Kubernetes does not restart the worker.
            assert is_alive(str(heartbeat), every_s=1)

            # PostgreSQL back, the broker still away: jobs are accepted (into the outbox).
            database.restore()
            accepted: list[str] = []
            async with asyncio.timeout(30):
                while len(accepted) < JOBS:
                    status, body = await call(http, "SubmitSnapshotJob", **params)
                    if status == 200:
                        accepted.append(body["JobId"])
                    else:
                        assert (status, body["Code"]) == (503, "ServiceUnavailable"), body
                        await asyncio.sleep(0.2)
            status, checks = await readiness(http)
            assert (status, checks["postgres"], checks["rabbitmq"]) == (503, "ok", "down")
            async with asyncio.timeout(30):
                while "waiting for RabbitMQ" not in worker.output():  # the worker is on to the broker
                    await asyncio.sleep(0.2)
            assert api.running and worker.running

            broker.restore()
            jobs = [await wait_final(http, job_id) for job_id in accepted]
            async with asyncio.timeout(30):  # the API's own relay reconnects at its next attempt
                while (status := (await readiness(http))[0]) != 200:
                    await asyncio.sleep(0.2)
            checks = (await readiness(http))[1]
            assert api.running and worker.running

        worker_exit = await asyncio.to_thread(worker.terminate)
        api_exit = await asyncio.to_thread(api.terminate)

    assert [job["Status"] for job in jobs] == ["Success"] * JOBS
    assert (status, checks) == (200, {"status": "ok", "postgres": "ok", "rabbitmq": "ok"})
    assert refused >= 5  # the API answered throughout
    assert (worker_exit, api_exit) == (0, 0)
    # A log line per attempt, for each dependency in turn.
    worker_log, api_log = worker.output(), api.output()
    assert worker_log.count("waiting for PostgreSQL") >= 3, worker_log[-3000:]
    assert "(attempt 2)" in worker_log
    assert api_log.count("waiting for PostgreSQL") >= 3, api_log[-3000:]
    assert api_log.count("relay cannot reach RabbitMQ") >= 3, api_log[-3000:]


@pytest.mark.parametrize(
    ("command", "away"),
    [
        ("api", "database"),
        ("api", "broker"),
        ("worker", "database"),
        ("worker", "broker"),
        ("up", "database"),
        ("migrate", "database"),
    ],
)
async def test_the_startup_timeout_makes_a_command_give_up_clearly(
    base_env: dict[str, str], spawn_service: Spawn, command: str, away: str
) -> None:
    variable = "SNAPSHOTD_DATABASE_URL" if away == "database" else "SNAPSHOTD_AMQP_URL"
    # A black hole, the hardest case: connection attempts neither succeed nor fail.
    async with proxy_to(base_env[variable], cut="hang") as proxy:
        env = {**base_env, variable: proxy.url(base_env[variable]), "SNAPSHOTD_STARTUP_TIMEOUT_S": "1.5"}
        started = time.monotonic()
        process = spawn_service(command, env)
        exit_code = await asyncio.to_thread(process.process.wait, 30)
        elapsed = time.monotonic() - started

    output = process.output()
    assert exit_code == 1, output[-3000:]
    assert 1.5 <= elapsed < 12
    assert "still not reachable after 1.5 s (SNAPSHOTD_STARTUP_TIMEOUT_S)" in output, output[-3000:]
    assert ("PostgreSQL" if away == "database" else "RabbitMQ") in output.rsplit("still not reachable", 1)[0][-300:]


async def test_migrate_waits_for_postgres_then_applies_everything(
    base_env: dict[str, str], empty_database_url: str, spawn_service: Spawn
) -> None:
    async with proxy_to(empty_database_url, cut="reset") as database:
        migrate = spawn_service("migrate", {**base_env, "SNAPSHOTD_DATABASE_URL": database.url(empty_database_url)})
        await asyncio.sleep(3)
        assert migrate.running
        database.restore()
        exit_code = await asyncio.to_thread(migrate.process.wait, 30)

    connection = await asyncpg.connect(empty_database_url)
    try:
        applied = await connection.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await connection.close()
    assert exit_code == 0, migrate.output()[-3000:]
    assert applied == len(list(Path("migrations").glob("*.sql")))
    assert migrate.output().count("waiting for PostgreSQL") >= 2


@pytest.mark.parametrize("command", ["api", "worker", "up", "migrate"])
async def test_sigterm_while_waiting_exits_cleanly_at_once(
    base_env: dict[str, str], spawn_service: Spawn, command: str
) -> None:
    async with proxy_to(base_env["SNAPSHOTD_DATABASE_URL"], cut="hang") as database:
        env = {**base_env, "SNAPSHOTD_DATABASE_URL": database.url(base_env["SNAPSHOTD_DATABASE_URL"])}
        process = spawn_service(command, env)
        async with asyncio.timeout(20):
            while database.accepted == 0:  # it is in an attempt that will not answer
                await asyncio.sleep(0.05)
        started = time.monotonic()
        exit_code = await asyncio.to_thread(process.terminate, 20)
        elapsed = time.monotonic() - started

    assert exit_code == 0, process.output()[-3000:]
    assert elapsed < 5
