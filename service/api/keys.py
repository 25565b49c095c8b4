"""Typed application keys: every resource the handlers share lives under one of these."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from service.api.startup import Startup
from service.config import Settings
from service.queue.relay import OutboxRelay
from service.storage.base import BlobStorage
from service.storage.signed_urls import UrlSigner
from service.store.jobs import JobStore

SETTINGS = web.AppKey("settings", Settings)
PG_POOL = web.AppKey("pg_pool", asyncpg.Pool)
JOBS = web.AppKey("jobs", JobStore)
RELAY = web.AppKey("relay", OutboxRelay)
STARTUP = web.AppKey("startup", Startup)
STORAGE = web.AppKey("storage", BlobStorage)
URL_SIGNER = web.AppKey("url_signer", UrlSigner)

# Per-request storage.
REQUEST_ID = web.RequestKey("request_id", str)
ACTION = web.RequestKey("action", str)
ACCESS_KEY_ID = web.RequestKey("access_key_id", str)
