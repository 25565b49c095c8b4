"""The API's composition root: `create_app(settings)` wires stores, broker and routes, without side
effects; the resources open in `cleanup_ctx` order (PostgreSQL, then RabbitMQ) and close in reverse.
Neither blocks start-up: both connect in the background (service/api/startup.py), so the API listens
and answers its probes while they are away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from service.api import health
from service.api.actions import ACTIONS, plan
from service.api.auth.authenticator import Authenticator, nonce_window_s
from service.api.docs import errors_page as docs_page
from service.api.docs import openapi
from service.api.docs.asyncapi import add_routes as add_asyncapi_routes
from service.api.files import preview
from service.api.files import serve as files
from service.api.keys import (
    CALLBACKS,
    JOBS,
    MEDIA,
    NONCES,
    PG_POOL,
    PIPELINES,
    PROBE_JOBS,
    RELAY,
    SETTINGS,
    SSRF_ALLOW,
    STARTUP,
    TEMPLATES,
    WAKE_RELAY,
)
from service.api.middleware import database_gate, error_middleware
from service.api.rest import routes as rest
from service.api.startup import Startup
from service.config import Settings
from service.net.ssrf import parse_allow_list
from service.queue.relay import RELAY_LANES, OutboxRelay
from service.queue.wakeup import OutboxNotifier
from service.signals import finish
from service.store.callbacks import CallbackStore
from service.store.jobs import JobStore
from service.store.media import MediaStore
from service.store.nonces import SharedNonces
from service.store.pipelines import PipelineStore
from service.store.pool import create_empty_pool
from service.store.probe_jobs import ProbeJobStore
from service.store.templates import TemplateStore

log = logging.getLogger(__name__)


async def pg_context(app: web.Application) -> AsyncIterator[None]:
    """An empty pool (no I/O): `startup_context` fills it."""
    pool = await create_empty_pool(app[SETTINGS].database)
    app[PG_POOL] = pool
    # Every store once, here: handlers take them from the app (the template store keeps the presets).
    app[JOBS] = JobStore(pool)
    app[TEMPLATES] = TemplateStore(pool)
    app[PIPELINES] = PipelineStore(pool)
    app[CALLBACKS] = CallbackStore(pool)
    app[MEDIA] = MediaStore(pool)
    app[PROBE_JOBS] = ProbeJobStore(pool)
    app[NONCES] = SharedNonces(pool, nonce_window_s(app[SETTINGS].auth))
    try:
        yield
    finally:
        await pool.close()


async def relay_context(app: web.Application) -> AsyncIterator[None]:
    """The outbox relay publishes accepted jobs; the API itself never waits on the broker.

    It has connections of its own (one per lane), so a batch waiting for its confirms never holds one a
    request is queued for, and requests never hold up the relay behind them in the pool's queue."""
    settings = app[SETTINGS]
    if settings.http.relay == "none":
        notifier = OutboxNotifier(app[PG_POOL])
        app[RELAY] = None
        app[WAKE_RELAY] = notifier.poke
        try:
            yield
        finally:
            await notifier.close()
        return
    relay_pool = await create_empty_pool(settings.database, max_size=RELAY_LANES)
    relay = OutboxRelay(
        relay_pool,
        settings.amqp,
        name="snapshotd-api",
        sweep_every_s=settings.worker.lease_s / 2,
        lanes=RELAY_LANES,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop), name="outbox relay")
    watch = asyncio.create_task(app[STARTUP].watch_broker(relay))
    app[RELAY] = relay
    app[WAKE_RELAY] = relay.poke
    try:
        yield
    finally:
        watch.cancel()
        stop.set()
        await asyncio.gather(watch, return_exceptions=True)
        await finish([task])
        await relay_pool.close()


async def startup_context(app: web.Application) -> AsyncIterator[None]:
    """Fill the pool now if PostgreSQL answers at once, else in the background (the relay is already
    connecting); hold both to SNAPSHOTD_STARTUP_TIMEOUT_S."""
    startup = app[STARTUP]
    tasks = [asyncio.create_task(startup.enforce_deadline(app[RELAY]))]
    if (watch := await startup.open_database(app[PG_POOL])) is not None:
        tasks.append(watch)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def create_app(settings: Settings) -> web.Application:
    """The aiohttp application serving ICE actions on `/` and health checks."""
    middlewares = [error_middleware, database_gate]
    if settings.auth.enabled:
        middlewares.append(Authenticator(settings.auth).middleware())
    else:
        log.warning("AUTHENTICATION IS OFF: every request is accepted unsigned (SNAPSHOTD_AUTH=%s)", settings.auth.mode)
    # aiohttp refuses larger bodies with 413 before reading them; error_middleware renders it ICE-style.
    # Request lines and headers: aiohttp's own refusal is a plain-text 400 the SDK cannot parse, so its
    # limit sits above ours (at the body's, the memory a request may take anyway) and error_middleware
    # refuses a long URL itself, in ICE's envelope. Only a line past the body limit meets aiohttp's 400.
    wire_limit = max(4 * settings.http.max_url_kb, settings.http.max_body_kb) * 1024
    app = web.Application(
        middlewares=middlewares,
        client_max_size=settings.http.max_body_kb * 1024,
        handler_args={"max_line_size": wire_limit, "max_field_size": wire_limit},
    )
    app[SETTINGS] = settings
    app[SSRF_ALLOW] = parse_allow_list(settings.callbacks.ssrf_allow)
    app[STARTUP] = Startup(settings)
    app.cleanup_ctx.extend([pg_context, relay_context, startup_context, files.storage_context, plan.planner_context])
    app.router.add_route("POST", "/", ACTIONS.dispatch)
    app.router.add_route("GET", "/", ACTIONS.dispatch)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", health.metrics_endpoint)
    files.add_routes(app)
    preview.add_routes(app)
    rest.add_routes(app.router)
    openapi.add_routes(app.router)
    docs_page.add_routes(app.router)
    add_asyncapi_routes(app.router)
    return app
