"""Jobs rendered as ICE's `SnapshotJob` objects (GetSnapshotJob / ListSnapshotJobs)."""

from __future__ import annotations

from typing import Any

import orjson

from service.domain.urls import is_http_url, parse_media_url
from service.events.payloads import ice_time
from service.store.jobs import JobRecord


def media_view(media: dict[str, Any], location: str, *, with_oss_file: bool) -> dict[str, Any]:
    view = {"Type": media.get("Type", "OSS"), "Media": media.get("Media", "")}
    # an http(s) URL and a media asset's id name no object of ours
    if with_oss_file and view["Type"] != "Media" and not is_http_url(view["Media"]):
        ref = parse_media_url(view["Media"], "Media")
        view["OssFile"] = {"Bucket": ref.bucket, "Location": location, "Object": ref.key}
    return view


def job_view(job: JobRecord, location: str, *, full: bool) -> dict[str, Any]:
    """The SnapshotJob object; `full` adds what only GetSnapshotJob returns (and our extensions)."""
    view: dict[str, Any] = {
        "JobId": job.job_id,
        "Name": job.name or "",
        "Status": job.status.value,
        "Count": job.count,
        "Type": job.type,
        "Input": media_view(job.input, location, with_oss_file=full),
        "Output": media_view(job.output, location, with_oss_file=full),
        "TemplateId": job.template_id,
        "PipelineId": job.pipeline_id,
        "TriggerSource": job.trigger_source,
        "Async": True,
        "CreateTime": ice_time(job.create_time),
        "SubmitTime": ice_time(job.submit_time),
        "ModifiedTime": ice_time(job.modified_time),
    }
    if job.finish_time is not None:
        view["FinishTime"] = ice_time(job.finish_time)
    if full:
        view["Code"] = job.code or ""
        view["Message"] = job.message or ""
        view["TemplateConfig"] = orjson.dumps(job.template_config).decode()
        view["UserData"] = job.user_data or ""
        # Extensions (ignored by the SDK's models): what was captured, exactly, and what was dropped.
        view["Images"] = job.images
        view["DroppedSlots"] = job.dropped
        # every file written: images, sheets and storyboards, with their Content-Type and size
        view["Artifacts"] = job.artifacts
        view["Attempts"] = job.attempts
        view["Stats"] = job.stats
        if job.shards_total:
            # a job fanned out across workers: its shards finished so far, of how many
            view["Progress"] = {"Done": job.shards_done, "Total": job.shards_total}
    return view
