"""asyncpg pool creation, with JSON codecs and a clear error when PostgreSQL is unreachable."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import orjson

from service.config import DatabaseSettings, mask_url
from service.errors import DatabaseUnavailable

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
    """Open and check a pool; raise DatabaseUnavailable naming the (masked) DSN on failure."""
    try:
        pool = await asyncpg.create_pool(
            settings.url,
            min_size=overrides.get("min_size", settings.pool_min),
            max_size=overrides.get("max_size", settings.pool_max),
            init=_init_connection,
            reset=_keep_session,
            command_timeout=30,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseUnavailable(f"PostgreSQL at {mask_url(settings.url)} is not reachable: {exc}") from exc
    await pool.fetchval("SELECT 1")
    log.info("connected to PostgreSQL at %s", mask_url(settings.url))
    return pool
