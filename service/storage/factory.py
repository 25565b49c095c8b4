"""Pick the blob-storage backend from settings; the composition roots call this once per process."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from service.storage.local import LocalStorage
from service.storage.s3 import S3Credentials, S3Storage
from service.storage.signed_urls import UrlSigner

if TYPE_CHECKING:
    from service.config import StorageSettings
    from service.storage.base import BlobStorage

log = logging.getLogger(__name__)


async def open_storage(
    settings: StorageSettings, *, credentials: S3Credentials | None = None, url_signer: UrlSigner | None = None
) -> BlobStorage:
    """Open the configured backend; close it with `aclose()`. `credentials` bypass botocore's chain
    (tests); `url_signer` signs the local backend's `/files/` URLs (the API passes its own)."""
    if settings.backend == "local":
        log.info("blob storage: local directory %s", settings.root)
        return LocalStorage(settings.root, url_signer)
    if settings.backend == "s3":
        return await S3Storage.open(settings, credentials=credentials)
    # Settings.validate() already refuses other values; this guards hand-built settings.
    raise ValueError(f"unknown storage backend {settings.backend!r}")
