"""How a stored object reaches a player: the URL it is fetched by, and what is served under it.

One rule for every object a player fetches (the storyboards, .vtt, .json, .m3u8, .bif, and their images):

- **URLs.** `Delivery.url(ref, expires, origin)` is valid until the unix time `expires`:
  - the local backend: `/files/{bucket}/{key}?Expires=…&Signature=…`, signed with the API's URL key
    (`storage/signed_urls.py`) and served by `api/files/serve.py`;
  - the s3 backend: a *manifest* (a file naming other objects, see `MANIFESTS`) gets the same kind of
    `/files/` URL, because only the API can rewrite it; any other object gets the store's presigned GET URL,
    whose lifetime ends at `expires` (to the second: the store stamps its own signing time) and which
    makes the store answer with a Cache-Control bounded by it.
- **Manifests** are served with every relative reference into their own folder (where the worker puts
  their images) replaced by such a URL of the *same* expiry, fragment (`#xywh=…`) kept, so a player
  handed one URL can fetch everything it names until that URL expires, from a private bucket too. Per-object signatures rather than one covering the job's prefix:
  S3's presigned URLs cannot cover a prefix, a URL grants exactly what the manifest lists, and every
  player resolves absolute URLs the same way (relative ones are resolved differently by each).
  The stored file keeps its relative references, so a public bucket or a CDN serves it as it is.
- **Caching.** `Cache-Control: private, max-age=<seconds left>`: no cache keeps a response past its URL's
  expiry, and shared caches keep none (the URL is a credential). A manifest's ETag is weak and derived from
  the stored bytes and the expiry: two answers for one URL name the same objects with the same expiry even
  when the store's presigned URLs differ by their signing second.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import posixpath
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from service.domain.image_formats import FORMATS
from service.domain.models import ObjectRef
from service.media import bif, hls, storyboard_json, webvtt
from service.storage.base import BlobStorage
from service.storage.signed_urls import UrlSigner

#: by extension: every image format the worker writes (`domain/image_formats.py`), the storyboards, and
#: the input videos the preview page plays (the local backend stores no Content-Type: this is it)
CONTENT_TYPES = {
    **{ext: fmt.content_type for fmt in FORMATS for ext in fmt.extensions},
    ".vtt": "text/vtt; charset=utf-8",
    ".json": f"{storyboard_json.CONTENT_TYPE}; charset=utf-8",
    ".m3u8": hls.CONTENT_TYPE,
    ".bif": bif.CONTENT_TYPE,
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
}
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ManifestFormat:
    """A text format whose references to other objects the API rewrites on the way out."""

    #: the references in file order (duplicates allowed)
    references: Callable[[str], list[str]]
    #: the text with the references found in the mapping replaced, everything else untouched
    rewrite: Callable[[str, Mapping[str, str]], str]


#: by extension: every trick-play format that names other objects (a BIF carries its JPEGs inside)
MANIFESTS: dict[str, ManifestFormat] = {
    ".vtt": ManifestFormat(webvtt.references, webvtt.rewrite_references),
    ".json": ManifestFormat(storyboard_json.references, storyboard_json.rewrite_references),
    ".m3u8": ManifestFormat(hls.references, hls.rewrite_references),
}


def suffix(key: str) -> str:
    return posixpath.splitext(key)[1].lower()


def content_type(key: str) -> str:
    return CONTENT_TYPES.get(suffix(key), OCTET_STREAM)


def is_manifest(key: str) -> bool:
    return suffix(key) in MANIFESTS


def cache_control(expires: int, now: float) -> str:
    """No cache may keep the response past the URL's expiry; `private`: the URL is a credential."""
    return f"private, max-age={max(0, math.floor(expires - now))}"


def referenced_key(manifest_key: str, reference: str) -> str | None:
    """The object key a relative reference in `manifest_key` names, or None when it is not one to sign:
    absolute URLs, host- or root-relative paths, queries, and anything outside the manifest's own
    folder. A manifest only ever names its own images, beside or below it (`media/naming.py`), so a
    signed manifest URL can never be turned into a signature for the rest of the bucket."""
    parts = urlsplit(reference)
    if not reference or parts.scheme or parts.netloc or parts.query or reference.startswith("/"):
        return None
    folder = posixpath.dirname(manifest_key)
    key = posixpath.normpath(posixpath.join(folder, unquote(parts.path)))
    inside = key.startswith(folder + "/") if folder else not (key in (".", "..") or key.startswith("../"))
    return key if inside else None


@dataclass(frozen=True, slots=True)
class Manifest:
    body: bytes
    #: the weak validator's opaque value (without `W/` and quotes)
    etag: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """URLs and manifest bodies for one backend; one per API process."""

    storage: BlobStorage
    signer: UrlSigner

    async def url(self, ref: ObjectRef, expires: int, *, origin: str, now: float | None = None) -> str:
        """The URL a client fetches `ref` by until the unix time `expires`: a manifest is always this
        API's (it rewrites it), any other object the store's download URL."""
        if is_manifest(ref.key):
            return self.signer.url(ref.bucket, ref.key, expires, origin=origin)
        now = time.time() if now is None else now
        return await self.storage.download_url(ref, expires, origin=origin, cache_control=cache_control(expires, now))

    async def manifest(self, ref: ObjectRef, expires: int, *, origin: str) -> Manifest:
        """The stored manifest with its relative references replaced by URLs expiring at `expires`."""
        stored = await self.storage.get_bytes(ref)
        digest = hashlib.sha256(stored)
        digest.update(f"\n{expires}\n{origin}".encode())
        text = stored.decode("utf-8", "surrogateescape")
        fmt = MANIFESTS[suffix(ref.key)]
        targets = {r: k for r in dict.fromkeys(fmt.references(text)) if (k := referenced_key(ref.key, r))}
        now = time.time()
        urls = await asyncio.gather(
            *(self.url(ObjectRef(ref.bucket, key), expires, origin=origin, now=now) for key in targets.values())
        )
        body = fmt.rewrite(text, dict(zip(targets, urls, strict=True)))
        return Manifest(body.encode("utf-8", "surrogateescape"), digest.hexdigest()[:40])
