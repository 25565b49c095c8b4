"""asyncpg pool creation, with JSON codecs, and the one translation of the driver's errors.

Every store method runs under `translated` (the `database_errors` decorators apply it): while PostgreSQL
restarts or is unreachable, what asyncpg raises leaves the store as the service's `DatabaseUnavailable`
(503, retryable), so nothing outside `store/` knows asyncpg's exception classes.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import asyncpg
import orjson

from service.config import DatabaseSettings, mask_url
from service.errors import DatabaseUnavailable, DependencyMisconfigured

log = logging.getLogger(__name__)

#: what asyncpg raises while PostgreSQL restarts or is unreachable. Callers treat these as "retry
#: later" (a 503 in the API, a back-off in background loops), never as a reason to die.
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """asyncpg's "the database is away" errors → DatabaseUnavailable, once, here."""
    try:
        yield
    except DATABASE_DOWN as exc:
        raise DatabaseUnavailable(f"The database is unavailable: {exc!r}") from exc


def database_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """A store coroutine whose driver errors leave as DatabaseUnavailable."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translated():
            return await fn(*args, **kwargs)

    return wrapper


def store_methods(cls: C) -> C:
    """`database_errors` on every public coroutine method of a store class."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, database_errors(member))
    return cls


#: a connection attempt that has not completed by then failed (asyncpg's default is 60 s): a request,
#: a background loop or a shutdown never waits longer on a database that does not answer
CONNECT_TIMEOUT_S = 10.0

#: refusals only an operator can fix: the server answered and rejected our credentials or database
#: name. Every other failure to connect is worth retrying (see service/retry.py).
MISCONFIGURED: tuple[type[BaseException], ...] = (
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
)


@contextlib.contextmanager
def connecting(url: str) -> Iterator[None]:
    """Translate a failure to open a connection, once: a refusal into DependencyMisconfigured, anything
    else (refused or reset sockets, a server starting up, too many connections, a peer cut mid-handshake)
    into DatabaseUnavailable, which start-up retries."""
    try:
        yield
    except MISCONFIGURED as exc:
        raise DependencyMisconfigured(f"PostgreSQL at {mask_url(url)} refused the connection: {exc}") from exc
    except Exception as exc:
        raise DatabaseUnavailable(f"PostgreSQL at {mask_url(url)} is not reachable: {exc!r}") from exc


async def _init_connection(connection: asyncpg.Connection) -> None:
    # jsonb columns come back as Python objects and go in from them; orjson is the fast path.
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(
            kind, schema="pg_catalog", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads
        )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Release without the session reset asyncpg runs by default (UNLISTEN, CLOSE ALL, advisory
    unlocks, RESET ALL: three round trips per release). Nothing here changes session state: advisory
    locks are transaction-scoped, nothing LISTENs; an open transaction is still rolled back by asyncpg."""


async def create_pool(settings: DatabaseSettings, **overrides: Any) -> asyncpg.Pool:
    """Open and check a pool; raise DatabaseUnavailable (or DependencyMisconfigured) naming the masked DSN."""
    with connecting(settings.url):
        pool = await _new_pool(
            settings,
            min_size=overrides.get("min_size", settings.pool_min),
            max_size=overrides.get("max_size", settings.pool_max),
        )
        try:
            await pool.fetchval("SELECT 1")
        except BaseException:
            pool.terminate()
            raise
    log.info("connected to PostgreSQL at %s", mask_url(settings.url))
    return pool


async def create_empty_pool(settings: DatabaseSettings, max_size: int | None = None) -> asyncpg.Pool:
    """A pool that opens connections only when asked for one: it exists, without any I/O, before
    PostgreSQL answers, so the API can listen while it waits. `fill` opens the first connections.
    `max_size` defaults to DATABASE_POOL_MAX."""
    return await _new_pool(settings, min_size=0, max_size=max_size or settings.pool_max)


async def fill(pool: asyncpg.Pool, settings: DatabaseSettings) -> None:
    """Open DATABASE_POOL_MIN connections of an empty pool and check one; DatabaseUnavailable if PostgreSQL
    does not answer yet (nothing is left half-open: the pool hands out fresh connections later)."""
    with connecting(settings.url):
        async with contextlib.AsyncExitStack() as held:
            connections = [await held.enter_async_context(pool.acquire()) for _ in range(settings.pool_min)]
            await connections[0].fetchval("SELECT 1")
    log.info("connected to PostgreSQL at %s", mask_url(settings.url))


async def _new_pool(settings: DatabaseSettings, *, min_size: int, max_size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        settings.url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
        timeout=CONNECT_TIMEOUT_S,
    )
