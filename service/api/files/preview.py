"""`GET /v1/snapshot-jobs/{JobId}/preview`: a small HTML page to look at a job rather than read its JSON.

It shows the job's images or sheets (the first `MAX_IMAGES`), links its storyboards, and for WebVtt jobs
plays the input video in Plyr with the job's .vtt on the seek bar. Every URL in it is delivered like
GetSnapshotUrls' (`job_files.py`, `delivery.py`) and expires with the page's.

Who may open it: a request signed like every REST call (when access keys are set; `Timeout` then sets
how long the page's URLs live, default 3600 s), or anyone holding the link GetSnapshotUrls returns as
`PreviewUrl`: `?Expires=…&Signature=…` signed with the URL key (`storage/signed_urls.py`), so it can be
opened in a browser, which cannot sign requests. A bad or expired link is a 403 like a /files/ URL's.

The player is Plyr 3.8.4, vendored under `assets/` with its licence (the npm package's `dist/` files,
byte for byte: a test compares them with the pinned npm package the browser tests install). It is
vendored rather than fetched: no CDN (the page must work without the internet and leak nothing about
what is watched), and no Python package ships Plyr. Assets are public, versioned in their path, and
cached for a year. The page allows only its own scripts (Content-Security-Policy), reads its settings
from a JSON block, and sends no Referer (its URL is a credential).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from importlib import resources
from typing import Any

from aiohttp import hdrs, web

from service.api.files.delivery import cache_control
from service.api.files.job_files import JobFiles, Sign, signer
from service.api.keys import JOBS, URL_SIGNER
from service.domain.models import JobStatus, SnapshotType
from service.domain.request_fields import URL_TIMEOUT
from service.domain.urls import is_http_url, parse_media_url
from service.errors import FileNotFound, JobNotFound, SignatureInvalid, UrlExpired
from service.storage.signed_urls import EXPIRES_PARAM, SIGNATURE_PARAM, Verdict
from service.store.jobs import JobRecord

ROUTE = "/v1/snapshot-jobs/{JobId}/preview"
_ROUTE_RE = re.compile(r"^/v1/snapshot-jobs/[^/]+/preview$")
ASSETS_PREFIX = "/assets/"
PLYR = "plyr-3.8.4"
#: the files under /assets/, with their types; nothing else is served from there
ASSETS = {
    f"{PLYR}/plyr.min.js": "text/javascript; charset=utf-8",
    f"{PLYR}/plyr.css": "text/css; charset=utf-8",
    f"{PLYR}/plyr.svg": "image/svg+xml",
    f"{PLYR}/LICENSE.md": "text/markdown; charset=utf-8",
    "preview.js": "text/javascript; charset=utf-8",
    "preview.css": "text/css; charset=utf-8",
}
#: a page shows at most this many images (a 10,000-image job is not looked at one by one)
MAX_IMAGES = 100
#: the page sits at /v1/snapshot-jobs/{id}/preview: relative asset URLs keep working behind a path prefix
ASSET_BASE = "../../../assets/"
#: assets never change under one path (the version is in it)
ASSET_CACHE = "public, max-age=31536000, immutable"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src * data: blob:; media-src * blob:; "
    "connect-src *; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def path_of(job_id: str) -> str:
    return ROUTE.replace("{JobId}", job_id)


def carries_link(request: web.Request) -> bool:
    """A preview request holding a link signature: the handler checks it, not the ICE signature check."""
    query = request.rel_url.query
    return bool(_ROUTE_RE.match(request.path)) and EXPIRES_PARAM in query and SIGNATURE_PARAM in query


def add_routes(app: web.Application) -> None:
    app.router.add_get(ROUTE, preview)
    app.router.add_get(ASSETS_PREFIX + "{name:.+}", asset)


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in ASSETS:
        raise FileNotFound(f"There is no asset {name}.")
    with resources.as_file(resources.files(__package__).joinpath("assets", name)) as path:
        return web.FileResponse(
            path,
            headers={
                hdrs.CONTENT_TYPE: ASSETS[name],
                hdrs.CACHE_CONTROL: ASSET_CACHE,
                "X-Content-Type-Options": "nosniff",
            },
        )


def _expiry(request: web.Request, now: float) -> int:
    """The link's own expiry, checked; or, for a signed REST call, now + Timeout."""
    job_id, query = request.match_info["JobId"], request.rel_url.query
    if EXPIRES_PARAM in query or SIGNATURE_PARAM in query:
        expires = query.get(EXPIRES_PARAM, "")
        verdict = request.app[URL_SIGNER].verify_page(path_of(job_id), expires, query.get(SIGNATURE_PARAM, ""), now)
        if verdict is Verdict.BAD_SIGNATURE:
            raise SignatureInvalid()
        if verdict is Verdict.EXPIRED:
            raise UrlExpired()
        return int(expires)
    timeout_s: int = URL_TIMEOUT.read(dict(query), "")
    return int(now) + timeout_s


