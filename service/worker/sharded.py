"""One job on every process of the worker's pool: plan, shards at once, assembly (`media/shards.py`).

The event loop only submits and waits; every step runs in the pool. A shard that fails fails the job as
one: the shards not started are cancelled, the ones running are waited for (they write into the job's
scratch directory, which goes when the job ends), and the error of the first failed shard in target
order is raised, as one process running the targets in order would have met it first. A pool process
that dies breaks every shard's future with BrokenProcessPool, which the handler turns into one retry
of the whole job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from service.config import WorkerSettings
from service.domain.models import CaptureResult, CaptureSpec
from service.domain.shards import ShardRule
from service.media.shards import (
    ShardPlan,
    ShardResult,
    ShardSpec,
    assemble,
    capture_or_plan,
    capture_shard,
    first_size_mismatch,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class Pool(Protocol):
    """The worker's `ExecutorSlot`: submits to the current process pool and knows how busy it is."""

    def submit(self, fn: Callable[..., _T], *args: Any) -> Future[_T]: ...

    def idle(self) -> int: ...


def shard_rule(settings: WorkerSettings, pool: Pool, *, fan_out: bool = False) -> ShardRule:
    """This job's rule: as many shards as processes are idle now (at least one), at most JOB_SHARDS; with
    `fan_out`, a big job's shards go to the cluster instead (FANOUT_MIN_TARGETS, FANOUT_SHARDS)."""
    most = settings.job_shards or settings.pool_size
    return ShardRule(
        max_shards=max(1, min(most, pool.idle())),
        min_frames=settings.shard_min_frames,
        fanout_min_targets=settings.fanout_min_targets if fan_out else 0,
        fanout_shards=settings.fanout_shards,
        processes=settings.pool_size,
    )


async def run_capture(pool: Pool, spec: CaptureSpec, rule: ShardRule, job_id: str = "") -> CaptureResult:
    """The job's capture, split over the pool's processes when it is worth it (never across workers)."""
    outcome = await capture_or_fan_out(pool, spec, dataclasses.replace(rule, fanout_min_targets=0), job_id)
    if isinstance(outcome, ShardPlan):
        raise AssertionError("a job fanned out under a rule that does not fan out")
    return outcome


async def capture_or_fan_out(
    pool: Pool, spec: CaptureSpec, rule: ShardRule, job_id: str = ""
) -> CaptureResult | ShardPlan:
    """The job's capture on this worker's pool, or the plan of the shards it fans out into (not run)."""
    started = time.perf_counter()
    first = await asyncio.wrap_future(pool.submit(capture_or_plan, spec, rule))
    if isinstance(first, CaptureResult) or first.fan_out:
        return first
    shards = shard_specs(spec, first)
    results = await _all(pool, shards)
    result = await assemble_shards(pool, spec, first, shards, results)
    result = dataclasses.replace(result, capture_ms=round((time.perf_counter() - started) * 1000))
    log.info(
        "job captured in %d shards on processes %s",
        result.shards,
        ",".join(map(str, result.pids)),
        extra={"action": "job_sharded", "job_id": job_id, "shards": result.shards, "pids": list(result.pids)},
    )
    return result


def shard_specs(spec: CaptureSpec, plan: ShardPlan) -> list[ShardSpec]:
    """The plan's shards as pool tasks; they take the duration from the plan (a Matroska file's end is not
    measured again)."""
    base = dataclasses.replace(spec, known_duration_ms=plan.duration_ms)
    return [ShardSpec(base, n, shard.start, shard.stop) for n, shard in enumerate(plan.shards)]


async def assemble_shards(
    pool: Pool, spec: CaptureSpec, plan: ShardPlan, shards: Sequence[ShardSpec], results: Sequence[ShardResult]
) -> CaptureResult:
    """The job from its shards' images (local files), in the pool."""
    size, other = first_size_mismatch(results)
    if other:
        # the frame size changed mid-stream: those shards render again at the job's first size
        redone = await _all(pool, [dataclasses.replace(shards[n], output_size=size) for n in other])
        results = [r for r in results if r.number not in other] + redone
    return await asyncio.wrap_future(pool.submit(assemble, spec, plan, results))


async def _all(pool: Pool, shards: Sequence[ShardSpec]) -> list[ShardResult]:
    futures = [pool.submit(capture_shard, shard) for shard in shards]
    waiting = [asyncio.wrap_future(future) for future in futures]
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        # the job timed out or the worker is stopping: nothing more of it should start
        for future in futures:
            future.cancel()
        raise
    if all(w.done() and w.exception() is None for w in waiting):
        return [w.result() for w in waiting]
    for future in futures:
        future.cancel()
    await asyncio.wait([w for w in waiting if not w.done()] or waiting)
    for w in waiting:
        error = None if w.cancelled() else w.exception()
        if error is not None:
            raise error
    raise AssertionError("a shard failed without an error")
