"""One job on every worker of the cluster: a big job's shards go through the queue to any worker.

The worker that plans a job (`handler.py`) finds it too big for its own pool (`ShardRule.fans_out`)
and hands it to its shards: one row per shard with its dispatch, the plan kept on the job, the job's
lease given up (`ShardStore.fan_out`). Any worker then claims a shard like a job (a lease renewed while
it runs, a time limit, retries by the same `Attempt` rules), captures its targets in one pool process,
puts its images under the job's scratch prefix in the output bucket and records where they are. The
shard whose finish counts the last one gets the job's lease in the same transaction: its worker
downloads every shard's images, assembles the job exactly as one worker's shards are assembled
(`worker/sharded.py`), uploads the files under their final keys, finishes the job with its one event,
and deletes the scratch objects.

A shard's worker that dies: its lease expires, the sweeper dispatches the shard again, another worker
runs only that shard. One that comes back after that: its finish is refused (the guarded UPDATE) and it
deletes what it uploaded, under a prefix of its own, so it never overwrote anything. A shard that fails
for good fails the job (with its event) and cancels the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

from service.config import Settings
from service.domain.models import CaptureResult, CaptureSpec, JobStatus, ObjectRef
from service.errors import ServiceError, StorageAccessDenied
from service.media.shards import ShardImage, ShardPlan, ShardResult, ShardSpec, capture_shard
from service.queue.relay import OutboxRelay
from service.storage.base import BlobStorage
from service.store.jobs import Event, JobOutcome, JobRecord, JobStore
from service.store.shards import ShardFinish, ShardRecord, ShardStore
from service.worker.attempt import Attempt, Delivery, LeasedStore
from service.worker.files import Put, put_files, scratch_dir
from service.worker.pool import ExecutorSlot
from service.worker.sharded import assemble_shards, shard_specs

log = logging.getLogger(__name__)

#: where, in the job's output bucket, its shards' images wait for the assembly (deleted after it)
SCRATCH_PREFIX = ".snapshotd-scratch"
#: what a shard's image is stored as (raw RGB cells, encoded images: only this service reads them)
SCRATCH_CONTENT_TYPE = "application/octet-stream"
#: pause before a failed assembly's job is dispatched again
ASSEMBLY_RETRY_DELAY_S = 2.0


class FannedOut(Enum):
    """A job step's outcome when the job went to its shards: nothing to finish yet."""

    FANNED_OUT = "fanned_out"


FANNED_OUT = FannedOut.FANNED_OUT


class JobSteps(Protocol):
    """What a shard's worker needs of the job handler (`handler.py`)."""

    async def capture_spec(self, job: JobRecord, scratch: str) -> CaptureSpec: ...

    async def store_result(self, job: JobRecord, result: CaptureResult) -> JobOutcome: ...

    async def run_claimed(self, job: JobRecord, lease: LeasedStore) -> Delivery: ...

    def completion_event(self, job: JobRecord) -> Event: ...


@dataclass(frozen=True, slots=True)
class StoredShard:
    """A shard captured and uploaded: its result as the row keeps it, and the objects it put."""

    result: dict[str, Any]
    keys: tuple[str, ...]


