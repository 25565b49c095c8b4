"""The capture process pool: spawn context, an initializer, and children recycled after K jobs.

Spawn (not fork) because the parent runs an event loop and holds sockets a forked child must not
inherit; named explicitly because the platform default changed in Python 3.14. Recycling children
bounds any memory a decoder leaks.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

from service.config import WorkerSettings
from service.media.capture import init_worker

log = logging.getLogger(__name__)
_T = TypeVar("_T")
#: a warm-up task holds its process this long, so that every process of the pool gets one
WARM_HOLD_S = 0.2
WARM_ROUNDS = 20


def _ready(hold_s: float) -> int:
    time.sleep(hold_s)
    return os.getpid()


def make_executor(settings: WorkerSettings) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=settings.pool_size,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        # the cap each child sets on itself: the budget the size limits and the manifests assume
        initargs=(settings.capture_memory_bytes,),
        max_tasks_per_child=settings.max_tasks_per_child,
    )


class ExecutorSlot:
    """Holds the process pool and replaces it when a child died or must be killed."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.executor: ProcessPoolExecutor = make_executor(settings)
        #: tasks submitted through `submit` and not done yet, over every pool this slot has held
        self.in_flight = 0
        self._count = threading.Lock()
        #: the replacement pool's warm-up, running in the background
        self._warming: asyncio.Task[set[int]] | None = None

    def __call__(self) -> Executor:
        return self.executor

    def submit(self, fn: Callable[..., _T], *args: Any) -> Future[_T]:
        """Run `fn(*args)` in the current pool, counted in `in_flight` until it is done."""
        future = self.executor.submit(fn, *args)
        with self._count:
            self.in_flight += 1
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any]) -> None:
        # done callbacks run on the pool's manager thread (or here, for a future done at once)
        with self._count:
            self.in_flight -= 1

    def idle(self) -> int:
        """Processes with nothing to do right now (a hint: the count moves as tasks end)."""
        return max(self.settings.pool_size - self.in_flight, 0)

    async def warm(self, rounds: int = WARM_ROUNDS) -> set[int]:
        """Start every process of the pool now (spawning one and importing PyAV takes ~0.5 s), so that the
        first job's shards find them ready; the process ids that answered.

        A round holds each process briefly; a process still starting misses it, so rounds repeat until
        every process has answered one.
        """
        size = self.settings.pool_size
        seen: set[int] = set()
        for _ in range(rounds):
            held = [asyncio.wrap_future(self.executor.submit(_ready, WARM_HOLD_S)) for _ in range(size)]
            seen.update(await asyncio.gather(*held))
            if len(seen) >= size:
                break
        return seen

    def replace_if_broken(self) -> None:
        """A job saw BrokenProcessPool: start a new pool, unless that was an old one already replaced."""
        # _broken is private but the only way to tell; a job of a killed pool must not replace its successor.
        if not getattr(self.executor, "_broken", False):
            return
        log.warning("capture pool broken by a dying child; starting a new one")
        broken, self.executor = self.executor, make_executor(self.settings)
        broken.shutdown(wait=False, cancel_futures=True)
        self._rewarm()

    def kill_and_replace(self) -> None:
        """A child is stuck (a job outlived its timeout): kill the pool's children, start a new pool.

        ProcessPoolExecutor cannot cancel a running task, so the only way to free a stuck decoder is
        to kill its process. Other jobs running in the same pool see BrokenProcessPool and are
        handed back for another attempt.
        """
        log.warning("killing the capture pool's processes: a job outlived its timeout")
        stuck, self.executor = self.executor, make_executor(self.settings)
        # _processes is private, but it is the only handle on the children (CPython 3.11-3.14).
        for process in list((stuck._processes or {}).values()):
            process.kill()
        stuck.shutdown(wait=False, cancel_futures=True)
        self._rewarm()

    def _rewarm(self) -> None:
        """Start the new pool's processes now, in the background, so that the retry's shards (and the
        next job's) do not each wait for a spawn, as at start-up (`warm`)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # a caller without a loop: the pool starts its processes as tasks come
        self._warming = loop.create_task(self.warm())
        # a pool closed or replaced again while warming cancels its warm-up tasks: nothing to report
        self._warming.add_done_callback(lambda task: task.cancelled() or task.exception())

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
