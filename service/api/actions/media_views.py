"""Media assets and probe jobs rendered as the SDK's models map them (GetMediaInfo's MediaInfo,
ListMediaBasicInfos' and BatchGetMediaInfos' items, the MediaInfoJob).

`Snapshots` and `SpriteImages` are strings in the SDK's models; here they are JSON text of a list, one
entry per successful snapshot job on the asset, oldest first: `{"JobId", "TemplateId", "Type", "Count",
"Output", "Urls"}` (every image or sheet object the job wrote, as oss:// URLs), and for sheets `TileCount`
(cells per sheet). Normal jobs and WebVtt jobs of single images go to Snapshots; Sprite jobs and WebVtt
jobs of sheets (IsSptFrag) to SpriteImages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from service.domain.media import FinishedSnapshot, file_name_of
from service.domain.media_info import audio_stream, file_basic_info, media_info_property, subtitle_stream, video_stream
from service.domain.urls import is_http_url, parse_media_url
from service.events.payloads import ice_time
from service.store.media import MediaRecord
from service.store.probe_jobs import ProbeJobRecord


def _snapshot_entries(snapshots: Sequence[FinishedSnapshot], *, sheets: bool) -> str:
    entries = []
    for job in snapshots:
        if bool(job.tile_count) is not sheets:
            continue
        bucket = parse_media_url(job.output, "Output.Media").bucket if job.output else ""
        entry: dict[str, Any] = {
            "JobId": job.job_id,
            "TemplateId": job.template_id,
            "Type": job.type,
            "Count": job.count,
            "Output": job.output,
            "Urls": [f"oss://{bucket}/{key}" for key in job.keys],
        }
        if sheets:
            entry["TileCount"] = job.tile_count
        entries.append(entry)
    return orjson.dumps(entries).decode()


def media_basic_info(asset: MediaRecord, snapshots: Sequence[FinishedSnapshot]) -> dict[str, Any]:
    """MediaBasicInfo: what was registered, the asset's status, and the snapshot jobs made of it."""
    view: dict[str, Any] = {
        "MediaId": asset.media_id,
        "InputURL": asset.input_url,
        "MediaType": asset.media_type.value,
        "BusinessType": asset.business_type,
        "Source": "general" if is_http_url(asset.source) else "oss",
        "Title": asset.title,
        "Description": asset.description,
        "Category": asset.category,
        "MediaTags": asset.media_tags,
        "CoverURL": asset.cover_url,
        "UserData": asset.user_data,
        "ReferenceId": asset.reference_id or "",
        "Status": asset.status.value,
        "Snapshots": _snapshot_entries(snapshots, sheets=False),
        "SpriteImages": _snapshot_entries(snapshots, sheets=True),
        "CreateTime": ice_time(asset.create_time),
        "ModifiedTime": ice_time(asset.modified_time),
        # extensions: why a probe failed
        "Code": asset.code or "",
        "Message": asset.message or "",
    }
    if asset.deleted_at is not None:
        view["DeletedTime"] = ice_time(asset.deleted_at)
    return view


def asset_file_basic_info(asset: MediaRecord, region: str, *, with_times: bool = True) -> dict[str, Any] | None:
    """The asset's FileBasicInfo once probed (BatchGetMediaInfos' model has no times); None before."""
    if asset.probe is None:
        return None
    info = file_basic_info(asset.probe, file_name=file_name_of(asset.source), file_url=asset.input_url, region=region)
    if with_times:
        info["CreateTime"] = ice_time(asset.create_time)
        info["ModifiedTime"] = ice_time(asset.modified_time)
    return info


def file_info_list(asset: MediaRecord, region: str, *, streams: bool, with_times: bool = True) -> list[dict[str, Any]]:
    """FileInfoList: the asset's one source file, with its streams (`streams`) or its basic info only."""
    info = asset_file_basic_info(asset, region, with_times=with_times)
    if info is None or asset.probe is None:
        return []
    item: dict[str, Any] = {"FileBasicInfo": info}
    if streams:
        item["VideoStreamInfoList"] = [video_stream(s) for s in asset.probe.video]
        item["AudioStreamInfoList"] = [audio_stream(s) for s in asset.probe.audio]
        item["SubtitleStreamInfoList"] = [subtitle_stream(s) for s in asset.probe.subtitle]
    return [item]


def media_info(
    asset: MediaRecord, snapshots: Sequence[FinishedSnapshot], region: str, *, streams: bool = True, times: bool = True
) -> dict[str, Any]:
    return {
        "MediaId": asset.media_id,
        "MediaBasicInfo": media_basic_info(asset, snapshots),
        "FileInfoList": file_info_list(asset, region, streams=streams, with_times=times),
    }


def media_info_job(job: ProbeJobRecord, file_url: str, region: str) -> dict[str, Any]:
    """The MediaInfoJob; `file_url` is the file probed (an asset's InputURL for a Media input)."""
    view: dict[str, Any] = {
        "JobId": job.job_id,
        "Name": job.name or "",
        "Status": job.status.value,
        "Async": True,
        "Input": {"Type": job.input.get("Type", "OSS"), "Media": job.input.get("Media", "")},
        "ScheduleConfig": {"PipelineId": job.pipeline_id, "Priority": job.priority},
        "TriggerSource": job.trigger_source,
        "UserData": job.user_data or "",
        "SubmitTime": ice_time(job.submit_time),
        # extensions: why a probe failed, and the asset it belongs to
        "Code": job.code or "",
        "Message": job.message or "",
        "MediaId": job.media_id or "",
    }
    if job.finish_time is not None:
        view["FinishTime"] = ice_time(job.finish_time)
    if job.result is not None:
        info = file_basic_info(job.result, file_name=file_name_of(file_url), file_url=file_url, region=region)
        if job.media_id:
            info["MediaId"] = job.media_id
        view["MediaInfoProperty"] = media_info_property(job.result, info)
    return view