async def preview(request: web.Request) -> web.Response:
    now = time.time()
    expires = _expiry(request, now)
    job_id = request.match_info["JobId"]
    job = await request.app[JOBS].get(job_id)
    if job is None:
        raise JobNotFound(f"The specified job {job_id} does not exist.")
    body = await _page(request, job, expires)
    return web.Response(
        text=body,
        content_type="text/html",
        charset="utf-8",
        headers={
            hdrs.CACHE_CONTROL: cache_control(expires, now),
            "Content-Security-Policy": CSP,
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _video_url(request: web.Request, media: str, expires: int) -> str:
    if is_http_url(media):
        return media
    ref = parse_media_url(media, "Input.Media")
    return await signer(request, ref.bucket, expires)(ref.key)


async def _page(request: web.Request, job: JobRecord, expires: int) -> str:
    e = html.escape
    facts = f"{e(job.type)} · {e(job.status.value)} · {job.count} image(s)"
    parts = [
        "<!doctype html>",
        '<html lang="en">',
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>snapshotd · {e(job.job_id)}</title>",
        f'<link rel="stylesheet" href="{ASSET_BASE}{PLYR}/plyr.css">',
        f'<link rel="stylesheet" href="{ASSET_BASE}preview.css">',
        f"<h1>Job {e(job.job_id)}</h1>",
        f'<p class="facts">{facts}</p>',
    ]
    config: dict[str, Any] = {}
    if job.status is JobStatus.FAIL:
        parts.append(f'<p class="failed">{e(job.code or "")}: {e(job.message or "")}</p>')
    elif job.status is JobStatus.SUCCESS:
        files = JobFiles.of(job)
        sign = signer(request, files.bucket, expires)
        if job.type == SnapshotType.WEBVTT.value and "vtt" in files.storyboards:
            config = {
                "video": await _video_url(request, job.input["Media"], expires),
                "vtt": await sign(files.storyboards["vtt"]),
                "icons": f"{ASSET_BASE}{PLYR}/plyr.svg",
            }
            parts.append('<div class="player"><video id="player" crossorigin="anonymous" playsinline></video></div>')
        parts += await _images(files, sign)
        parts += await _storyboards(files, sign)
    else:
        parts.append("<p>Not finished yet: reload this page in a moment.</p>")
    # `</` cannot end the JSON block early: it is written `<\/` (still the same JSON)
    data = json.dumps(config).replace("</", "<\\/")
    parts += [
        f'<script type="application/json" id="preview-config">{data}</script>',
        f'<script src="{ASSET_BASE}{PLYR}/plyr.min.js"></script>',
        f'<script src="{ASSET_BASE}preview.js"></script>',
        "</html>",
    ]
    return "\n".join(parts) + "\n"


async def _images(files: JobFiles, sign: Sign) -> list[str]:
    shown = files.images[:MAX_IMAGES]
    urls = await asyncio.gather(*(sign(key) for key in shown))
    parts = ['<section class="images">']
    for key, url in zip(shown, urls, strict=True):
        name = html.escape(key.rsplit("/", 1)[-1])
        parts.append(f'<figure><img src="{html.escape(url)}" alt="{name}"><figcaption>{name}</figcaption></figure>')
    parts.append("</section>")
    if len(files.images) > len(shown):
        parts.append(f'<p class="more">and {len(files.images) - len(shown)} more (GetSnapshotUrls pages them)</p>')
    return parts


async def _storyboards(files: JobFiles, sign: Sign) -> list[str]:
    if not files.storyboards:
        return []
    names = list(files.storyboards)
    urls = await asyncio.gather(*(sign(files.storyboards[name]) for name in names))
    items = [
        f'<li>{name}: <a href="{html.escape(url)}">{html.escape(files.storyboards[name].rsplit("/", 1)[-1])}</a></li>'
        for name, url in zip(names, urls, strict=True)
    ]
    return ['<ul class="files">', *items, "</ul>"]
