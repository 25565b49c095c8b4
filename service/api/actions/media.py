"""The media library: RegisterMediaInfo, GetMediaInfo, BatchGetMediaInfos, ListMediaBasicInfos,
UpdateMediaInfo, DeleteMediaInfos.

Registering answers at once; the asset's file is probed by a worker (`worker/probe.py`) and its status
goes Init → Normal, or PrepareFail with the reason. The files are never touched: DeleteMediaInfos forgets
the assets only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from service.api.actions.media_views import media_info
from service.api.actions.params import Params
from service.api.actions.schemas import decode_page_token, encode_page_token, parse_time
from service.api.keys import MEDIA, SETTINGS, SSRF_ALLOW, STORAGE, WAKE_RELAY
from service.domain import request_fields as rf
from service.domain.media import MediaStatus, MediaType, source_of, type_of
from service.domain.urls import check_http_url, is_http_url
from service.errors import InvalidParameter, MediaAssetNotFound, MissingParameter, NotSupported
from service.net.ssrf import check_url_for
from service.store.media import MediaChanges, MediaFilter, MediaRecord, MediaStore, NewMedia

_REFERENCE_ID = re.compile(r"[A-Za-z0-9_-]{6,64}")
#: BatchGetMediaInfos and DeleteMediaInfos take at most this many ids (or URLs) per call
MAX_BATCH = 100


async def register_media_info(request: web.Request, params: Params) -> dict[str, Any]:
    url = params.field(rf.INPUT_URL, required=True)
    source = source_of(url, "InputURL")
    if is_http_url(url):
        # refused now, naming the field, rather than as a failed probe: the reader checks again on connect
        check_http_url(url, "InputURL")
        allow = request.app[SSRF_ALLOW]
        await check_url_for("InputURL", url, allow)
    new = NewMedia(
        input_url=url,
        source=source,
        media_type=_media_type(params) or type_of(url),
        title=params.field(rf.MEDIA_TITLE) or f"{datetime.now(UTC):%Y%m%d%H%M%S}",
        description=params.field(rf.MEDIA_DESCRIPTION) or "",
        cover_url=params.field(rf.COVER_URL) or "",
        media_tags=_tags(params.field(rf.MEDIA_TAGS)) or "",
        user_data=_user_data(request, params) or "",
        business_type=params.field(rf.BUSINESS_TYPE) or "",
        reference_id=_reference_id(params),
        client_token=params.field(rf.CLIENT_TOKEN),
    )
    registered = await request.app[MEDIA].register(new, overwrite=params.field(rf.OVERWRITE))
    if registered.created:
        request.app[WAKE_RELAY]()
    return {"MediaId": registered.media_id}


async def get_media_info(request: web.Request, params: Params) -> dict[str, Any]:
    store = request.app[MEDIA]
    asset = await _named_asset(store, params)
    snapshots = await store.finished_snapshots([asset.media_id])
    return {"MediaInfo": media_info(asset, snapshots[asset.media_id], request.app[STORAGE].location)}


async def batch_get_media_infos(request: web.Request, params: Params) -> dict[str, Any]:
    media_ids = _list(params.field(rf.MEDIA_IDS, required=True), "MediaIds")
    store = request.app[MEDIA]
    assets = await store.get_many(media_ids)
    snapshots = await store.finished_snapshots([a.media_id for a in assets])
    region = request.app[STORAGE].location
    found = {asset.media_id for asset in assets}
    return {
        "MediaInfos": [media_info(a, snapshots[a.media_id], region, times=False) for a in assets],
        "IgnoredList": [media_id for media_id in media_ids if media_id not in found],
    }


async def list_media_basic_infos(request: web.Request, params: Params) -> dict[str, Any]:
    start, end = parse_time(params, rf.MEDIA_START_TIME.name), parse_time(params, rf.MEDIA_END_TIME.name)
    if start and end and start > end:
        raise InvalidParameter.named("StartTime", "It must not be after EndTime.")
    media_type, status = params.field(rf.MEDIA_TYPE), params.field(rf.MEDIA_STATUS)
    query = MediaFilter(
        media_type=MediaType(media_type) if media_type else None,
        status=MediaStatus(status) if status else None,
        business_type=params.field(rf.BUSINESS_TYPE),
        media_id=params.field(rf.MEDIA_ID),
        start_time=start,
        end_time=end,
        descending=params.field(rf.MEDIA_SORT) == "desc",
        max_results=params.field(rf.MAX_RESULTS),
        after=decode_page_token(params.field(rf.NEXT_TOKEN), rf.NEXT_TOKEN.name),
    )
    store = request.app[MEDIA]
    page = await store.list(query)
    snapshots = await store.finished_snapshots([a.media_id for a in page.media])
    region = request.app[STORAGE].location
    with_files = params.field(rf.INCLUDE_FILE_BASIC_INFO)
    infos = []
    for asset in page.media:
        info = media_info(asset, snapshots[asset.media_id], region, streams=False)
        if not with_files:
            del info["FileInfoList"]
        infos.append(info)
    return {"MediaInfos": infos, "TotalCount": page.total, "NextToken": encode_page_token(page.after)}


async def update_media_info(request: web.Request, params: Params) -> dict[str, Any]:
    store = request.app[MEDIA]
    asset = await _named_asset(store, params)
    tags = _tags(params.field(rf.MEDIA_TAGS))
    if tags is not None and params.field(rf.APPEND_TAGS):
        tags = _tags(",".join(t for t in (asset.media_tags, tags) if t))
    changes = MediaChanges(
        title=params.field(rf.MEDIA_TITLE),
        description=params.field(rf.MEDIA_DESCRIPTION),
        cover_url=params.field(rf.COVER_URL),
        media_tags=tags,
        user_data=_user_data(request, params),
        reference_id=_reference_id(params),
        business_type=params.field(rf.BUSINESS_TYPE),
        category=params.field(rf.CATEGORY),
    )
    if await store.update(asset.media_id, changes) is None:
        raise MediaAssetNotFound.named("MediaId", asset.media_id)
    return {"MediaId": asset.media_id}


async def delete_media_infos(request: web.Request, params: Params) -> dict[str, Any]:
    if params.field(rf.DELETE_PHYSICAL_FILES):
        raise NotSupported('"DeletePhysicalFiles" is not supported: deleting an asset never deletes its file.')
    raw_ids, raw_urls = params.field(rf.MEDIA_IDS), params.field(rf.INPUT_URLS)
    if not raw_ids and not raw_urls:
        raise MissingParameter.named("MediaIds")
    media_ids = _list(raw_ids, "MediaIds") if raw_ids else []
    urls = _list(raw_urls, "InputURLs") if raw_urls else []
    sources = {url: source_of(url, "InputURLs") for url in urls}
    deleted = await request.app[MEDIA].delete(media_ids, list(sources.values()))
    gone_ids, gone_sources = {m for m, _ in deleted}, {s for _, s in deleted}
    request.app[WAKE_RELAY]()
    return {
        "IgnoredList": [m for m in media_ids if m not in gone_ids]
        + [url for url, source in sources.items() if source not in gone_sources],
        "ForbiddenList": [],
    }


async def snapshot_asset(store: MediaStore, media_id: str, field: str) -> MediaRecord:
    """The live asset a snapshot job names: 404 when unknown or deleted, 400 when it has no pictures."""
    asset = await store.get_live(media_id=media_id)
    if asset is None:
        raise MediaAssetNotFound.named(field, media_id)
    if asset.media_type is MediaType.AUDIO:
        raise InvalidParameter.named(field, f'The media asset "{media_id}" is audio: a snapshot needs video.')
    return asset


# --- parameters -------------------------------------------------------------------------------------


async def _named_asset(store: MediaStore, params: Params) -> MediaRecord:
    """The live asset named by MediaId or, without one, by InputURL (ICE: MediaId takes precedence)."""
    media_id = params.field(rf.MEDIA_ID)
    if media_id:
        asset = await store.get_live(media_id=media_id)
        if asset is None:
            raise MediaAssetNotFound.named("MediaId", media_id)
        return asset
    url = params.field(rf.INPUT_URL)
    if not url:
        raise MissingParameter.named("MediaId")
    asset = await store.get_live(source=source_of(url, "InputURL"))
    if asset is None:
        raise MediaAssetNotFound.named("InputURL", url)
    return asset


def _media_type(params: Params) -> MediaType | None:
    raw = params.get(rf.MEDIA_TYPE.name)
    if isinstance(raw, str) and raw.lower() == "text":
        raise NotSupported('MediaType "text" (subtitles and fonts) is not supported; register video, audio or image.')
    value = params.field(rf.MEDIA_TYPE)
    return MediaType(value) if value else None


def _tags(raw: str | None) -> str | None:
    """MediaTags normalised: trimmed, without duplicates, at most MAX_TAGS of MAX_TAG_BYTES each."""
    if raw is None:
        return None
    tags = list(dict.fromkeys(tag.strip() for tag in raw.split(",") if tag.strip()))
    if len(tags) > rf.MAX_TAGS:
        raise InvalidParameter.named("MediaTags", f"At most {rf.MAX_TAGS} tags are accepted; got {len(tags)}.")
    for tag in tags:
        if len(tag.encode()) > rf.MAX_TAG_BYTES:
            raise InvalidParameter.named("MediaTags", f"A tag is at most {rf.MAX_TAG_BYTES} bytes: {tag!r}.")
    return ",".join(tags)


def _reference_id(params: Params) -> str | None:
    value: str | None = params.field(rf.REFERENCE_ID)
    if value is not None and not _REFERENCE_ID.fullmatch(value):
        raise InvalidParameter.named("ReferenceId", "It must be 6-64 characters of A-Z, a-z, 0-9, '-' and '_'.")
    return value


def _user_data(request: web.Request, params: Params) -> str | None:
    value = params.string("UserData")
    limit = request.app[SETTINGS].limits.max_user_data_bytes
    if value is not None and len(value.encode()) > limit:
        raise InvalidParameter.named("UserData", f"It must be at most {limit} bytes.")
    return value


def _list(raw: str, name: str) -> list[str]:
    items = list(dict.fromkeys(item.strip() for item in raw.split(",") if item.strip()))
    if not items:
        raise MissingParameter.named(name)
    if len(items) > MAX_BATCH:
        raise InvalidParameter.named(name, f"At most {MAX_BATCH} are accepted per call; got {len(items)}.")
    return items
