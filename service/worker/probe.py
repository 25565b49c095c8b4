"""One probe job, start to end: claim → probe in the pool → finish (asset, waiting jobs, event).

The same discipline as snapshot jobs (`handler.py`): a guarded claim with a lease renewed while the probe
runs, a time limit, transient failures handed back for another attempt, final writes under
`asyncio.shield`, and the outcome deciding what happens to the delivery (`Delivery`).
"""

from __future__ import annotations

import asyncio
import logging
import time

from service.config import Settings
from service.domain.media import MediaType, ProbeSpec, file_name_of
from service.domain.media_info import file_basic_info
from service.domain.models import JobStatus
from service.errors import ServiceError
from service.events.payloads import final_status, media_info_complete, routing_key
from service.media.probe import probe
from service.net.ssrf import parse_allow_list
from service.queue.relay import OutboxRelay
from service.storage.base import BlobStorage
from service.storage.inputs import readable
from service.store.media import MediaStore
from service.store.probe_jobs import Event, ProbeJobRecord, ProbeJobStore, ProbeOutcome
from service.worker.attempt import Attempt, Delivery
from service.worker.inputs import live_asset
from service.worker.pool import ExecutorSlot

log = logging.getLogger(__name__)


class ProbeHandler:
    def __init__(
        self,
        settings: Settings,
        probes: ProbeJobStore,
        media: MediaStore,
        storage: BlobStorage,
        relay: OutboxRelay,
        executors: ExecutorSlot,
        owner: str,
    ) -> None:
        self.settings = settings
        self.probes = probes
        self.media = media
        self.storage = storage
        self.relay = relay
        self.executors = executors
        self.owner = owner
        self.ssrf_allow = tuple(str(network) for network in parse_allow_list(settings.callbacks.ssrf_allow))

    async def release(self, job_id: str) -> None:
        """Hand the job back (Processing → Init) for a retry."""
        await self.probes.release(job_id, self.owner)

    async def handle(self, job_id: str) -> Delivery:
        worker = self.settings.worker
        job = await self.probes.claim(job_id, self.owner, worker.lease_s)
        if job is None:
            log.info("duplicate delivery skipped", extra={"action": "probe_skipped", "job_id": job_id})
            return Delivery.ACK
        started = time.monotonic()
        attempt = Attempt(
            self.probes,
            job_id,
            self.owner,
            job.attempts,
            worker.max_attempts,
            worker.lease_s,
            worker.job_timeout(1),
            self.executors,
            "probe",
            _failed,
        )
        outcome, delivery = await attempt.run(lambda: self._run(job))
        if outcome is None:
            return delivery
        await asyncio.shield(self._finish(job, outcome))
        log.log(
            logging.INFO if outcome.status is JobStatus.SUCCESS else logging.WARNING,
            "probe %s",
            outcome.status.value,
            extra={
                "action": "probe_finished",
                "job_id": job_id,
                "media_id": job.media_id,
                "status": outcome.status.value,
                "code": outcome.code,
                "duration_s": round(time.monotonic() - started, 3),
            },
        )
        return delivery

    async def _run(self, job: ProbeJobRecord) -> ProbeOutcome:
        media_type: MediaType | None = None
        url = str(job.input.get("Media", ""))
        if job.input.get("Type") == "Media":
            asset = await live_asset(self.media, url, "Input.Media")
            url, media_type = asset.source, asset.media_type
        where = await readable(self.storage, url, "Input.Media", self.ssrf_allow)
        spec = ProbeSpec(
            source=where.source,
            media_type=media_type,
            max_input_bytes=self.settings.limits.max_input_mb * 1024 * 1024,
            ssrf_allow=where.ssrf_allow,
        )
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self.executors(), probe, spec)
        return ProbeOutcome(JobStatus.SUCCESS, result=result)

    async def _finish(self, job: ProbeJobRecord, outcome: ProbeOutcome) -> None:
        url = str(job.input.get("Media", ""))
        if job.input.get("Type") == "Media":
            asset = await self.media.get(url)
            url = asset.input_url if asset is not None else ""

        def event(finished: ProbeJobRecord) -> Event:
            return self._completion_event(finished, url)

        if await self.probes.finish(job.job_id, self.owner, outcome, event) is None:
            log.warning("finish lost: another worker owns the probe", extra={"job_id": job.job_id})
            return
        self.relay.poke()

    def _completion_event(self, job: ProbeJobRecord, file_url: str) -> Event:
        """The MediaInfoComplete event; `file_url` is the file probed (an asset's InputURL)."""
        info = {}
        if job.result is not None:
            info = file_basic_info(
                job.result, file_name=file_name_of(file_url), file_url=file_url, region=self.storage.location
            )
            if job.media_id:
                info["MediaId"] = job.media_id
        envelope = media_info_complete(
            {
                "JobId": job.job_id,
                "MediaId": job.media_id or "",
                "Status": final_status(job.status),
                "Code": job.code or "",
                "Message": job.message or "",
                "Input": job.input,
                "TriggerSource": job.trigger_source,
                "UserData": job.user_data or "",
                "FileBasicInfo": info,
            },
            user_id=self.settings.amqp.event_user_id,
        )
        return routing_key(envelope), dict(envelope), envelope["MessageId"]


def _failed(exc: ServiceError) -> ProbeOutcome:
    return ProbeOutcome(JobStatus.FAIL, code=exc.code, message=exc.message)
