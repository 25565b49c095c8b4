"""One job, start to end: claim → capture in the pool → upload → finish → event.

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
import shutil
import tempfile
import time
from typing import cast

from service import metrics
from service.config import Settings
from service.domain.models import CaptureResult, CaptureSpec, JobStatus, ObjectRef
from service.domain.records import api_names, artifact_record, capture_stats
from service.domain.snapshot_config import parse_config
from service.domain.urls import parse_media_url
from service.errors import ServiceError
from service.events.payloads import JobSummary, final_status, routing_key, snapshot_complete
from service.net.ssrf import parse_allow_list
from service.queue.relay import OutboxRelay
from service.storage.base import BlobStorage
from service.storage.inputs import readable
from service.store.jobs import Event, JobOutcome, JobRecord, JobStore
from service.store.media import MediaStore
from service.worker.attempt import Attempt, Delivery
from service.worker.inputs import probed_asset
from service.worker.pool import ExecutorSlot
from service.worker.sharded import run_capture, shard_rule

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

    async def release(self, job_id: str) -> None:
        """Hand the job back (Processing → Init) for a retry."""
        await self.jobs.release(job_id, self.owner)

    async def handle(self, job_id: str) -> Delivery:
        worker = self.settings.worker
        job = await self.jobs.claim(job_id, self.owner, worker.lease_s)
        if job is None:
            log.info("duplicate delivery skipped", extra={"action": "job_skipped", "job_id": job_id})
            return Delivery.ACK
        started = time.monotonic()
        metrics.QUEUE_WAIT_SECONDS.observe(
            max(0.0, (job.start_time or job.submit_time).timestamp() - job.submit_time.timestamp())
        )
        log.info("job started", extra={"action": "job_started", "job_id": job_id, "attempt": job.attempts})
        attempt = Attempt(
            self.jobs,
            job_id,
            self.owner,
            job.attempts,
            worker.max_attempts,
            worker.lease_s,
            worker.job_timeout(int(job.template_config.get("Count", 1))),
            self.executors,
            "job",
            _failed,
        )
        outcome, delivery = await attempt.run(lambda: self._run(job))
        if outcome is None:
            return delivery
        await asyncio.shield(self._finish(job, outcome))
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

    async def _run(self, job: JobRecord) -> JobOutcome:
        config = parse_config(job.template_config, "TemplateConfig", max_count=self.settings.limits.max_count)
        output_ref = parse_media_url(job.output["Media"], "Output.Media")
        media = job.input["Media"]
        known_duration_ms: int | None = None
        if job.media_id is not None:
            # a media asset: its file, and what its probe measured already
            asset, probed = await probed_asset(self.media, job.media_id, "Input.Media")
            media = asset.source
            known_duration_ms = probed.capture_duration_ms if probed is not None else None
        where = await readable(self.storage, media, "Input.Media", self.ssrf_allow)
        source, ssrf_allow = where.source, where.ssrf_allow
        scratch = tempfile.mkdtemp(prefix=f"job-{job.job_id}-", dir=self.settings.worker.scratch_dir or None)
        try:
            spec = CaptureSpec(
                source=source,
                config=config,
                output_key=output_ref.key,
                scratch_dir=scratch,
                jpeg_quality=self.settings.worker.jpeg_quality,
                max_input_pixels=self.settings.input_pixel_limit,
                memory_budget_bytes=self.settings.worker.capture_memory_bytes,
                max_input_bytes=self.settings.limits.max_input_mb * 1024 * 1024,
                max_duration_ms=self.settings.limits.max_duration_s * 1000,
                decode_threads=self.settings.worker.decode_threads,
                ssrf_allow=ssrf_allow,
                known_duration_ms=known_duration_ms,
            )
            metrics.POOL_BUSY.inc()
            try:
                rule = shard_rule(self.settings.worker, self.executors)
                result: CaptureResult = await run_capture(self.executors, spec, rule, job.job_id)
            finally:
                metrics.POOL_BUSY.dec()
            metrics.FRAMES_DECODED.inc(result.frames_decoded)
            metrics.BYTES_READ.inc(result.bytes_read)
            metrics.IMAGES_WRITTEN.inc(result.count)
            await self._upload(output_ref.bucket, result)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)
        return JobOutcome(
            status=JobStatus.SUCCESS,
            count=result.count,
            images=[api_names(image) for image in result.images],
            dropped=[api_names(slot) for slot in result.dropped],
            artifacts=[artifact_record(a) for a in result.artifacts],
            stats=dict(capture_stats(result)),
        )

    async def _upload(self, bucket: str, result: CaptureResult) -> None:
        """Every artifact under its final key; the same keys on a retry, so uploads are idempotent."""
        gate = asyncio.Semaphore(self.settings.worker.upload_concurrency)

        async def put(key: str, path: str, content_type: str) -> None:
            async with gate:
                with metrics.UPLOAD_SECONDS.time():
                    await self.storage.put_file(ObjectRef(bucket, key), path, content_type)

        try:
            async with asyncio.TaskGroup() as group:
                for artifact in result.artifacts:
                    group.create_task(put(artifact.key, artifact.path, artifact.content_type))
        except ExceptionGroup as failed:
            # The storage error (retryable or not) decides the job's fate, not the group around it.
            first: BaseException = failed
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            raise first from None

    async def _finish(self, job: JobRecord, outcome: JobOutcome) -> JobRecord | None:
        finished = await self.jobs.finish(job.job_id, self.owner, outcome, self._completion_event)
        if finished is None:
            log.warning("finish lost: another worker owns the job", extra={"job_id": job.job_id})
            return None
        self.relay.poke()
        return finished

    def _completion_event(self, job: JobRecord) -> Event:
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


def _failed(exc: ServiceError) -> JobOutcome:
    return JobOutcome(status=JobStatus.FAIL, code=exc.code, message=exc.message)
