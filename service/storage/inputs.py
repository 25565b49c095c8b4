"""Where a job's input is read from: an object of the store, or a user's http(s) URL."""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.urls import is_http_url, parse_media_url
from service.storage.base import BlobStorage


@dataclass(frozen=True, slots=True)
class Readable:
    """What a pool process opens: a path or URL, and the SSRF allow list when it is a user's URL."""

    source: str
    ssrf_allow: tuple[str, ...] | None


async def readable(storage: BlobStorage, url: str, field: str, ssrf_allow: tuple[str, ...]) -> Readable:
    """A user's http(s) URL is read directly, every connection checked by the SSRF guard; a store object
    through the store (a path, or a presigned URL of our own store, which needs no guard)."""
    if is_http_url(url):
        return Readable(url, ssrf_allow)
    return Readable(await storage.readable_source(parse_media_url(url, field)), None)
