"""SNAPSHOTD_API_PROCESSES=2: two API processes behind one port, as real processes under their supervisor.

Each new connection lands on one of the children (SO_REUSEPORT); `/healthz` says which (`pid`), and a
keep-alive session stays on the process its connection reached, so a test can ask one process and then
another. Killing a child, stopping the supervisor mid-request, and a file URL signed by one child and
served by the other are checked from outside, as a client sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.faults.conftest import ServiceProcess
from tests.ice import call, submit_params

pytestmark = [pytest.mark.slow, pytest.mark.pg, pytest.mark.amqp, pytest.mark.timeout(150)]

Spawn = Callable[[str, dict[str, str]], ServiceProcess]


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        data = handle.read()
    return int(data[data.rfind(b")") + 2 :].split()[1])


def session(base_url: str) -> aiohttp.ClientSession:
    """One keep-alive connection: every request of the session reaches the same API process."""
    return aiohttp.ClientSession(base_url=base_url, connector=aiohttp.TCPConnector(limit=1))


async def pid_of(http: aiohttp.ClientSession) -> int:
    async with http.get("/healthz") as response:
        assert response.status == 200
        return int((await response.json())["pid"])


async def new_connection_pid(base_url: str) -> int:
    async with session(base_url) as http:
        return await pid_of(http)


async def until_answering(base_url: str, supervisor: ServiceProcess, want: Callable[[set[int]], bool]) -> set[int]:
    """The pids answering new connections, once `want` holds for the ones seen in the last 40 tries."""
    async with asyncio.timeout(60):
        while True:
            assert supervisor.running, supervisor.output()[-3000:]
            seen: set[int] = set()
            for _ in range(40):
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    seen.add(await new_connection_pid(base_url))
                if want(seen):
                    return seen
            await asyncio.sleep(0.2)


async def session_on(base_url: str, pid: int | None = None, *, not_pid: int | None = None) -> aiohttp.ClientSession:
    """A session whose connection reached process `pid` (or any but `not_pid`)."""
    for _ in range(200):
        http = session(base_url)
        got = await pid_of(http)
        if (pid is None or got == pid) and got != not_pid:
            return http
        await http.close()
    raise AssertionError(f"no connection reached the process wanted ({pid=}, {not_pid=})")


@pytest.fixture
async def two_apis(base_env: dict[str, str], spawn_service: Spawn) -> AsyncIterator[tuple[ServiceProcess, str]]:
    supervisor = spawn_service("api", {**base_env, "SNAPSHOTD_API_PROCESSES": "2"})
    base_url = f"http://127.0.0.1:{base_env['SNAPSHOTD_HTTP_PORT']}"
    await until_answering(base_url, supervisor, lambda seen: len(seen) == 2)
    yield supervisor, base_url


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_two_processes_answer_one_port_and_each_one_metrics_count_both(
    two_apis: tuple[ServiceProcess, str],
) -> None:
    supervisor, base_url = two_apis
    pids = await until_answering(base_url, supervisor, lambda seen: len(seen) == 2)
    assert {parent_of(pid) for pid in pids} == {supervisor.pid}

    # Submissions until both processes have taken some; then one scrape, on either, counts them all.
    submitted: dict[int, int] = dict.fromkeys(pids, 0)
    async with asyncio.timeout(60):
        while min(submitted.values()) < 2:
            async with session(base_url) as http:
                pid = await pid_of(http)
                status, body = await call(http, "SubmitSnapshotJob", **submit_params())
                assert status == 200, body
                submitted[pid] += 1
    for pid in pids:
        async with await session_on(base_url, pid) as http, http.get("/metrics") as response:
            scraped = samples(await response.text())
        key = ("snapshotd_requests_total", (("action", "SubmitSnapshotJob"), ("status", "200")))
        assert scraped[key] == sum(submitted.values()), (pid, submitted)


async def test_a_killed_process_is_replaced_while_the_port_keeps_answering(
    two_apis: tuple[ServiceProcess, str],
) -> None:
    supervisor, base_url = two_apis
    victim, survivor = sorted(await until_answering(base_url, supervisor, lambda seen: len(seen) == 2))

    os.kill(victim, signal.SIGKILL)
    # Every new connection is answered meanwhile: the kernel sends them all to the live socket.
    answered: set[int] = set()
    until = time.monotonic() + 2
    while time.monotonic() < until:
        answered.add(await new_connection_pid(base_url))
    assert victim not in answered and survivor in answered

    pids = await until_answering(base_url, supervisor, lambda seen: len(seen - {victim, survivor}) == 1)
    (replacement,) = pids - {victim, survivor}
    assert parent_of(replacement) == supervisor.pid
    assert "was killed by SIGKILL; restarting it" in supervisor.output()


async def database_url_fetch(url: str, query: str) -> Any:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def test_sigterm_lets_an_in_flight_request_finish_then_exits_0(
    two_apis: tuple[ServiceProcess, str], base_env: dict[str, str]
) -> None:
    """A submission held inside its handler (its INSERT waits on a table lock the test holds) when the
    supervisor gets SIGTERM still gets its answer, and the supervisor then exits 0.

    (A request whose *body* is still arriving is another matter: aiohttp stops reading from every
    connection when it shuts down, so such a request ends at aiohttp's shutdown timeout instead.)"""
    supervisor, base_url = two_apis
    database = await asyncpg.connect(base_env["SNAPSHOTD_DATABASE_URL"])
    try:
        lock = database.transaction()
        await lock.start()
        await database.execute("LOCK TABLE jobs IN SHARE MODE")  # INSERTs wait for it

        async def submit() -> tuple[int, dict[str, Any]]:
            async with session(base_url) as http:
                return await call(http, "SubmitSnapshotJob", **submit_params())

        request = asyncio.create_task(submit())
        async with asyncio.timeout(20):
            # Asked outside the lock's transaction: inside it, the activity view is a snapshot.
            while not await database_url_fetch(
                base_env["SNAPSHOTD_DATABASE_URL"],
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO jobs%'",
            ):
                await asyncio.sleep(0.05)
        supervisor.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.5)
        assert supervisor.running and not request.done()  # held by the request in flight
        await lock.commit()
        status, body = await asyncio.wait_for(request, 30)

        assert status == 200, body
        assert await asyncio.to_thread(supervisor.process.wait, 60) == 0, supervisor.output()[-3000:]
        assert await database.fetchval("SELECT count(*) FROM jobs WHERE job_id = $1", body["JobId"]) == 1
    finally:
        await database.close()
    assert "every process stopped" in supervisor.output()