class FanOut:
    """The job's side: hand it to its shards, assemble it from them, clean up after."""

    def __init__(self, settings: Settings, shards: ShardStore, storage: BlobStorage, executors: ExecutorSlot) -> None:
        self.settings = settings
        self.shards = shards
        self.storage = storage
        self.executors = executors

    async def start(self, job: JobRecord, plan: ShardPlan, owner: str) -> None:
        bounds = [(shard.start, shard.stop) for shard in plan.shards]
        if await self.shards.fan_out(job.job_id, owner, plan.to_json(), bounds):
            log.info(
                "job fanned out in %d shards",
                len(bounds),
                extra={"action": "job_fanned_out", "job_id": job.job_id, "shards": len(bounds)},
            )
        else:
            log.warning("fan-out lost: another worker owns the job", extra={"job_id": job.job_id})

    async def resume(self, job: JobRecord, steps: JobSteps, owner: str) -> JobOutcome | FannedOut:
        """A fanned-out job `owner` claimed again: assembled when every shard is done, else back to them."""
        if await self.shards.unfinished(job.job_id):
            await self.shards.return_to_shards(job.job_id, owner)
            return FANNED_OUT
        return await self.assemble(job, steps)

    async def assemble(self, job: JobRecord, steps: JobSteps) -> JobOutcome:
        """The job's files from its shards' stored images: the sheet cells and BIF frames downloaded and
        assembled in the pool, the single images copied to their final keys inside the store."""
        plan = ShardPlan.from_json(job.fanout or {})
        stored = [ShardResult.from_json(row) for row in await self.shards.results(job.job_id)]
        bucket = job.output_ref.bucket
        async with scratch_dir(f"job-{job.job_id}-", self.settings.worker.scratch_dir) as scratch:
            spec = await steps.capture_spec(job, scratch)
            local, in_store = await self._download(bucket, spec, stored)
            result = await assemble_shards(self.executors, spec, plan, shard_specs(spec, plan), local)
            artifacts = tuple(
                dataclasses.replace(a, stored_key=in_store[a.path]) if a.path in in_store else a
                for a in result.artifacts
            )
            started = job.start_time or job.submit_time
            wall_ms = round((datetime.now(UTC) - started).total_seconds() * 1000)
            result = dataclasses.replace(result, artifacts=artifacts, capture_ms=wall_ms)
            return await steps.store_result(job, result)

    async def _download(
        self, bucket: str, spec: CaptureSpec, stored: Sequence[ShardResult]
    ) -> tuple[list[ShardResult], dict[str, str]]:
        """Every shard's images in the layout the pool's shards leave them in, and which of them are not
        downloaded: encoded single images stay in the store (local path → scratch key) since the assembly
        only names them; sheet cells and BIF frames come to the job's scratch directory."""
        gate = asyncio.Semaphore(self.settings.worker.upload_concurrency)
        in_store: dict[str, str] = {}

        async def fetch(key: str, directory: str) -> str:
            path = os.path.join(directory, os.path.basename(key))
            async with gate:
                data = await self.storage.get_bytes(ObjectRef(bucket, key))
            await asyncio.to_thread(_write, path, data)
            return path

        async def local(result: ShardResult) -> ShardResult:
            directory = os.path.join(spec.scratch_dir, f"shard-{result.number:03d}")
            await asyncio.to_thread(os.makedirs, directory, exist_ok=True)

            async def image(item: ShardImage) -> ShardImage:
                bif = await fetch(item.bif_path, directory) if item.bif_path else None
                if not item.is_cell:
                    path = os.path.join(directory, os.path.basename(item.path))
                    in_store[path] = item.path
                else:
                    path = await fetch(item.path, directory)
                return dataclasses.replace(item, path=path, bif_path=bif)

            images = await asyncio.gather(*(image(item) for item in result.images))
            return dataclasses.replace(result, images=tuple(images))

        results = list(await asyncio.gather(*(local(result) for result in stored)))
        return results, in_store

    async def clean(self, job: JobRecord) -> None:
        """Delete the job's scratch objects. Once every one is gone the job's delayed clean-up is
        withdrawn; a failure leaves them, says so, and leaves that clean-up to try again.

        Every object under the job's scratch folder goes, not only those its shard rows name: a shard's
        worker that came back late and died before deleting its uploads left some that no row names. A
        store whose credentials may not list the bucket gets the named ones deleted, and a warning."""
        bucket = job.output_ref.bucket
        keys = {key for row in await self.shards.results(job.job_id) for key in stored_keys(row)}
        try:
            keys.update(await self.storage.keys_under(bucket, scratch_folder(job.job_id)))
        except StorageAccessDenied as exc:
            log.warning(
                "cannot list the scratch folder of %s: %s; deleting the objects its shard rows name",
                job.job_id,
                exc.message,
                extra={"action": "scratch_unlisted", "job_id": job.job_id},
            )
        if await self.delete(bucket, sorted(keys)):
            await self.shards.withdraw_scratch_cleanup(job.job_id)

    async def tidy(self, job: JobRecord) -> None:
        """`clean` right after the job ended, on a best-effort basis: the job is final and its event queued,
        so a database away now must not fail the delivery; the delayed clean-up queued with the job's
        end (`store/jobs.py` finish_job) deletes what this could not."""
        try:
            await self.clean(job)
        except ServiceError as exc:
            log.warning(
                "scratch clean-up of an ended job left to its delayed retry: %s",
                exc.message,
                extra={"action": "scratch_left", "job_id": job.job_id},
            )

    async def delete(self, bucket: str, keys: Sequence[str]) -> bool:
        """Delete these objects; False (and a warning) when some are left."""
        gate = asyncio.Semaphore(self.settings.worker.upload_concurrency)

        async def remove(key: str) -> None:
            async with gate:
                await self.storage.delete(ObjectRef(bucket, key))

        results = await asyncio.gather(*(remove(key) for key in keys), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            log.warning(
                "could not delete %d of %d scratch objects in %s: %r",
                len(failures),
                len(keys),
                bucket,
                failures[0],
                extra={"action": "scratch_left"},
            )
        return not failures


def stored_keys(row: dict[str, Any]) -> list[str]:
    """The objects a shard row's result names."""
    return [key for image in row["images"] for key in (image["path"], image["bif_path"]) if key]


def scratch_folder(job_id: str) -> str:
    """The folder of a fanned-out job's scratch objects in its output bucket: every attempt of every
    shard puts its images in a folder of its own inside it."""
    return f"{SCRATCH_PREFIX}/{job_id}/"


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)


