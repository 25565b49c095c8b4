"""Concurrent calls coalesced into one statement: the one batching rule of the store.

While one batch is in flight the next calls queue, and go together in the following one. Under load that
is one round trip, one statement and one commit for many requests instead of one each; alone, a call
waits for nothing (its batch of one leaves at once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: the most calls one statement carries (its arrays stay a few hundred KB at most)
MAX_BATCH = 500

#: runs one batch; one result per item, in order: a value, or the error of that item alone
Flush = Callable[[list[T]], Awaitable[Sequence[R | Exception]]]


class Coalescer(Generic[T, R]):
    """`await coalescer(item)` runs `item` in the next batch `flush` is given; safe to call concurrently.

    An error `flush` raises fails every call of its batch; an error it returns fails its own call only.
    A caller cancelled while it waits leaves its item in the batch (it may already be written)."""

    def __init__(self, flush: Flush[T, R], max_batch: int = MAX_BATCH) -> None:
        self.flush = flush
        self.max_batch = max_batch
        self.pending: list[tuple[T, asyncio.Future[R]]] = []
        self.flusher: asyncio.Task[None] | None = None
        #: batches run so far (how well calls coalesce)
        self.batches = 0

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.pending.append((item, future))
        if self.flusher is None:
            self.flusher = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
                try:
                    results = await self.flush([item for item, _ in batch])
                    self.batches += 1
                except BaseException as exc:
                    # e.g. PostgreSQL down: every waiting call fails with it; cancelled: they are too
                    for _, future in batch:
                        if not future.done():
                            if isinstance(exc, Exception):
                                future.set_exception(exc)
                            else:
                                future.cancel()
                    if not isinstance(exc, Exception):
                        for _, future in self.pending:
                            future.cancel()
                        self.pending = []
                        raise
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self.flusher = None
