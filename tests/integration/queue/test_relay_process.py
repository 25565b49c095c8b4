"""SNAPSHOTD_API_RELAY=none: the API publishes nothing itself; a relay elsewhere, woken by its NOTIFY,
does. The relay's own poll is set to a minute here, so a job dispatched within seconds was woken for."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

import service.queue.relay as relay_module
from service.api.app import create_app
from service.config import Settings
from service.queue.relay import OutboxRelay
from service.queue.wakeup import OutboxNotifier, listen
from service.store.jobs import JobStore
from service.store.outbox import backlog
from service.store.pool import create_pool
from tests.conftest import free_port
from tests.ice import call, submit_params
from tests.integration.queue.test_outbox_relay import queued_job_ids
from tests.integration.store.test_job_store import new_job

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

LISTENERS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'"


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database)
    yield pool
    await pool.close()


async def dispatched(settings: Settings, job_ids: set[str], within_s: float) -> set[str]:
    """The jobs of `job_ids` whose dispatch reached the jobs queue within `within_s`."""
    seen: set[str] = set()
    async with asyncio.timeout(within_s):
        while not job_ids <= seen:
            seen.update(await queued_job_ids(settings))
            await asyncio.sleep(0.05)
    return seen & job_ids


async def listener_pid(pool: asyncpg.Pool, other_than: int | None = None) -> int:
    async with asyncio.timeout(10):
        while True:
            pids = [row["pid"] for row in await pool.fetch(LISTENERS) if row["pid"] != other_than]
            if pids:
                return int(pids[0])
            await asyncio.sleep(0.05)


async def test_an_api_without_a_relay_wakes_the_one_elsewhere_even_after_its_connection_was_cut(
    base_env: dict[str, str], settings: Settings, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_module, "IDLE_POLL_S", 60.0)
    relay = OutboxRelay(pool, settings.amqp, name="elsewhere", sweep_every_s=60)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(listen(settings.database, relay.poke, stop))]
    no_relay = Settings.from_env({**base_env, "SNAPSHOTD_API_RELAY": "none"})
    try:
        first_listener = await listener_pid(pool)
        async with asyncio.timeout(10):
            while not relay.connected:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # past the relay's first pass: what follows is woken for
        async with TestClient(TestServer(create_app(no_relay))) as api:
            ready = await api.get("/readyz")
            readiness = await ready.json()
            accepted = [await call(api, "SubmitSnapshotJob", **submit_params()) for _ in range(3)]
            job_ids = {body["JobId"] for _, body in accepted}

            assert (ready.status, readiness) == (200, {"status": "ok", "postgres": "ok"})  # no broker to need
            assert await dispatched(settings, job_ids, within_s=10) == job_ids

            # PostgreSQL drops the listening connection: the relay listens again, and is woken again
            await pool.execute("SELECT pg_terminate_backend($1)", first_listener)
            await listener_pid(pool, other_than=first_listener)
            later = {body["JobId"] for _, body in [await call(api, "SubmitSnapshotJob", **submit_params())]}
            assert await dispatched(settings, later, within_s=10) == later
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_pokes_in_a_burst_share_notifications(pool: asyncpg.Pool) -> None:
    notifier = OutboxNotifier(pool)
    for _ in range(100):
        notifier.poke()
    await notifier.close()

    assert 1 <= notifier.sent <= 2  # the first, and at most one more for the pokes made meanwhile


def failed_notifications() -> float:
    return REGISTRY.get_sample_value("snapshotd_outbox_notifications_failed_total") or 0.0


async def test_a_notification_the_database_refuses_is_counted_and_never_raises(settings: Settings) -> None:
    closed = await create_pool(settings.database)
    await closed.close()
    notifier = OutboxNotifier(closed)
    before = failed_notifications()

    notifier.poke()
    await notifier.close()

    assert notifier.sent == 0
    assert failed_notifications() == before + 1


async def test_snapshotd_relay_as_a_command_publishes_the_outbox_and_stops_on_sigterm(
    base_env: dict[str, str], settings: Settings, pool: asyncpg.Pool
) -> None:
    relay = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service",
        "relay",
        env={**os.environ, **base_env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await listener_pid(pool)
        job = new_job()
        assert await JobStore(pool).submit(job)
        notifier = OutboxNotifier(pool)
        notifier.poke()
        await notifier.close()

        assert await dispatched(settings, {job.job_id}, within_s=15) == {job.job_id}
    finally:
        relay.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(relay.communicate(), 30)
    log = err.decode()
    assert relay.returncode == 0, log
    assert "relay stopped" in log


async def test_a_relay_sigkilled_mid_outbox_loses_no_dispatch(
    base_env: dict[str, str], settings: Settings, pool: asyncpg.Pool
) -> None:
    """Killed between batches or inside one, the relay leaves every row it had not confirmed in the
    outbox (its batch's transaction dies with it), and the next relay publishes them: at least once."""
    store = JobStore(pool)
    jobs = [new_job() for _ in range(4000)]
    assert all(await asyncio.gather(*(store.submit(job) for job in jobs)))
    command = [sys.executable, "-m", "service", "relay"]
    env = {**os.environ, **base_env}
    first = await asyncio.create_subprocess_exec(*command, env=env, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(30):
            while await backlog(pool) == len(jobs):
                await asyncio.sleep(0.005)
    finally:
        first.kill()
        await first.wait()
    left_at_kill = await backlog(pool)
    assert 0 < left_at_kill < len(jobs)  # killed while it was publishing, not before or after

    second = await asyncio.create_subprocess_exec(*command, env=env, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(30):
            while await backlog(pool):
                await asyncio.sleep(0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 30)

    assert set(await queued_job_ids(settings)) == {job.job_id for job in jobs}
    assert second.returncode == 0


def test_snapshotd_relay_started_before_its_database_and_broker_waits_for_them(base_env: dict[str, str]) -> None:
    away = {
        "SNAPSHOTD_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/none",
        "SNAPSHOTD_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
    }
    relay = subprocess.Popen(
        [sys.executable, "-m", "service", "relay"],
        env={**os.environ, **base_env, **away},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            relay.wait(timeout=4)  # still there, retrying
    finally:
        relay.send_signal(signal.SIGTERM)
        _, log = relay.communicate(timeout=30)
    assert relay.returncode == 0, log
    assert "cannot listen on PostgreSQL" in log and "cannot reach RabbitMQ" in log