class AssemblyLease:
    """The job's lease while the last shard's worker assembles it: renewed on the job's row; handed back
    with a fresh dispatch of the job (the delivery in hand is a shard's, which cannot carry a retry)."""

    def __init__(self, jobs: JobStore, shards: ShardStore) -> None:
        self.jobs, self.shards = jobs, shards

    async def renew_lease(self, job_id: str, owner: str, lease_s: float) -> bool:
        return await self.jobs.renew_lease(job_id, owner, lease_s)

    async def release(self, job_id: str, owner: str) -> None:
        await self.shards.hand_back_assembly(job_id, owner, ASSEMBLY_RETRY_DELAY_S)


class ScratchHandler:
    """Deletes an ended fanned-out job's scratch objects: the delayed net under its assembler's own
    delete (`finish_job` queues it), for an assembler that died in between."""

    def __init__(self, jobs: JobStore, fanout: FanOut) -> None:
        self.jobs, self.fanout = jobs, fanout

    async def handle(self, job_id: str) -> Delivery:
        job = await self.jobs.get(job_id)
        # a deleted job took its shard rows, and with them the names of its objects
        if job is not None and job.fanout is not None and job.status in (JobStatus.SUCCESS, JobStatus.FAIL):
            await self.fanout.clean(job)
        return Delivery.ACK

    async def release(self, job_id: str) -> None:
        """Nothing is leased: a clean-up cut short by shutdown is redelivered and starts again."""


