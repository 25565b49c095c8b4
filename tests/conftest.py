"""Shared fixtures: real PostgreSQL, RabbitMQ and an S3-compatible server, isolated per test.

- PostgreSQL: migrations run once into a template database; each test gets its own
  `CREATE DATABASE … TEMPLATE` copy, dropped afterwards.
- RabbitMQ: each test gets uniquely named exchanges and queues, deleted afterwards.
- Service URLs come from SNAPSHOTD_TEST_* variables with local defaults; an unreachable service is
  a clear error, not a hang. A directory can point its tests at other servers by overriding
  `pg_server_url` and `amqp_server_url` (and `template_database`, which is session-scoped):
  tests/faults does, with servers of its own.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import asyncpg
import pytest

from service.config import Settings
from service.store.migrate import migrate
from tests.media_factory import make_video

pytest_plugins = ["tests.s3server"]

PG_URL = os.environ.get("SNAPSHOTD_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("SNAPSHOTD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
#: how long a fixture waits for a service before failing with a message
CONNECT_TIMEOUT_S = 5


def database_url(name: str, server_url: str = PG_URL) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


async def _admin(sql: str, server_url: str) -> None:
    try:
        connection = await asyncpg.connect(server_url, timeout=CONNECT_TIMEOUT_S)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.fail(f"PostgreSQL is not reachable at {server_url} (set SNAPSHOTD_TEST_PG_URL): {exc!r}")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The PostgreSQL server the tests create their databases on."""
    return PG_URL


@pytest.fixture(scope="session")
def amqp_server_url() -> str:
    """The RabbitMQ the tests declare their queues on."""
    return AMQP_URL


def migrated_template(server_url: str) -> Iterator[str]:
    """Body of the `template_database` fixture: a database with every migration applied, dropped after."""
    name = f"snapshotd_tmpl_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        await _admin(f'CREATE DATABASE "{name}"', server_url)
        await migrate(database_url(name, server_url))

    asyncio.run(create())
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server_url))


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    """A database with every migration applied, copied for each test."""
    yield from migrated_template(pg_server_url)


@pytest.fixture
async def empty_database_url(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh database with nothing in it (for migration tests)."""
    name = f"snapshotd_test_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}"', pg_server_url)
    yield database_url(name, pg_server_url)
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', pg_server_url)


@pytest.fixture
async def pg_url(template_database: str, pg_server_url: str) -> AsyncIterator[str]:
    """A migrated database of this test's own."""
    name = f"snapshotd_test_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"', pg_server_url)
    yield database_url(name, pg_server_url)
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', pg_server_url)


@pytest.fixture
async def amqp_names(amqp_server_url: str) -> AsyncIterator[dict[str, str]]:
    """Unique exchange and queue names for this test; everything declared under them is deleted after."""
    suffix = uuid.uuid4().hex[:10]
    names = {
        "SNAPSHOTD_AMQP_JOBS_QUEUE": f"test.jobs.{suffix}",
        "SNAPSHOTD_AMQP_JOBS_EXCHANGE": f"test.dispatch.{suffix}",
        "SNAPSHOTD_AMQP_EVENTS_EXCHANGE": f"test.events.{suffix}",
    }
    try:
        connection = await asyncio.wait_for(aio_pika.connect(amqp_server_url), CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
        pytest.fail(f"RabbitMQ is not reachable at {amqp_server_url} (set SNAPSHOTD_TEST_AMQP_URL): {exc!r}")
    await connection.close()
    yield names
    async with await aio_pika.connect(amqp_server_url) as connection:
        channel = await connection.channel()
        queue, dispatch = names["SNAPSHOTD_AMQP_JOBS_QUEUE"], names["SNAPSHOTD_AMQP_JOBS_EXCHANGE"]
        for queue_name in (queue, f"{queue}.dead"):
            await channel.queue_delete(queue_name)
        for exchange in (dispatch, f"{dispatch}.dlx", names["SNAPSHOTD_AMQP_EVENTS_EXCHANGE"]):
            await channel.exchange_delete(exchange)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def base_env(pg_url: str, amqp_server_url: str, amqp_names: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Settings environment for a test: its own database, broker names and local storage."""
    return {
        "SNAPSHOTD_DATABASE_URL": pg_url,
        "SNAPSHOTD_AMQP_URL": amqp_server_url,
        "SNAPSHOTD_STORAGE_BACKEND": "local",
        "SNAPSHOTD_STORAGE_ROOT": str(tmp_path / "storage"),
        "SNAPSHOTD_HTTP_PORT": str(free_port()),
        "SNAPSHOTD_WORKER_PROCESSES": "2",
        "SNAPSHOTD_SCRATCH_DIR": str(tmp_path),
        **amqp_names,
    }


@pytest.fixture
def settings(base_env: dict[str, str]) -> Settings:
    return Settings.from_env(base_env)


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s of 320x180 H.264 at 25 fps, a keyframe every second, B-frames on."""
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=10, fps=25, gop=25, bframes=2)


@pytest.fixture
def s3_service_env(base_env: dict[str, str], s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Settings environment of a service whose storage is the S3 test server.

    Production reads S3 credentials through botocore's standard chain, so the test server's fake
    ones go into the process environment (restored after the test), not into our settings.
    """
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, s3_env[name])
    return {**base_env, **s3_env}
