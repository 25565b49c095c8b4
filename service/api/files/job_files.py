"""A finished job's files by role, and URLs for them that all expire at one second.

GetSnapshotUrls and the preview page both hand out these URLs (`api/files/delivery.py` decides where
each points), so both classify a job's `Artifacts` the same way: images (and sheets) in key order, the
.vtt, and the other storyboards by format.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from service.api.files.serve import request_origin
from service.api.keys import DELIVERY
from service.domain.image_formats import BY_EXTENSION, extension
from service.domain.models import ObjectRef
from service.media.naming import STORYBOARD_SUFFIXES
from service.store.jobs import JobRecord

#: storyboard file extension → format name (vtt, json, hls, bif)
STORYBOARD_FORMATS = {suffix: name for name, suffix in STORYBOARD_SUFFIXES.items()}

#: object key → its URL
Sign = Callable[[str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class JobFiles:
    bucket: str
    #: image and sheet keys, in key order (keys carry a zero-padded index: key order is capture order)
    images: list[str]
    #: format name → key, "vtt" included
    storyboards: dict[str, str] = field(default_factory=dict)
    #: the HLS image playlist's master line, URI relative ("" without one)
    stream_inf: str = ""

    @classmethod
    def of(cls, job: JobRecord) -> JobFiles:
        images: list[str] = []
        storyboards: dict[str, str] = {}
        stream_inf = ""
        for artifact in job.artifacts:
            key = artifact["Key"]
            ext = extension(key)
            if ext in BY_EXTENSION:
                images.append(key)
            elif ext in STORYBOARD_FORMATS:
                storyboards[STORYBOARD_FORMATS[ext]] = key
                stream_inf = stream_inf or artifact.get("StreamInf", "")
        images.sort()
        return cls(job.output_ref.bucket, images, storyboards, stream_inf)


def signer(request: web.Request, bucket: str, expires: int) -> Sign:
    """An async `key → URL` for objects of `bucket`, every URL expiring at the unix time `expires`."""
    delivery = request.app[DELIVERY]
    origin = request_origin(request)
    now = time.time()

    async def sign(key: str) -> str:
        return await delivery.url(ObjectRef(bucket, key), expires, origin=origin, now=now)

    return sign
