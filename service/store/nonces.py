"""Signature nonces shared by every API replica, in PostgreSQL.

One statement per signed request: remember the nonce unless it is already remembered and unexpired.
An expired leftover is taken over in place, so the purge that deletes expired rows can be occasional.
"""

from __future__ import annotations

import asyncpg

REMEMBER = """
INSERT INTO auth_nonces (nonce, expires_at) VALUES ($1, now() + make_interval(secs => $2))
ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE auth_nonces.expires_at < now()
RETURNING true
"""

PURGE = "DELETE FROM auth_nonces WHERE expires_at < now()"


async def remember(pool: asyncpg.Pool, nonce: str, window_s: float) -> bool:
    """Record `nonce` for `window_s` seconds; False if it was seen within its window already."""
    return bool(await pool.fetchval(REMEMBER, nonce, window_s))


async def purge(pool: asyncpg.Pool) -> int:
    """Delete expired nonces; return how many."""
    status = await pool.execute(PURGE)
    return int(status.rsplit(" ", 1)[-1])
