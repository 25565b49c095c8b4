"""ICE's probe jobs: SubmitMediaInfoJob, GetMediaInfoJob, ListMediaInfoJobs.

A probe job describes a file (`Input.Type` OSS: any URL snapshotd reads) or a media asset's file
(`Input.Type` Media: the result is written to the asset too). It runs on the workers from the jobs
queue and announces its end with a MediaInfoComplete event and callback.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from service.api.actions.media_views import media_info_job
from service.api.actions.params import Params
from service.api.actions.schemas import encode_page_token, parse_input, parse_list
from service.api.keys import MEDIA, PROBE_JOBS, SETTINGS, SSRF_ALLOW, STORAGE, WAKE_RELAY
from service.domain import request_fields as rf
from service.errors import InvalidParameter, JobNotFound, MediaAssetNotFound
from service.net.ssrf import check_url_for
from service.store.probe_jobs import NewProbeJob, ProbeJobRecord, ProbeJobStore


async def submit_media_info_job(request: web.Request, params: Params) -> dict[str, Any]:
    media = parse_input(params, "Input")
    if media.media_id is not None:
        if await request.app[MEDIA].get_live(media_id=media.media_id) is None:
            raise MediaAssetNotFound.named("Input.Media", media.media_id)
    elif media.ref is None:
        allow = request.app[SSRF_ALLOW]
        await check_url_for("Input.Media", media.raw["Media"], allow)
    schedule = params.object("ScheduleConfig") or {}
    pipeline_id = schedule.get("PipelineId") or None
    if pipeline_id is not None and not isinstance(pipeline_id, str):
        raise InvalidParameter.named("ScheduleConfig.PipelineId", "It must be a string.")
    user_data = params.string("UserData")
    limit = request.app[SETTINGS].limits.max_user_data_bytes
    if user_data is not None and len(user_data.encode()) > limit:
        raise InvalidParameter.named("UserData", f"It must be at most {limit} bytes.")
    job = NewProbeJob(
        job_id=uuid.uuid4().hex,
        input=media.raw,
        media_id=media.media_id,
        name=params.field(rf.NAME),
        pipeline_id=pipeline_id,
        priority=rf.PROBE_PRIORITY.read(schedule, "ScheduleConfig"),
        user_data=user_data,
    )
    store = request.app[PROBE_JOBS]
    await store.submit(job)
    request.app[WAKE_RELAY]()
    return {"MediaInfoJob": await _view(request, await _get(store, job.job_id))}


async def get_media_info_job(request: web.Request, params: Params) -> dict[str, Any]:
    job_id = params.string("JobId", required=True) or ""
    return {"MediaInfoJob": await _view(request, await _get(request.app[PROBE_JOBS], job_id))}


async def list_media_info_jobs(request: web.Request, params: Params) -> dict[str, Any]:
    page = await request.app[PROBE_JOBS].list(parse_list(params, rf.PROBE_PAGE_SIZE))
    return {"Jobs": [await _view(request, job) for job in page.jobs], "NextPageToken": encode_page_token(page.after)}


async def _get(store: ProbeJobStore, job_id: str) -> ProbeJobRecord:
    job = await store.get(job_id)
    if job is None:
        raise JobNotFound(f"The specified job {job_id} does not exist.")
    return job


async def _view(request: web.Request, job: ProbeJobRecord) -> dict[str, Any]:
    file_url = str(job.input.get("Media", ""))
    if job.input.get("Type") == "Media" and job.result is not None:
        asset = await request.app[MEDIA].get(file_url)
        file_url = asset.input_url if asset is not None else ""
    return media_info_job(job, file_url, request.app[STORAGE].location)
