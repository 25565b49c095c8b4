"""The shared nonce store on a real PostgreSQL: once per window, coalesced, expired nonces taken over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.errors import DatabaseUnavailable
from service.store.nonces import SharedNonces

pytestmark = pytest.mark.pg


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(pg_url, min_size=1, max_size=4) as pool:
        yield pool


async def test_a_nonce_is_accepted_once_within_its_window(pool: asyncpg.Pool) -> None:
    store = SharedNonces(pool, 60)

    assert await store.remember("key:n1") is True
    assert await store.remember("key:n1") is False
    assert await store.remember("other:n1") is True
    # another replica: its own store, the same table
    assert await SharedNonces(pool, 60).remember("key:n1") is False


async def test_concurrent_checks_share_statements_and_accept_each_nonce_once(pool: asyncpg.Pool) -> None:
    store = SharedNonces(pool, 60)
    other_replica = SharedNonces(pool, 60)

    distinct = await asyncio.gather(*(store.remember(f"key:{i}") for i in range(50)))
    same = await asyncio.gather(
        *(store.remember("key:race") for _ in range(4)), *(other_replica.remember("key:race") for _ in range(4))
    )

    assert distinct == [True] * 50
    assert store.checks.batches < 10  # coalesced, not one round trip per request
    assert sorted(same) == [False] * 7 + [True]


async def test_an_expired_nonce_is_taken_over_and_purged(pool: asyncpg.Pool) -> None:
    short = SharedNonces(pool, 0.2)
    assert await short.remember("key:old") and await short.remember("key:gone")
    await asyncio.sleep(0.3)

    store = SharedNonces(pool, 60)  # a fresh store purges on its first statement
    assert await store.remember("key:old") is True

    assert await pool.fetchval("SELECT array_agg(nonce) FROM auth_nonces") == ["key:old"]


async def test_a_database_outage_fails_every_waiting_check(pool: asyncpg.Pool) -> None:
    store = SharedNonces(pool, 60)
    await pool.close()

    results = await asyncio.gather(*(store.remember(f"key:{i}") for i in range(3)), return_exceptions=True)

    # the store speaks the service's language: the driver's error is translated, once, inside it
    assert all(isinstance(result, DatabaseUnavailable) for result in results), results
    assert all(isinstance(result.__cause__, asyncpg.InterfaceError) for result in results)
    assert store.checks.flusher is None
