"""GetSnapshotUrls: expiring download URLs for a finished job's images and WebVTT track.

Parameters: `JobId` (required), `PageNumber` (1-based, default 1), `PageSize` (1–30, default 10),
`OrderBy` (`Asc` | `Desc`, default `Asc`), `Timeout` (URL lifetime in seconds, 1–129600, default 3600).
Response: `{Total, SnapshotUrls, WebVTTUrl}`.

Choices where ICE's documentation is silent:
- The images are the job's stored objects except the .vtt, in key order (`Desc` reverses it). Keys
  carry a zero-padded index (`00001.jpg`), so key order is capture order.
- `Total` counts stored image objects: for Sprite jobs (and WebVtt with `IsSptFrag`) that is the number
  of sheets, not of cells, because every URL names an object; cells are in GetSnapshotJob's `Images`.
- `WebVTTUrl` is the .vtt's URL for WebVtt jobs and "" for the others; it is not paged.
- A page past the end is an empty list, not an error (`Total` tells the client where the end is).
- Errors: unknown job → 404 `JobNotFound`; a job still `Init`/`Processing` → 400
  `InvalidParameter.JobNotFinished` (retry later); a `Fail`ed job → 400 `InvalidParameter.JobFailed`
  (its objects are incomplete and never will be).

URLs (`api/files/delivery.py`, one rule for every URL a player fetches): with the local backend, `/files/…`
URLs served by this API and signed with its URL key (`api/files/serve.py`), based at `SNAPSHOTD_PUBLIC_BASE_URL`
or, when that is empty, the request's own scheme and host; with the s3 backend, the store's own presigned
GET URLs (`X-Amz-Expires=<Timeout>`). `WebVTTUrl` is always such a `/files/` URL: the API serves the .vtt
with every image reference replaced by a URL of the same expiry, so a player can use it as it is, from a
private bucket and from a page of any origin.
"""

from __future__ import annotations

import asyncio
import posixpath
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from service.api.actions.params import Params
from service.api.files.serve import request_origin
from service.api.keys import DELIVERY, JOBS
from service.domain.models import JobStatus, ObjectRef
from service.domain.request_fields import URL_ORDER, URL_PAGE_NUMBER, URL_PAGE_SIZE, URL_TIMEOUT
from service.domain.urls import parse_media_url
from service.errors import JobFailed, JobNotFinished, JobNotFound
from service.store.jobs import JobRecord

VTT_CONTENT_TYPE = "text/vtt"
VTT_SUFFIX = ".vtt"

#: object key → its URL
Sign = Callable[[str], Awaitable[str]]


async def get_snapshot_urls(request: web.Request, params: Params) -> dict[str, Any]:
    job_id = params.string("JobId", required=True) or ""
    page_number = params.field(URL_PAGE_NUMBER)
    page_size = params.field(URL_PAGE_SIZE)
    order = params.field(URL_ORDER)
    timeout_s = params.field(URL_TIMEOUT)

    job = await request.app[JOBS].get(job_id)
    if job is None:
        raise JobNotFound(f"The specified job {job_id} does not exist.")
    if job.status is JobStatus.FAIL:
        raise JobFailed(f"The job {job_id} failed ({job.code}); it has no snapshots.")
    if job.status is not JobStatus.SUCCESS:
        raise JobNotFinished(f"The job {job_id} is {job.status.value}; try again once it is Success.")

    images, vtt = _split(job)
    if order == "Desc":
        images.reverse()
    start = (page_number - 1) * page_size
    page = images[start : start + page_size]
    bucket = parse_media_url(job.output["Media"], "Output.Media").bucket
    sign = _signer(request, bucket, timeout_s)
    urls = await asyncio.gather(*(sign(key) for key in page))
    return {
        "Total": len(images),
        "SnapshotUrls": list(urls),
        "WebVTTUrl": await sign(vtt) if vtt else "",
    }


def _split(job: JobRecord) -> tuple[list[str], str | None]:
    """(image keys in key order, the .vtt's key or None)."""
    images: list[str] = []
    vtt: str | None = None
    for artifact in job.artifacts:
        key = artifact["Key"]
        is_vtt = artifact.get("ContentType") == VTT_CONTENT_TYPE or posixpath.splitext(key)[1].lower() == VTT_SUFFIX
        if is_vtt:
            vtt = key
        else:
            images.append(key)
    images.sort()
    return images, vtt


def _signer(request: web.Request, bucket: str, timeout_s: int) -> Sign:
    """An async `key → URL`, every URL of one answer expiring at the same second (`api/files/delivery.py`)."""
    delivery = request.app[DELIVERY]
    origin = request_origin(request)
    now = time.time()
    expires = int(now) + timeout_s

    async def sign(key: str) -> str:
        return await delivery.url(ObjectRef(bucket, key), expires, origin=origin, now=now)

    return sign