class ShardHandler:
    """Runs one shard delivery: claim → capture in one pool process → upload → finish (→ assemble)."""

    def __init__(
        self,
        settings: Settings,
        jobs: JobStore,
        fanout: FanOut,
        relay: OutboxRelay,
        executors: ExecutorSlot,
        owner: str,
        steps: JobSteps,
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.fanout = fanout
        self.shards = fanout.shards
        self.relay = relay
        self.executors = executors
        self.owner = owner
        self.steps = steps

    async def release(self, shard_id: str) -> None:
        await self.shards.release(shard_id, self.owner)

    async def handle(self, shard_id: str) -> Delivery:
        worker = self.settings.worker
        shard = await self.shards.claim(shard_id, self.owner, worker.lease_s)
        if shard is None:
            log.info("shard delivery skipped", extra={"action": "shard_skipped", "shard": shard_id})
            return Delivery.ACK
        job = await self.jobs.get(shard.job_id)
        if job is None:  # the claim joined the job's row: it cannot be gone
            return Delivery.ACK
        attempt: Attempt[StoredShard | JobOutcome] = Attempt(
            self.shards,
            shard_id,
            self.owner,
            shard.attempts,
            worker.max_attempts,
            worker.lease_s,
            worker.job_timeout(shard.stop_index - shard.start_index),
            self.executors,
            "shard",
            JobOutcome.failed,
        )
        outcome, delivery = await attempt.run(lambda: self._capture(job, shard))
        if outcome is None:
            return delivery
        bucket = job.output_ref.bucket
        if isinstance(outcome, JobOutcome):
            failed = await asyncio.shield(self.shards.fail(shard_id, self.owner, outcome, self.steps.completion_event))
            if failed is not None:
                self.relay.poke()
                log.warning(
                    "job failed by its shard %s: %s",
                    shard_id,
                    outcome.code,
                    extra={"action": "job_finished", "job_id": job.job_id, "status": outcome.status.value},
                )
                await self.fanout.tidy(job)
            return delivery
        done = await asyncio.shield(self.shards.finish(shard_id, self.owner, outcome.result, worker.lease_s))
        log.info("shard %s %s", shard_id, done.value, extra={"action": "shard_finished", "job_id": job.job_id})
        if done in (ShardFinish.REFUSED, ShardFinish.JOB_ENDED):
            # not this worker's shard any more, or the job is over: what it uploaded is nobody's
            await self.fanout.delete(bucket, outcome.keys)
            return Delivery.ACK
        if done is ShardFinish.LAST:
            assembling = await self.jobs.get(job.job_id)
            if assembling is not None:
                await self._assemble(assembling)
        return Delivery.ACK

    async def _assemble(self, job: JobRecord) -> None:
        """Assemble the job whose last shard this worker finished. Its fate is recorded on its row; this
        shard's delivery is done either way."""
        lease = AssemblyLease(self.jobs, self.shards)
        try:
            await self.steps.run_claimed(job, lease)
        except asyncio.CancelledError:
            # Shutdown ran out of grace mid-assembly. Handing back the shard gives back nothing (it is
            # done): hand back the job, dispatched at once, so another worker assembles it now rather
            # than after its lease expires.
            try:
                await asyncio.shield(self.shards.hand_back_assembly(job.job_id, self.owner, 0.0))
                self.relay.poke()
                log.info("assembly handed back on shutdown", extra={"action": "job_retry", "job_id": job.job_id})
            except Exception as exc:
                log.warning(
                    "could not hand back the assembly of %s; its lease will expire instead: %r", job.job_id, exc
                )
            raise

    async def _capture(self, job: JobRecord, shard: ShardRecord) -> StoredShard:
        plan = ShardPlan.from_json(job.fanout or {})
        bucket = job.output_ref.bucket
        async with scratch_dir(f"shard-{job.job_id}-{shard.number}-", self.settings.worker.scratch_dir) as scratch:
            spec = await self.steps.capture_spec(job, scratch)
            spec = dataclasses.replace(spec, known_duration_ms=plan.duration_ms)
            task = ShardSpec(spec, shard.number, shard.start_index, shard.stop_index)
            started = time.perf_counter()
            result = await asyncio.wrap_future(self.executors.submit(capture_shard, task))
            captured = time.perf_counter()
            # a prefix of this attempt's own: a late duplicate of the shard never writes over this one
            prefix = f"{scratch_folder(job.job_id)}shard-{shard.number:03d}-{uuid.uuid4().hex[:12]}"
            stored, files = _as_stored(result, prefix)
            await put_files(
                self.fanout.storage,
                [Put(ObjectRef(bucket, key), SCRATCH_CONTENT_TYPE, path=path) for path, key in files],
                self.settings.worker.upload_concurrency,
            )
        log.info(
            "shard %s captured in %.2f s, stored in %.2f s",
            shard.shard_id,
            captured - started,
            time.perf_counter() - captured,
            extra={"action": "shard_captured", "job_id": job.job_id, "pid": result.pid},
        )
        row = dataclasses.replace(stored, worker=self.owner).to_json()
        return StoredShard(row, tuple(key for _, key in files))


def _as_stored(result: ShardResult, prefix: str) -> tuple[ShardResult, list[tuple[str, str]]]:
    """The result with its image paths replaced by their scratch keys, and the (path, key) pairs."""
    files: list[tuple[str, str]] = []

    def key(path: str) -> str:
        files.append((path, f"{prefix}/{os.path.basename(path)}"))
        return files[-1][1]

    images = tuple(
        dataclasses.replace(item, path=key(item.path), bif_path=key(item.bif_path) if item.bif_path else None)
        for item in result.images
    )
    return dataclasses.replace(result, images=images), files
