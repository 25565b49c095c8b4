"""Blob storage: the `BlobStorage` port and its local-directory and S3-compatible backends."""

from __future__ import annotations

from service.storage.base import BlobStorage
from service.storage.factory import open_storage
from service.storage.local import LocalStorage
from service.storage.s3 import S3Credentials, S3Storage

__all__ = ["BlobStorage", "LocalStorage", "S3Credentials", "S3Storage", "open_storage"]
