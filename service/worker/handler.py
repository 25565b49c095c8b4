"""One job, start to end: claim → capture in the pool → upload → finish → event.

A big job fans out instead (`fanout.py`): its plan is recorded with a shard row per piece and the
delivery is acked; the job finishes when its last shard's worker assembles it through `run_claimed`.
A fanned-out job claimed again (its assembler died) is assembled by the worker that claims it.

The outcome decides what happens to the delivery (the consumer acts on it):
- ACK: the job reached a final state here, or the delivery was a duplicate of a job another worker
  owns or already finished.
- RETRY: a transient failure with attempts left; the job went back to Init and the message is requeued.
- DEAD: a transient failure on the last attempt; the job is Fail and the message goes to the DLX.
Final writes run under `asyncio.shield` so a cancellation during shutdown cannot half-record them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import cast

from service import metrics
from service.config import Settings
from service.domain.models import CaptureResult, CaptureSpec, JobStatus
from service.domain.records import api_names, artifact_record, capture_stats
from service.domain.snapshot_config import parse_config
from service.events.payloads import JobSummary, final_status, routing_key, snapshot_complete
from service.media.shards import ShardPlan
from service.net.ssrf import parse_allow_list
from service.queue.relay import OutboxRelay
from service.storage.base import BlobStorage
from service.storage.inputs import readable
from service.store.jobs import Event, JobOutcome, JobRecord, JobStore
from service.store.media import MediaStore
from service.store.shards import ShardStore
from service.worker.attempt import Attempt, Delivery, LeasedStore
from service.worker.fanout import FANNED_OUT, FannedOut, FanOut
from service.worker.files import artifact_puts, put_files, scratch_dir
from service.worker.inputs import probed_asset
from service.worker.peers import Peers
from service.worker.pool import ExecutorSlot
from service.worker.sharded import capture_or_fan_out, shard_rule

log = logging.getLogger(__name__)


class JobHandler:
    def __init__(
        self,
        settings: Settings,
        jobs: JobStore,
        storage: BlobStorage,
        relay: OutboxRelay,
        executors: ExecutorSlot,
        owner: str,
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.storage = storage
        self.relay = relay
        #: the pool lives in a slot because a broken or stuck pool is replaced between jobs
        self.executors = executors
        self.owner = owner
        #: SNAPSHOTD_SSRF_ALLOW for the capture processes (which parse it themselves: it crosses as text)
        self.ssrf_allow = tuple(str(network) for network in parse_allow_list(settings.callbacks.ssrf_allow))
        #: Input.Type Media: the assets jobs name
        self.media = MediaStore(jobs.pool)
        #: big jobs, cut into shards any worker runs
        self.fanout = FanOut(settings, ShardStore(jobs.pool), storage, executors)
        #: the workers on the jobs queue (its broker session is set once it is open)
        self.peers = Peers()

    async def release(self, job_id: str) -> None:
        """Hand the job back (Processing → Init) for a retry."""
        await self.jobs.release(job_id, self.owner)

    async def handle(self, job_id: str) -> Delivery:
        job = await self.jobs.claim(job_id, self.owner, self.settings.worker.lease_s)
        if job is None:
            log.info("duplicate delivery skipped", extra={"action": "job_skipped", "job_id": job_id})
            return Delivery.ACK
        return await self.run_claimed(job, self.jobs)

    async def run_claimed(self, job: JobRecord, lease: LeasedStore) -> Delivery:
        """Run a job this worker holds the lease of (`lease` renews it and hands it back) to its end."""
        worker = self.settings.worker
        job_id = job.job_id
        started = time.monotonic()
        metrics.QUEUE_WAIT_SECONDS.observe(
            max(0.0, (job.start_time or job.submit_time).timestamp() - job.submit_time.timestamp())
        )
        log.info("job started", extra={"action": "job_started", "job_id": job_id, "attempt": job.attempts})
        attempt: Attempt[JobOutcome | FannedOut] = Attempt(
            lease,
            job_id,
            self.owner,
            job.attempts,
            worker.max_attempts,
            worker.lease_s,
            worker.job_timeout(int(job.template_config.get("Count", 1))),
            self.executors,
            "job",
            JobOutcome.failed,
        )
        outcome, delivery = await attempt.run(lambda: self._run(job))
        if not isinstance(outcome, JobOutcome):
            # handed back for a retry (None), or gone to its shards
            return delivery
        finished = await asyncio.shield(self._finish(job, outcome))
        if finished is not None and finished.fanout is not None:
            await self.fanout.tidy(finished)
        metrics.JOB_SECONDS.labels(job.type, outcome.status.value).observe(time.monotonic() - started)
        log.log(
            logging.INFO if outcome.status is JobStatus.SUCCESS else logging.WARNING,
            "job %s",
            outcome.status.value,
            extra={
                "action": "job_finished",
                "job_id": job_id,
                "status": outcome.status.value,
                "code": outcome.code,
                "duration_s": round(time.monotonic() - started, 3),
            },
        )
        return delivery

    async def capture_spec(self, job: JobRecord, scratch: str) -> CaptureSpec:
        """What a pool process needs to capture `job` (or a shard of it) into `scratch`."""
        config = parse_config(job.template_config, "TemplateConfig", max_count=self.settings.limits.max_count)
        output_ref = job.output_ref
        media = job.input["Media"]
        known_duration_ms: int | None = None
        if job.media_id is not None:
            # a media asset: its file, and what its probe measured already
            asset, probed = await probed_asset(self.media, job.media_id, "Input.Media")
            media = asset.source
            known_duration_ms = probed.capture_duration_ms if probed is not None else None
        where = await readable(self.storage, media, "Input.Media", self.ssrf_allow)
        return CaptureSpec(
            source=where.source,
            config=config,
            output_key=output_ref.key,
            scratch_dir=scratch,
            jpeg_quality=self.settings.worker.jpeg_quality,
            max_input_pixels=self.settings.input_pixel_limit,
            memory_budget_bytes=self.settings.worker.capture_memory_bytes,
            max_input_bytes=self.settings.limits.max_input_mb * 1024 * 1024,
            max_duration_ms=self.settings.limits.max_duration_s * 1000,
            decode_threads=self.settings.worker.decode_threads,
            ssrf_allow=where.ssrf_allow,
            known_duration_ms=known_duration_ms,
        )

    async def _run(self, job: JobRecord) -> JobOutcome | FannedOut:
        if job.fanout is not None:
            return await self.fanout.resume(job, self, self.owner)
        async with scratch_dir(f"job-{job.job_id}-", self.settings.worker.scratch_dir) as scratch:
            spec = await self.capture_spec(job, scratch)
            metrics.POOL_BUSY.inc()
            try:
                # across workers only when others could take shards now (`peers.py`): else its own
                # pool's shards are as fast, or sooner than shards queued behind other jobs
                rule = shard_rule(self.settings.worker, self.executors, fan_out=await self.peers.free())
                captured = await capture_or_fan_out(self.executors, spec, rule, job.job_id)
            finally:
                metrics.POOL_BUSY.dec()
            if isinstance(captured, ShardPlan):
                await self.fanout.start(job, captured, self.owner)
                self.relay.poke()  # the shards' dispatches are in the outbox: out now, not at the next poll
                return FANNED_OUT
            return await self.store_result(job, captured)

    async def store_result(self, job: JobRecord, result: CaptureResult) -> JobOutcome:
        """Upload a captured job's files under their final keys; the outcome that records them."""
        metrics.FRAMES_DECODED.inc(result.frames_decoded)
        metrics.BYTES_READ.inc(result.bytes_read)
        metrics.IMAGES_WRITTEN.inc(result.count)
        bucket = job.output_ref.bucket
        puts = artifact_puts(bucket, result.artifacts)
        await put_files(self.storage, puts, self.settings.worker.upload_concurrency)
        return JobOutcome(
            status=JobStatus.SUCCESS,
            count=result.count,
            images=[api_names(image) for image in result.images],
            dropped=[api_names(slot) for slot in result.dropped],
            artifacts=[artifact_record(a) for a in result.artifacts],
            stats=dict(capture_stats(result)),
        )

    async def _finish(self, job: JobRecord, outcome: JobOutcome) -> JobRecord | None:
        finished = await self.jobs.finish(job.job_id, self.owner, outcome, self.completion_event)
        if finished is None:
            log.warning("finish lost: another worker owns the job", extra={"job_id": job.job_id})
            return None
        self.relay.poke()
        return finished

    def completion_event(self, job: JobRecord) -> Event:
        envelope = snapshot_complete(
            {
                "JobId": job.job_id,
                "Status": final_status(job.status),
                "Code": job.code or "",
                "Message": job.message or "",
                "Type": job.type,
                "Count": job.count,
                "Output": job.output,
                "UserData": job.user_data or "",
                # the stats were written as CaptureStats (`domain/records.py`) when the job ran
                "Summary": cast(
                    JobSummary, {"Dropped": len(job.dropped), "Artifacts": len(job.artifacts), **job.stats}
                ),
            },
            user_id=self.settings.amqp.event_user_id,
        )
        return routing_key(envelope), dict(envelope), envelope["MessageId"]
