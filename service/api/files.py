"""`GET /files/{bucket}/{key}`: the local backend's objects behind expiring HMAC-signed URLs.

S3-compatible stores hand out presigned URLs themselves; a local directory cannot, so the API serves
it, and `GetSnapshotUrls` signs the URLs (`storage/signed_urls.py`). The URL is its own credential, so
this route sits outside the ICE signature check (the auth middleware lets `/files/` through).

- A bad or missing signature → 403 `AccessDenied.SignatureInvalid`; an authentic URL past its
  `Expires` → 403 `AccessDenied.Expired`. Both in ICE's error envelope, checked before any file access.
- The path is resolved by the local backend itself (`LocalStorage.readable_source`), which refuses
  any key that would leave its bucket directory, symlinks included.
- Content-Type comes from the extension (the local backend stores none; the worker only writes
  JPEGs and .vtt files). Range requests, HEAD and conditional GETs are aiohttp's `FileResponse`'s.
- With the s3 backend the route answers 404: those URLs point at the store, never here.

`storage_context` opens the blob store for the API and builds the URL signer. The signing key comes
from `SNAPSHOTD_URL_SIGNING_KEY`; when it is empty each process draws a random key at start-up, so URLs
die with the process and one replica cannot verify another's: several replicas need the setting.
"""

from __future__ import annotations

import logging
import math
import posixpath
import secrets
import time
from collections.abc import AsyncIterator

from aiohttp import web

from service.api.keys import SETTINGS, STORAGE, URL_SIGNER
from service.config import Settings
from service.domain.models import ObjectRef
from service.errors import FileNotFound, MediaNotFound, SignatureInvalid, UrlExpired
from service.storage.factory import open_storage
from service.storage.local import LocalStorage
from service.storage.signed_urls import EXPIRES_PARAM, FILES_PREFIX, SIGNATURE_PARAM, UrlSigner, Verdict

log = logging.getLogger(__name__)

#: the route's pattern; `{key:.+}` takes the rest of the path, slashes included
ROUTE = FILES_PREFIX + "{bucket}/{key:.+}"
#: random key size when none is configured: 256 bits, HMAC-SHA256's full strength
RANDOM_KEY_BYTES = 32
#: what the worker writes, by extension; anything else is served as opaque bytes
CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".vtt": "text/vtt; charset=utf-8"}
OCTET_STREAM = "application/octet-stream"


def url_signer_for(settings: Settings) -> UrlSigner:
    """The signer from settings; a random per-process key when none is configured."""
    configured = settings.http.url_signing_key
    base_url = settings.http.public_base_url
    if not configured and settings.storage.backend == "local":
        log.warning(
            "SNAPSHOTD_URL_SIGNING_KEY is empty: file URLs are signed with a random key of this process; "
            "they stop working on restart and on other replicas"
        )
    key = configured.encode() if configured else secrets.token_bytes(RANDOM_KEY_BYTES)
    return UrlSigner(key=key, base_url=base_url)


async def storage_context(app: web.Application) -> AsyncIterator[None]:
    """The API's blob store (for GetSnapshotUrls and /files/) and the local URL signer."""
    settings = app[SETTINGS]
    storage = await open_storage(settings.storage)
    app[STORAGE] = storage
    app[URL_SIGNER] = url_signer_for(settings)
    try:
        yield
    finally:
        await storage.aclose()


async def serve_file(request: web.Request) -> web.StreamResponse:
    bucket, key = request.match_info["bucket"], request.match_info["key"]
    query = request.rel_url.query
    expires = query.get(EXPIRES_PARAM, "")
    verdict = request.app[URL_SIGNER].verify(bucket, key, expires, query.get(SIGNATURE_PARAM, ""), time.time())
    if verdict is Verdict.BAD_SIGNATURE:
        raise SignatureInvalid()
    if verdict is Verdict.EXPIRED:
        raise UrlExpired()

    storage = request.app[STORAGE]
    if not isinstance(storage, LocalStorage):
        raise FileNotFound("Objects are served by the object store itself; this URL is not for this server.")
    try:
        # The backend's own resolution: validated key, symlinks followed, still inside the bucket.
        path = await storage.readable_source(ObjectRef(bucket, key))
    except MediaNotFound:
        raise FileNotFound(f"The object {bucket}/{key} does not exist.") from None

    suffix = posixpath.splitext(key)[1].lower()
    return web.FileResponse(
        path,
        headers={
            "Content-Type": CONTENT_TYPES.get(suffix, OCTET_STREAM),
            # Caches may keep it no longer than the URL lives; private: the URL is a credential.
            "Cache-Control": f"private, max-age={max(0, math.floor(int(expires) - time.time()))}",
            "X-Content-Type-Options": "nosniff",
        },
    )
