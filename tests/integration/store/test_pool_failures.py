"""Opening PostgreSQL: unreachable or cut is DatabaseUnavailable (retried at start-up), a database or
credentials it refuses are DependencyMisconfigured (not retried); an empty pool needs no server."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from urllib.parse import urlsplit, urlunsplit

import pytest

from service.config import Settings
from service.errors import DatabaseUnavailable, DependencyMisconfigured
from service.store.media import MediaStore
from service.store.migrate import migrate
from service.store.pool import create_empty_pool, create_pool, fill
from service.store.probe_jobs import ProbeJobStore
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


def store_classes() -> list[type]:
    """Every `…Store` class of the store package."""
    import service.store

    found = []
    for module in pkgutil.iter_modules(service.store.__path__):
        for name, member in vars(importlib.import_module(f"service.store.{module.name}")).items():
            if name.endswith("Store") and inspect.isclass(member) and member.__module__.endswith(module.name):
                found.append(member)
    return found


@pytest.mark.parametrize("store", store_classes(), ids=lambda cls: cls.__name__)
def test_every_store_method_translates_driver_errors(store: type) -> None:
    """A store whose methods let asyncpg's errors out would give the API a 500 and kill background loops."""
    methods = [n for n, m in vars(store).items() if not n.startswith("_") and inspect.iscoroutinefunction(m)]
    assert methods
    for name in methods:
        assert getattr(getattr(store, name), "__wrapped__", None) is not None, f"{store.__name__}.{name}"


async def test_the_media_stores_answer_database_unavailable_when_it_is_away(settings: Settings) -> None:
    async with proxy_to(settings.database.url, cut="reset") as proxy:
        database = dataclasses.replace(settings.database, url=proxy.url(settings.database.url))
        pool = await create_empty_pool(database)
        try:
            with pytest.raises(DatabaseUnavailable):
                await MediaStore(pool).get("m")
            with pytest.raises(DatabaseUnavailable):
                await ProbeJobStore(pool).get("j")
        finally:
            await pool.close()
