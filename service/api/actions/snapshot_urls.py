"""GetSnapshotUrls: expiring download URLs for a finished job's images and WebVTT track.

Parameters: `JobId` (required), `PageNumber` (1-based, default 1), `PageSize` (1–30, default 10),
`OrderBy` (`Asc` | `Desc`, default `Asc`), `Timeout` (URL lifetime in seconds, 1–129600, default 3600).
Response: `{Total, SnapshotUrls, WebVTTUrl}`, and our extensions `StoryboardUrls` (`{"json": url, "hls": url,
"bif": url}`, the formats the job's StoryboardFormats wrote), `HlsImageStreamInf` (the master playlist's
`#EXT-X-IMAGE-STREAM-INF` line pointing at the `hls` URL, "" without one) and `PreviewUrl` (the job's
preview page, `api/files/preview.py`), all expiring with the others.

Choices where ICE's documentation is silent:
- The images are the job's stored image objects (not its storyboards), in key order (`Desc` reverses it). Keys
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
GET URLs (`X-Amz-Expires=<Timeout>`). `WebVTTUrl` (and the json and hls storyboards) are always such `/files/` URLs: the API
serves them with every image reference replaced by a URL of the same expiry, so a player can use one as it
is, from a private bucket and from a page of any origin. A .bif carries its images inside.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from service.api.actions.params import Params
from service.api.files import preview
from service.api.files.job_files import JobFiles, signer
from service.api.files.serve import request_origin
from service.api.keys import JOBS, URL_SIGNER
from service.domain.models import JobStatus
from service.domain.request_fields import URL_ORDER, URL_PAGE_NUMBER, URL_PAGE_SIZE, URL_TIMEOUT
from service.errors import JobFailed, JobNotFinished, JobNotFound
from service.media import hls


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

    files = JobFiles.of(job)
    images = list(reversed(files.images)) if order == "Desc" else files.images
    start = (page_number - 1) * page_size
    page = images[start : start + page_size]
    expires = int(time.time()) + timeout_s
    sign = signer(request, files.bucket, expires)
    urls = await asyncio.gather(*(sign(key) for key in page))
    others = {name: key for name, key in files.storyboards.items() if name != "vtt"}
    storyboard_urls = dict(zip(others, await asyncio.gather(*(sign(key) for key in others.values())), strict=True))
    vtt = files.storyboards.get("vtt")
    return {
        "Total": len(images),
        "SnapshotUrls": list(urls),
        "WebVTTUrl": await sign(vtt) if vtt else "",
        "StoryboardUrls": storyboard_urls,
        "HlsImageStreamInf": hls.with_uri(files.stream_inf, storyboard_urls["hls"]) if files.stream_inf else "",
        "PreviewUrl": request.app[URL_SIGNER].page_url(
            preview.path_of(job_id), expires, origin=request_origin(request)
        ),
    }
