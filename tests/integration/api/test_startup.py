"""The API listens while PostgreSQL or RabbitMQ is away: alive, not ready, a clean 503 for what needs the
database, and serving by itself once they are back; SNAPSHOTD_STARTUP_TIMEOUT_S makes it give up."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.api.app import create_app
from service.api.keys import STARTUP
from service.config import Settings
from service.errors import DependencyMisconfigured, StartupTimeout
from tests.ice import call, submit_params
from tests.tcp_proxy import proxy_to

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


async def test_the_api_waits_for_postgres_without_blocking_its_probes(base_env: dict[str, str]) -> None:
    async with proxy_to(base_env["SNAPSHOTD_DATABASE_URL"], cut="reset") as database:
        settings = Settings.from_env(
            {**base_env, "SNAPSHOTD_DATABASE_URL": database.url(base_env["SNAPSHOTD_DATABASE_URL"])}
        )
        async with TestClient(TestServer(create_app(settings))) as api:
            alive = await api.get("/healthz")
            ready = await api.get("/readyz")
            status, body = await call(api, "SubmitSnapshotJob", **submit_params())
            metrics = await api.get("/metrics")

            assert alive.status == 200
            assert ready.status == 503
            assert (await ready.json())["postgres"] == "down: not connected yet"
            assert (status, body["Code"]) == (503, "ServiceUnavailable")
            assert "PostgreSQL" in body["Message"] and body["RequestId"]
            assert metrics.status == 200

            database.restore()
            async with asyncio.timeout(15):
                while (await api.get("/readyz")).status != 200:
                    await asyncio.sleep(0.1)
            status, body = await call(api, "SubmitSnapshotJob", **submit_params())
            assert status == 200, body
    assert database.accepted >= 2  # it kept trying


async def test_the_startup_timeout_gives_up_on_a_broker_that_stays_away(base_env: dict[str, str]) -> None:
    async with proxy_to(base_env["SNAPSHOTD_AMQP_URL"], cut="hang") as broker:
        env = {**base_env, "SNAPSHOTD_AMQP_URL": broker.url(base_env["SNAPSHOTD_AMQP_URL"])}
        settings = Settings.from_env({**env, "SNAPSHOTD_STARTUP_TIMEOUT_S": "1.5"})
        app = create_app(settings)
        async with TestClient(TestServer(app)) as api:
            assert (await api.get("/healthz")).status == 200
            async with asyncio.timeout(5):
                await app[STARTUP].failed.wait()

    assert isinstance(app[STARTUP].error, StartupTimeout)
    assert "RabbitMQ" in app[STARTUP].error.message and "SNAPSHOTD_STARTUP_TIMEOUT_S" in app[STARTUP].error.message


async def test_a_broker_refusing_our_credentials_ends_startup_at_once(base_env: dict[str, str]) -> None:
    parts = urlsplit(base_env["SNAPSHOTD_AMQP_URL"])
    wrong = urlunsplit(parts._replace(netloc=f"snapshotd-nobody:wrong@{parts.hostname}:{parts.port or 5672}"))
    app = create_app(Settings.from_env({**base_env, "SNAPSHOTD_AMQP_URL": wrong}))  # no start-up timeout
    async with TestClient(TestServer(app)):
        async with asyncio.timeout(5):
            await app[STARTUP].failed.wait()

    assert isinstance(app[STARTUP].error, DependencyMisconfigured)
