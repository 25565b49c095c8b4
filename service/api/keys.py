"""Typed application keys: every resource the handlers share lives under one of these."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from service.api.files.delivery import Delivery
from service.api.planner import Planner
from service.api.startup import Startup
from service.config import Settings
from service.queue.relay import OutboxRelay
from service.storage.base import BlobStorage
from service.storage.signed_urls import UrlSigner
from service.store.callbacks import CallbackStore
from service.store.jobs import JobStore
from service.store.media import MediaStore
from service.store.nonces import SharedNonces
from service.store.pipelines import PipelineStore
from service.store.probe_jobs import ProbeJobStore
from service.store.templates import TemplateStore

if TYPE_CHECKING:
    # Type-only: cors.py reads its key from here.
    from service.api.files.cors import CorsPolicy

SETTINGS = web.AppKey("settings", Settings)
#: SNAPSHOTD_SSRF_ALLOW, parsed once: the networks outbound URLs may reach despite the guard
SSRF_ALLOW = web.AppKey("ssrf_allow", tuple)
PG_POOL = web.AppKey("pg_pool", asyncpg.Pool)
JOBS = web.AppKey("jobs", JobStore)
TEMPLATES = web.AppKey("templates", TemplateStore)
PIPELINES = web.AppKey("pipelines", PipelineStore)
CALLBACKS = web.AppKey("callbacks", CallbackStore)
NONCES = web.AppKey("nonces", SharedNonces)
MEDIA = web.AppKey("media", MediaStore)
PROBE_JOBS = web.AppKey("probe_jobs", ProbeJobStore)
#: the API's own relay; None with SNAPSHOTD_API_RELAY=none (`snapshotd relay` processes publish)
RELAY: web.AppKey[OutboxRelay | None] = web.AppKey("relay")
#: "rows were committed to the outbox": wakes the API's relay, or NOTIFYs the relays elsewhere
WAKE_RELAY: web.AppKey[Callable[[], None]] = web.AppKey("wake_relay")
STARTUP = web.AppKey("startup", Startup)
STORAGE = web.AppKey("storage", BlobStorage)
URL_SIGNER = web.AppKey("url_signer", UrlSigner)
DELIVERY = web.AppKey("delivery", Delivery)
CORS: web.AppKey[CorsPolicy] = web.AppKey("cors")
#: PlanSnapshotJob's process pool, started at the first plan
PLANNER = web.AppKey("planner", Planner)

# Per-request storage.
REQUEST_ID = web.RequestKey("request_id", str)
ACTION = web.RequestKey("action", str)
ACCESS_KEY_ID = web.RequestKey("access_key_id", str)
#: the action a verified signature covers ("" when it names none); absent when authentication is off
SIGNED_ACTION = web.RequestKey("signed_action", str)
#: the raw query's pairs, parsed once (`actions/params.py` query_pairs)
QUERY_PAIRS = web.RequestKey("query_pairs", list[tuple[str, str]])
