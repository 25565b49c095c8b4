"""Signature nonces shared by every API replica, in PostgreSQL.

A nonce is accepted when it is not remembered, or remembered but expired (taken over in place, so the
purge of expired rows can be occasional). The checks of concurrent requests are coalesced
(`store/coalesce.py`): under load, one statement for many requests.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import asyncpg

from service.store.coalesce import Coalescer
from service.store.pool import translated

REMEMBER = """
INSERT INTO auth_nonces (nonce, expires_at)
SELECT nonce, now() + make_interval(secs => $2) FROM unnest($1::text[]) AS nonce
ON CONFLICT (nonce) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE auth_nonces.expires_at < now()
RETURNING nonce
"""

PURGE = "DELETE FROM auth_nonces WHERE expires_at < now()"

#: how often each replica deletes expired nonces
PURGE_EVERY_S = 60.0


class SharedNonces:
    """One API process's view of the shared nonce table; `remember` is safe to call concurrently."""

    def __init__(self, pool: asyncpg.Pool, window_s: float) -> None:
        self.pool = pool
        self.window_s = window_s
        #: nonces waiting for their statement: the same nonce twice at once is a replay
        self.waiting: set[str] = set()
        self.checks: Coalescer[str, bool] = Coalescer(self._remember_all)
        self.next_purge = 0.0

    async def remember(self, nonce: str) -> bool:
        """Record `nonce` for the window; False if it was seen within its window already."""
        if nonce in self.waiting:
            return False
        self.waiting.add(nonce)
        try:
            return await self.checks(nonce)
        finally:
            self.waiting.discard(nonce)

    async def _remember_all(self, nonces: list[str]) -> Sequence[bool]:
        with translated():  # PostgreSQL down: every waiting request fails with it (a 503)
            if time.monotonic() >= self.next_purge:
                self.next_purge = time.monotonic() + PURGE_EVERY_S
                await self.pool.execute(PURGE)
            accepted = {row[0] for row in await self.pool.fetch(REMEMBER, nonces, self.window_s)}
        return [nonce in accepted for nonce in nonces]
