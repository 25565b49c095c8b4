"""Apply `migrations/*.sql` in order, each once, under a PostgreSQL advisory lock.

The SQL files are package data: the top-level `migrations/` folder is installed as `service.migrations`
(setup.py), so a wheel installed anywhere carries them, and an editable install reads the folder itself.

Invariants: files apply in lexical order (`0001_…`, `0002_…`); each file runs in its own transaction
together with its row in `schema_migrations`, so a file is either fully applied and recorded or not
at all. The advisory lock serialises concurrent runners (two pods starting at once): the second waits,
then finds every file recorded and does nothing. Finding no file at all is an error, never "up to date":
it means a broken install, and an empty database must not pass for a migrated one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import asyncpg

from service.errors import DatabaseUnavailable
from service.store.pool import DATABASE_DOWN, connecting

log = logging.getLogger(__name__)

#: arbitrary, fixed: every snapshotd migrator contends for the same lock ("snapd" in ASCII)
ADVISORY_LOCK_KEY = 0x736E617064

#: the SQL files, wherever the package is installed (the checkout's `migrations/` in an editable install)
MIGRATIONS_DIR: Traversable = files("service.migrations")

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationsNotFound(RuntimeError):
    """No migration file where they should be: the package was installed without its SQL files."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    sql: str


def load_migrations(directory: Traversable = MIGRATIONS_DIR) -> list[Migration]:
    """Every `*.sql` file of the directory, sorted by name; raises MigrationsNotFound when there is none."""
    sql_files = sorted((entry for entry in directory.iterdir() if entry.name.endswith(".sql")), key=lambda e: e.name)
    if not sql_files:
        raise MigrationsNotFound(f"no migration (*.sql) found in {directory}: the install lacks its SQL files")
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")) for entry in sql_files]


async def migrate(dsn: str, directory: Traversable = MIGRATIONS_DIR) -> list[str]:
    """Apply what is missing; return the versions applied by this call.

    PostgreSQL unreachable, or lost half-way, is DatabaseUnavailable: running again is safe (what was
    committed is recorded, the rest rolled back), so `snapshotd migrate` retries it.
    """
    migrations = load_migrations(directory)
    with connecting(dsn):
        connection = await asyncpg.connect(dsn)
    try:
        applied = await _apply(connection, migrations)
    except BaseException as exc:
        connection.terminate()  # the server drops the session's lock with it
        if isinstance(exc, DATABASE_DOWN):
            raise DatabaseUnavailable(f"PostgreSQL connection lost while migrating: {exc!r}") from exc
        raise
    await connection.close()
    return applied


async def _apply(connection: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    await connection.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await connection.execute(CREATE_TABLE)
        done = {row["version"] for row in await connection.fetch("SELECT version FROM schema_migrations")}
        applied: list[str] = []
        for migration in migrations:
            if migration.version in done:
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", migration.version)
            log.info("applied migration %s", migration.version)
            applied.append(migration.version)
        return applied
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
