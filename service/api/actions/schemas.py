"""Validation of the snapshot-job actions' parameters: the only place requests are checked.

Each `parse_*` turns raw `Params` into a typed request or raises a 400 naming the parameter, so the
handlers below only deal with valid values.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from service.api.actions.params import Params
from service.config import LimitSettings
from service.domain.fields import Field
from service.domain.models import JobStatus, ObjectRef
from service.domain.request_fields import JOB_ORDER, JOB_PAGE_SIZE, JOB_STATUS, MEDIA_ID, NAME, PAGE_TOKEN
from service.domain.snapshot_config import drop_unset
from service.domain.urls import check_http_url, is_http_url, parse_media_url
from service.errors import InvalidParameter, MissingParameter, NotSupported
from service.store.jobs import JobFilter

#: Input.Type: an object URL, or (inputs only) a media asset's id
OSS, MEDIA = "OSS", "Media"


@dataclass(frozen=True, slots=True)
class MediaParam:
    """`Input` or `Output`: the raw object as given, and the (bucket, key) or media asset it names."""

    raw: dict[str, Any]
    #: the object in our store; None for an input read straight from an http(s) URL, or a media asset
    ref: ObjectRef | None
    #: Input.Type Media: the asset's id (its file is known once the asset is looked up)
    media_id: str | None = None


@dataclass(frozen=True, slots=True)
class SubmitRequest:
    name: str | None
    input: MediaParam
    output: MediaParam
    template_id: str
    overrides: dict[str, Any]
    pipeline_id: str | None
    user_data: str | None


def parse_submit(params: Params, limits: LimitSettings) -> SubmitRequest:
    """Check SubmitSnapshotJob's parameters (the snapshot config itself is checked after the merge)."""
    template_config = params.object("TemplateConfig", required=True) or {}
    template_id = template_config.get("TemplateId")
    if not template_id:
        raise MissingParameter.named("TemplateConfig.TemplateId")
    if not isinstance(template_id, str):
        raise InvalidParameter.named("TemplateConfig.TemplateId", "It must be a string.")
    overrides = template_config.get("OverwriteParams") or {}
    if not isinstance(overrides, dict):
        raise InvalidParameter.named("TemplateConfig.OverwriteParams", "It must be a JSON object.")
    if params.is_dotted("TemplateConfig"):
        overrides = drop_unset(overrides)
    schedule = params.object("ScheduleConfig") or {}
    pipeline_id = schedule.get("PipelineId") or None
    if pipeline_id is not None and not isinstance(pipeline_id, str):
        raise InvalidParameter.named("ScheduleConfig.PipelineId", "It must be a string.")
    user_data = params.string("UserData")
    if user_data is not None and len(user_data.encode()) > limits.max_user_data_bytes:
        raise InvalidParameter.named("UserData", f"It must be at most {limits.max_user_data_bytes} bytes.")
    return SubmitRequest(
        name=params.field(NAME),
        input=parse_input(params, "Input"),
        output=_media(params, "Output"),
        template_id=template_id,
        overrides=overrides,
        pipeline_id=pipeline_id,
        user_data=user_data,
    )


def parse_input(params: Params, name: str) -> MediaParam:
    """A job's Input: an object URL (`OSS`: oss://, s3://, OSS-hosted or any http(s) URL) or a media asset
    (`Media`: its MediaId, looked up by the action)."""
    return _media(params, name, allow_http=True, allow_asset=True)


def _media(params: Params, name: str, *, allow_http: bool = False, allow_asset: bool = False) -> MediaParam:
    raw = params.object(name, required=True) or {}
    media_type = raw.get("Type", OSS)
    if media_type == MEDIA and not allow_asset:
        raise NotSupported(
            f'{name}.Type "Media" (writing the images into a new media asset) is not supported; use "OSS" with an '
            "object URL. A job whose Input is a media asset is listed on that asset (GetMediaInfo) anyway."
        )
    if media_type not in (OSS, MEDIA):
        allowed = '"OSS" or "Media"' if allow_asset else '"OSS"'
        raise InvalidParameter.named(f"{name}.Type", f"It must be {allowed}; got {media_type!r}.")
    media = raw.get("Media")
    if not media:
        raise MissingParameter.named(f"{name}.Media")
    if not isinstance(media, str):
        raise InvalidParameter.named(f"{name}.Media", "It must be a string.")
    raw_media = {"Type": media_type, "Media": media}
    if media_type == MEDIA:
        if len(media) > (MEDIA_ID.max_length or 64) or not media.isprintable():
            raise InvalidParameter.named(f"{name}.Media", "It is not a MediaId this service issued.")
        return MediaParam(raw_media, None, media_id=media)
    if allow_http and is_http_url(media):
        check_http_url(media, f"{name}.Media")
        return MediaParam(raw_media, None)
    return MediaParam(raw_media, parse_media_url(media, f"{name}.Media"))


def parse_list(params: Params, page_size: Field = JOB_PAGE_SIZE) -> JobFilter:
    """ListSnapshotJobs' (and ListMediaInfoJobs') filters and paging."""
    status = params.field(JOB_STATUS)
    start = _time(params, "StartOfCreateTime")
    end = _time(params, "EndOfCreateTime")
    if start and end and start > end:
        raise InvalidParameter.named("StartOfCreateTime", "It must not be after EndOfCreateTime.")
    return JobFilter(
        status=JobStatus(status) if status else None,
        job_id=params.string("JobId"),
        start_of_create_time=start,
        end_of_create_time=end,
        descending=params.field(JOB_ORDER) == "CreateTimeDesc",
        page_size=params.field(page_size),
        after=decode_page_token(params.field(PAGE_TOKEN)),
    )


def parse_time(params: Params, name: str) -> datetime | None:
    """A UTC time parameter (`2024-01-02T00:00:00Z`), or None when absent."""
    return _time(params, name)


def _time(params: Params, name: str) -> datetime | None:
    value = params.string(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise InvalidParameter.named(name, "It must carry a time zone, e.g. a trailing Z.")
        # Normalising to UTC overflows for the first and last hours of the calendar: refuse those too.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidParameter.named(name, "It must be a UTC time like 2024-01-02T00:00:00Z.") from None


def encode_page_token(after: tuple[datetime, str] | None) -> str:
    """A NextPageToken/NextToken: where the next page starts (a keyset), opaque to clients; "" at the end."""
    if after is None:
        return ""
    created, ident = after
    raw = orjson.dumps([created.isoformat(), ident])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str | None, field: str = PAGE_TOKEN.name) -> tuple[datetime, str] | None:
    """The keyset a token names (None without one); InvalidParameter naming `field` for anything else."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        created, ident = orjson.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(ident)
    except (ValueError, TypeError) as exc:
        raise InvalidParameter.named(field, "It is not a token this service issued.") from exc
