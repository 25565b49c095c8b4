"""Opening PostgreSQL: unreachable or cut is DatabaseUnavailable (retried at start-up), a database or
credentials it refuses are DependencyMisconfigured (not retried); an empty pool needs no server."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit, urlunsplit

import pytest

from service.config import Settings
from service.errors import DatabaseUnavailable, DependencyMisconfigured
from service.store.migrate import migrate
from service.store.pool import create_empty_pool, create_pool, fill
from tests.conftest import free_port
from tests.tcp_proxy import proxy_to

pytestmark = [pytest.mark.pg]


async def assert_unavailable(settings: Settings, url: str) -> None:
    with pytest.raises(DatabaseUnavailable, match="not reachable"):
        await create_pool(dataclasses.replace(settings.database, url=url))
    with pytest.raises(DatabaseUnavailable, match="not reachable"):
        await migrate(url)


async def test_postgres_behind_a_cut_proxy_is_database_unavailable(settings: Settings) -> None:
    async with proxy_to(settings.database.url, cut="reset") as proxy:
        await assert_unavailable(settings, proxy.url(settings.database.url))


async def test_postgres_not_listening_is_database_unavailable(settings: Settings) -> None:
    parts = urlsplit(settings.database.url)
    await assert_unavailable(settings, urlunsplit(parts._replace(netloc=f"postgres@127.0.0.1:{free_port()}")))


async def test_a_database_that_does_not_exist_is_not_worth_retrying(settings: Settings) -> None:
    missing = urlunsplit(urlsplit(settings.database.url)._replace(path="/snapshotd_no_such_database"))

    with pytest.raises(DependencyMisconfigured, match="does not exist"):
        await create_pool(dataclasses.replace(settings.database, url=missing))


async def test_an_empty_pool_exists_before_postgres_answers_and_fills_once_it_does(settings: Settings) -> None:
    async with proxy_to(settings.database.url, cut="reset") as proxy:
        database = dataclasses.replace(settings.database, url=proxy.url(settings.database.url), pool_min=2)
        pool = await create_empty_pool(database)  # no server needed
        try:
            assert pool.get_size() == 0
            with pytest.raises(DatabaseUnavailable):
                await fill(pool, database)
            proxy.restore()
            await fill(pool, database)
            assert pool.get_size() == 2
            assert await pool.fetchval("SELECT 41 + 1") == 42
        finally:
            await pool.close()