async def test_a_file_url_signed_by_one_process_is_served_by_the_other(
    two_apis: tuple[ServiceProcess, str], base_env: dict[str, str], spawn_service: Spawn, clip: Path
) -> None:
    _, base_url = two_apis
    media = Path(base_env["SNAPSHOTD_STORAGE_ROOT"]) / "media" / "clip.mp4"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(clip.read_bytes())
    spawn_service("worker", {**base_env, "SNAPSHOTD_WORKER_PROCESSES": "1"})

    async with session(base_url) as http:
        status, body = await call(http, "SubmitSnapshotJob", **submit_params(Count=1))
        assert status == 200, body
        job_id = body["JobId"]
        async with asyncio.timeout(90):
            while (await call(http, "GetSnapshotJob", JobId=job_id))[1]["SnapshotJob"]["Status"] != "Success":
                await asyncio.sleep(0.2)

    async with await session_on(base_url) as signer_side:
        signer = await pid_of(signer_side)
        status, urls = await call(signer_side, "GetSnapshotUrls", JobId=job_id)
        assert status == 200, urls
    (url,) = urls["SnapshotUrls"]
    parts = urlsplit(url)
    path = f"{parts.path}?{parts.query}"

    async with await session_on(base_url, not_pid=signer) as verifier_side:
        assert await pid_of(verifier_side) != signer
        async with verifier_side.get(path) as response:
            assert response.status == 200, await response.text()
            assert (await response.read())[:2] == b"\xff\xd8"  # a JPEG
        async with verifier_side.get(path.replace("Signature=", "Signature=0")) as response:
            assert response.status == 403  # and it does check signatures


async def test_a_process_that_cannot_start_stops_the_supervisor_with_its_error(
    base_env: dict[str, str], spawn_service: Spawn
) -> None:
    """A child that exits by itself with an error (here PostgreSQL refuses the database) would fail the
    same way again: the supervisor stops the other one and exits 1, as a single API process would."""
    missing = urlsplit(base_env["SNAPSHOTD_DATABASE_URL"])._replace(path="/no_such_database").geturl()
    supervisor = spawn_service("api", {**base_env, "SNAPSHOTD_API_PROCESSES": "2", "SNAPSHOTD_DATABASE_URL": missing})

    assert await asyncio.to_thread(supervisor.process.wait, 60) == 1
    output = supervisor.output()
    assert "exited with status 1: stopping the others" in output, output[-3000:]
    assert "restarting" not in output


async def test_up_runs_its_worker_beside_the_api_processes_and_serves_its_metrics(
    base_env: dict[str, str], spawn_service: Spawn
) -> None:
    env = {**base_env, "SNAPSHOTD_API_PROCESSES": "2", "SNAPSHOTD_WORKER_PROCESSES": "1"}
    up = spawn_service("up", env)
    base_url = f"http://127.0.0.1:{base_env['SNAPSHOTD_HTTP_PORT']}"
    pids = await until_answering(base_url, up, lambda seen: len(seen) == 2)
    assert up.pid not in pids and {parent_of(pid) for pid in pids} == {up.pid}

    async with asyncio.timeout(30):
        while True:  # the worker (in the supervisor's process) reports its pool once it has started it
            async with session(base_url) as http, http.get("/metrics") as response:
                scraped = samples(await response.text())
            if scraped.get(("snapshotd_pool_size", ())) == 1:
                break
            await asyncio.sleep(0.2)

    up.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(up.process.wait, 60) == 0, up.output()[-3000:]
