"""`GET /files/{bucket}/{key}`: delivered objects behind expiring HMAC-signed URLs, for players too.

What is served here (`api/files/delivery.py` decides which URL points where):
- with the local backend, every object (images, .vtt): a directory cannot presign, so the API serves it;
- with either backend, manifests (.vtt), rewritten so that each object they name is a signed (local)
  or presigned (s3) URL with the URL's own expiry. With the s3 backend, other objects answer 404: their
  URLs point at the store.

Rules, for every response under `/files/`:
- A bad or missing signature → 403 `AccessDenied.SignatureInvalid`; an authentic URL past its
  `Expires` → 403 `AccessDenied.Expired`. Both in ICE's error envelope, checked before any storage access.
  The URL is its own credential, so this route sits outside the ICE signature check (the auth middleware
  lets `/files/` through).
- The path is resolved by the local backend itself (`LocalStorage.readable_source`), which refuses
  any key that would leave its bucket directory, symlinks included.
- CORS on every answer and `OPTIONS` preflights (`api/files/cors.py`); `Cache-Control` bounded by the URL's
  expiry; `Content-Type` from the extension (the local backend stores none). Files: ETag, `If-None-Match`
  → 304, Range, HEAD are aiohttp's `FileResponse`'s. Manifests: a weak ETag and 304, HEAD; Range is
  ignored (a whole .vtt is a few kilobytes).

`storage_context` opens the blob store for the API and builds the URL signer. The signing key comes
from `SNAPSHOTD_URL_SIGNING_KEY`; when it is empty each process draws a random key at start-up, so URLs
die with the process and one replica cannot verify another's: several replicas need the setting.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator

from aiohttp import ETag, hdrs, web

from service.api.files import cors
from service.api.files.delivery import Delivery, cache_control, content_type, is_manifest
from service.api.keys import CORS, DELIVERY, SETTINGS, STORAGE, URL_SIGNER
from service.config import Settings
from service.domain.models import ObjectRef
from service.errors import FileNotFound, MediaNotFound, SignatureInvalid, UrlExpired
from service.storage.factory import open_storage
from service.storage.signed_urls import EXPIRES_PARAM, FILES_PREFIX, SIGNATURE_PARAM, UrlSigner, Verdict

log = logging.getLogger(__name__)

#: the route's pattern; `{key:.+}` takes the rest of the path, slashes included
ROUTE = FILES_PREFIX + "{bucket}/{key:.+}"
#: random key size when none is configured: 256 bits, HMAC-SHA256's full strength
RANDOM_KEY_BYTES = 32


def url_signer_for(settings: Settings) -> UrlSigner:
    """The signer from settings; a random per-process key when none is configured."""
    configured = settings.http.url_signing_key
    base_url = settings.http.public_base_url
    if not configured:
        log.warning(
            "SNAPSHOTD_URL_SIGNING_KEY is empty: file URLs are signed with a random key of this process; "
            "they stop working on restart and on other replicas"
        )
    key = configured.encode() if configured else secrets.token_bytes(RANDOM_KEY_BYTES)
    return UrlSigner(key=key, base_url=base_url)


async def storage_context(app: web.Application) -> AsyncIterator[None]:
    """The API's blob store (for GetSnapshotUrls and /files/), the URL signer and the delivery rules."""
    settings = app[SETTINGS]
    signer = url_signer_for(settings)
    storage = await open_storage(settings.storage, url_signer=signer)
    app[STORAGE] = storage
    app[URL_SIGNER] = signer
    app[DELIVERY] = Delivery(storage, signer)
    try:
        yield
    finally:
        await storage.aclose()


def add_routes(app: web.Application) -> None:
    """The /files/ route (GET and HEAD), its preflight, and the CORS hook over every /files/ answer."""
    app[CORS] = cors.CorsPolicy.from_settings(app[SETTINGS].http)
    app.router.add_get(ROUTE, serve_file)
    app.router.add_route("OPTIONS", ROUTE, cors.preflight)
    app.on_response_prepare.append(cors.add_cors_headers)


def request_origin(request: web.Request) -> str:
    """The scheme and host this request reached the API by (the base of URLs when none is configured)."""
    return str(request.url.origin())


async def serve_file(request: web.Request) -> web.StreamResponse:
    bucket, key = request.match_info["bucket"], request.match_info["key"]
    query = request.rel_url.query
    expires = query.get(EXPIRES_PARAM, "")
    now = time.time()
    verdict = request.app[URL_SIGNER].verify(bucket, key, expires, query.get(SIGNATURE_PARAM, ""), now)
    if verdict is Verdict.BAD_SIGNATURE:
        raise SignatureInvalid()
    if verdict is Verdict.EXPIRED:
        raise UrlExpired()

    ref = ObjectRef(bucket, key)
    headers = {
        hdrs.CONTENT_TYPE: content_type(key),
        hdrs.CACHE_CONTROL: cache_control(int(expires), now),
        "X-Content-Type-Options": "nosniff",
    }
    if is_manifest(key):
        return await _serve_manifest(request, ref, int(expires), headers)
    try:
        # The backend's own resolution: validated key, symlinks followed, still inside the bucket.
        path = await request.app[STORAGE].local_path(ref)
    except MediaNotFound:
        raise FileNotFound(f"The object {bucket}/{key} does not exist.") from None
    if path is None:
        raise FileNotFound("Objects are served by the object store itself; this URL is not for this server.")
    return web.FileResponse(path, headers=headers)


async def _serve_manifest(request: web.Request, ref: ObjectRef, expires: int, headers: dict[str, str]) -> web.Response:
    try:
        manifest = await request.app[DELIVERY].manifest(ref, expires, origin=request_origin(request))
    except MediaNotFound:
        raise FileNotFound(f"The object {ref.bucket}/{ref.key} does not exist.") from None
    etag = ETag(value=manifest.etag, is_weak=True)
    # If-None-Match compares weakly (RFC 9110 §13.1.2): the value alone decides.
    if any(tag.value in (etag.value, "*") for tag in request.if_none_match or ()):
        response = web.Response(status=304, headers={k: v for k, v in headers.items() if k != hdrs.CONTENT_TYPE})
    else:
        response = web.Response(body=manifest.body, headers=headers)
    response.etag = etag
    return response
