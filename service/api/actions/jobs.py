"""SubmitSnapshotJob, GetSnapshotJob, ListSnapshotJobs."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from service.api.actions.media import snapshot_asset
from service.api.actions.params import Params
from service.api.actions.schemas import SubmitRequest, encode_page_token, parse_list, parse_submit
from service.api.actions.views import job_view
from service.api.keys import JOBS, MEDIA, SETTINGS, SSRF_ALLOW, STORAGE, TEMPLATES, WAKE_RELAY
from service.domain.models import SnapshotConfig
from service.domain.notify import NOTIFY_FIELD, notify_address
from service.domain.snapshot_config import check_output_naming, merge_overrides, parse_config, to_ice
from service.domain.urls import check_http_url
from service.errors import JobNotFound, ResourceNotFound
from service.net.ssrf import check_url_for
from service.store.jobs import NewJob
from service.store.media import MediaRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Submission:
    """A SubmitSnapshotJob (or PlanSnapshotJob) request checked to the end: what a job would run."""

    submit: SubmitRequest
    config: SnapshotConfig
    output_key: str
    #: Input.Type Media: the live asset named
    asset: MediaRecord | None


async def check_submission(request: web.Request, params: Params) -> Submission:
    """Every check SubmitSnapshotJob makes before it stores a job; PlanSnapshotJob makes the same."""
    settings = request.app[SETTINGS]
    submit = parse_submit(params, settings.limits)
    template = await request.app[TEMPLATES].get_cached(submit.template_id)
    if template is None:
        raise ResourceNotFound.of("TemplateId", submit.template_id)
    merged = merge_overrides(template.config, submit.overrides)
    config = parse_config(merged, "TemplateConfig.OverwriteParams", max_count=settings.limits.max_count)
    output_key = submit.output.ref.key if submit.output.ref else ""  # outputs are always store objects
    check_output_naming(config, output_key, "Output.Media")
    allow = request.app[SSRF_ALLOW]
    asset: MediaRecord | None = None
    if submit.input.media_id is not None:
        asset = await snapshot_asset(request.app[MEDIA], submit.input.media_id, "Input.Media")
    elif submit.input.ref is None:
        # Fail fast on a URL pointing inside our network; the reader checks again at connect time.
        await check_url_for("Input.Media", submit.input.raw["Media"], allow)
    address = notify_address(submit.user_data)
    if address is not None:
        # A callback the guard would refuse at delivery time is refused now, naming the field.
        check_http_url(address, NOTIFY_FIELD)
        await check_url_for(NOTIFY_FIELD, address, allow, unresolvable_ok=True)
    return Submission(submit, config, output_key, asset)


async def submit_snapshot_job(request: web.Request, params: Params) -> dict[str, Any]:
    checked = await check_submission(request, params)
    submit, config = checked.submit, checked.config
    job = NewJob(
        job_id=uuid.uuid4().hex,
        name=submit.name,
        type=config.type.value,
        input=submit.input.raw,
        output=submit.output.raw,
        template_id=submit.template_id,
        template_config=to_ice(config),
        pipeline_id=submit.pipeline_id,
        user_data=submit.user_data,
        media_id=checked.asset.media_id if checked.asset else None,
    )
    # A paused pipeline's jobs wait in Init without a dispatch, and so do the jobs of an asset still being
    # probed; resuming the pipeline or the probe's end dispatches them.
    if not await request.app[JOBS].submit(job):
        raise ResourceNotFound.of("Pipeline", job.pipeline_id or "default")
    request.app[WAKE_RELAY]()
    # DEBUG: the request line already records the call; this costs a log line per job at high rates.
    log.debug("job accepted", extra={"action": "job_accepted", "job_id": job.job_id, "type": job.type})
    return {"JobId": job.job_id}


async def get_snapshot_job(request: web.Request, params: Params) -> dict[str, Any]:
    job_id = params.string("JobId", required=True) or ""
    job = await request.app[JOBS].get(job_id)
    if job is None:
        raise JobNotFound(f"The specified job {job_id} does not exist.")
    return {"SnapshotJob": job_view(job, _location(request), full=True)}


async def list_snapshot_jobs(request: web.Request, params: Params) -> dict[str, Any]:
    page = await request.app[JOBS].list(parse_list(params))
    location = _location(request)
    return {
        "Jobs": [job_view(job, location, full=False) for job in page.jobs],
        "NextPageToken": encode_page_token(page.after),
    }


def _location(request: web.Request) -> str:
    return request.app[STORAGE].location
