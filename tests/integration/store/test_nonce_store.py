"""The shared nonce store on a real PostgreSQL: once per window, expired nonces taken over and purged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from service.store import nonces

pytestmark = pytest.mark.pg


@pytest.fixture
async def pool(pg_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(pg_url, min_size=1, max_size=4) as pool:
        yield pool


async def test_a_nonce_is_accepted_once_within_its_window(pool: asyncpg.Pool) -> None:
    assert await nonces.remember(pool, "key:n1", 60) is True
    assert await nonces.remember(pool, "key:n1", 60) is False
    assert await nonces.remember(pool, "other:n1", 60) is True


async def test_racing_replicas_accept_a_nonce_exactly_once(pool: asyncpg.Pool) -> None:
    results = await asyncio.gather(*(nonces.remember(pool, "key:race", 60) for _ in range(8)))

    assert sorted(results) == [False] * 7 + [True]


async def test_an_expired_nonce_is_taken_over_and_purged(pool: asyncpg.Pool) -> None:
    assert await nonces.remember(pool, "key:old", 0.2)
    assert await nonces.remember(pool, "key:gone", 0.2)
    await asyncio.sleep(0.3)

    assert await nonces.remember(pool, "key:old", 60) is True
    assert await nonces.purge(pool) == 1  # key:gone; key:old lives again
    assert await pool.fetchval("SELECT count(*) FROM auth_nonces") == 1
