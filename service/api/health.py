"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: PostgreSQL and RabbitMQ work).

Both answer from the first moment the API listens: while it still waits for its dependencies at
start-up it is alive (200) and not ready (503). `/healthz` names the process that answered (`pid`):
with SNAPSHOTD_API_PROCESSES > 1 several share the port, and a probe can tell them apart.
"""

from __future__ import annotations

import asyncio
import logging
import os

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from service import metrics
from service.api.keys import PG_POOL, RELAY, STARTUP
from service.domain.models import JobStatus
from service.store.outbox import backlog as outbox_backlog

log = logging.getLogger(__name__)

JOBS_BY_STATE = "SELECT status, count(*) FROM jobs GROUP BY status"

#: a readiness probe must answer well inside the kubelet's default 1 s timeout
CHECK_TIMEOUT_S = 0.8


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "pid": os.getpid()})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    if not request.app[STARTUP].database_ready:
        checks["postgres"] = "down: not connected yet"
    else:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await request.app[PG_POOL].fetchval("SELECT 1")
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"down: {exc.__class__.__name__}"
    relay = request.app[RELAY]
    if relay is not None:  # with SNAPSHOTD_API_RELAY=none this process never talks to the broker
        checks["rabbitmq"] = "ok" if relay.connected else "down"
    ready = all(value == "ok" for value in checks.values())
    return web.json_response({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """Prometheus exposition; shared-state gauges are refreshed from PostgreSQL first, once it is reachable."""
    if request.app[STARTUP].database_ready:
        await _refresh_shared_state(request.app[PG_POOL])
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _refresh_shared_state(pool: asyncpg.Pool) -> None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            rows = await pool.fetch(JOBS_BY_STATE)
            waiting = await outbox_backlog(pool)
        counts = {row["status"]: row["count"] for row in rows}
        for state in JobStatus:
            metrics.JOBS_BY_STATE.labels(state.value).set(counts.get(state.value, 0))
        metrics.OUTBOX_BACKLOG.set(waiting)
    except Exception as exc:  # a scrape still shows the process's own metrics when the database is down
        log.warning("metrics: cannot read shared state: %r", exc)
