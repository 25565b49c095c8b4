"""The API's own small process pool for PlanSnapshotJob: demuxing a file's index is FFmpeg work on input
the caller chose, so it runs in a child process (spawn, capped memory, as the worker's capture pool), never
in the API process itself; started at the first plan, so an API that plans nothing spawns nothing."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from service.config import WorkerSettings
from service.domain.plan import CapturePlan
from service.media.capture import init_worker
from service.media.plan import PlanSpec, plan_capture

#: plans are short (an index read); one process keeps an API replica's footprint small
PLANNER_PROCESSES = 1


class Planner:
    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None or getattr(self._executor, "_broken", False):
            self._executor = ProcessPoolExecutor(
                max_workers=PLANNER_PROCESSES,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(self.settings.capture_memory_bytes,),
                max_tasks_per_child=self.settings.max_tasks_per_child,
            )
        return self._executor

    async def plan(self, spec: PlanSpec) -> CapturePlan:
        return await asyncio.get_running_loop().run_in_executor(self._pool(), plan_capture, spec)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
