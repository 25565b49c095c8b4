"""Migrations: all apply to an empty database, re-running is a no-op, concurrent runners apply each once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from service.store.migrate import MIGRATIONS_DIR, MigrationsNotFound, load_migrations, migrate


async def test_empty_database_gets_every_migration(empty_database_url: str) -> None:
    applied = await migrate(empty_database_url)

    assert applied == [m.version for m in load_migrations()]
    connection = await asyncpg.connect(empty_database_url)
    try:
        tables = {
            r["tablename"] for r in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        default_pipelines = await connection.fetchval("SELECT count(*) FROM pipelines WHERE is_default")
        system_templates = await connection.fetch("SELECT subtype FROM templates WHERE is_system ORDER BY subtype")
    finally:
        await connection.close()
    assert {"jobs", "templates", "pipelines", "schema_migrations"} <= tables
    assert default_pipelines == 1
    assert {r["subtype"] for r in system_templates} == {1, 2, 3}


async def test_second_run_is_a_no_op(empty_database_url: str) -> None:
    await migrate(empty_database_url)

    assert await migrate(empty_database_url) == []


async def test_concurrent_runs_apply_each_file_once(empty_database_url: str) -> None:
    results = await asyncio.gather(*(migrate(empty_database_url) for _ in range(3)))

    applied = [version for result in results for version in result]
    assert sorted(applied) == sorted(m.version for m in load_migrations())
    connection = await asyncpg.connect(empty_database_url)
    try:
        recorded = await connection.fetchval("SELECT count(*) FROM schema_migrations")
        pipelines = await connection.fetchval("SELECT count(*) FROM pipelines")
    finally:
        await connection.close()
    assert recorded == len(load_migrations())
    assert pipelines == 1


async def test_a_folder_without_migrations_is_an_error_that_touches_nothing(
    empty_database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "README.md").write_text("no SQL here", encoding="utf-8")

    with pytest.raises(MigrationsNotFound, match=r"no migration \(\*\.sql\) found"):
        await migrate(empty_database_url, tmp_path)

    connection = await asyncpg.connect(empty_database_url)
    try:
        tables = await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await connection.close()
    assert tables == 0, "not even schema_migrations: an empty database must not pass for a migrated one"


def test_a_checkout_reads_the_top_level_migrations_folder() -> None:
    # The editable install maps service.migrations onto migrations/ (setup.py): one copy of the SQL in git.
    root = Path(__file__).resolve().parents[2]
    assert Path(str(MIGRATIONS_DIR)) == root / "migrations"
    assert [m.version for m in load_migrations()] == sorted(p.stem for p in (root / "migrations").glob("*.sql"))
