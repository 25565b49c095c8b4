"""Signature nonces shared by every API replica, in PostgreSQL.

A nonce is accepted when it is not remembered, or remembered but expired (taken over in place, so the
purge of expired rows can be occasional). The checks of concurrent requests are coalesced: while one
statement is in flight the next requests queue, and go together in the following statement. Under load
that is one round trip for many requests instead of one each; alone, a request waits for nothing.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

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
        self.pending: dict[str, asyncio.Future[bool]] = {}
        self.flusher: asyncio.Task[None] | None = None
        self.next_purge = 0.0
        self.statements = 0

    async def remember(self, nonce: str) -> bool:
        """Record `nonce` for the window; False if it was seen within its window already."""
        if nonce in self.pending:  # the same nonce twice at once: the second is a replay
            return False
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending[nonce] = future
        if self.flusher is None:
            self.flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending, {}
                try:
                    with translated():
                        if time.monotonic() >= self.next_purge:
                            self.next_purge = time.monotonic() + PURGE_EVERY_S
                            await self.pool.execute(PURGE)
                        accepted = {row[0] for row in await self.pool.fetch(REMEMBER, list(batch), self.window_s)}
                    self.statements += 1
                except BaseException as exc:
                    # PostgreSQL down: every waiting request fails with it (a 503); cancelled: they are too.
                    for future in batch.values():
                        if future.done():
                            continue
                        if isinstance(exc, Exception):
                            future.set_exception(exc)
                        else:
                            future.cancel()
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for nonce, future in batch.items():
                    if not future.done():
                        future.set_result(nonce in accepted)
        finally:
            self.flusher = None
