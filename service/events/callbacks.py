"""Sends HTTP callbacks: POST the event JSON, signed ICE-style, retried with back-off for hours.

Signing (ICE callback authentication, when AuthSwitch is on): `X-ICE-TIMESTAMP` is the UNIX time in
seconds and `X-ICE-SIGNATURE` the lowercase hex `md5("<CallbackURL>|<timestamp>|<AuthKey>")`.
A 2xx answer delivers; anything else (or no answer) schedules a retry, tripling the delay each time
up to an hour, until the attempts run out and the delivery is kept as Failed (replayable).
Redirects are not followed, and every address is checked by the SSRF guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import random
import time
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from service import metrics
from service.config import CallbackSettings
from service.domain.models import DeliveryStatus
from service.errors import BlockedAddress, DatabaseUnavailable, ServiceError
from service.net.resolver import GuardedResolver
from service.net.ssrf import check_address, parse_allow_list
from service.store.deliveries import Delivery, claim_due, record_attempt

log = logging.getLogger(__name__)

#: deliveries taken per round
BATCH = 20
#: longest pause between two attempts of one delivery
MAX_BACKOFF_S = 3600.0
#: how often the sender looks for due deliveries
POLL_S = 0.5


def signature_headers(url: str, auth_key: str, now: float | None = None) -> dict[str, str]:
    if not auth_key:
        return {}
    timestamp = str(int(now or time.time()))
    digest = hashlib.md5(f"{url}|{timestamp}|{auth_key}".encode(), usedforsecurity=False).hexdigest()
    return {"X-ICE-TIMESTAMP": timestamp, "X-ICE-SIGNATURE": digest}


def retry_delay(attempt: int, base_s: float) -> float:
    """Delay after the `attempt`-th failure: base·3^(attempt−1), capped, with ±20 % jitter."""
    return min(MAX_BACKOFF_S, base_s * 3.0 ** (attempt - 1)) * random.uniform(0.8, 1.2)


class CallbackSender:
    def __init__(self, pool: asyncpg.Pool, settings: CallbackSettings) -> None:
        self.pool = pool
        self.settings = settings
        self.allow = parse_allow_list(settings.ssrf_allow)

    async def run(self, stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.allow), limit=BATCH)
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while not stop.is_set():
                try:
                    due = await claim_due(self.pool, BATCH, hold_s=self.settings.timeout_s * 3)
                    await asyncio.gather(*(self.send(session, delivery) for delivery in due))
                except DatabaseUnavailable as exc:
                    log.warning("callback sender cannot reach the database: %r", exc)
                    due = []
                except Exception:
                    # A sender that dies silently stops every callback: log loudly and keep going.
                    log.exception("callback sender pass failed")
                    due = []
                if len(due) < BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), POLL_S)

    async def send(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        started = time.monotonic()
        status: int | None = None
        error = ""
        permanent = False
        try:
            host = urlsplit(delivery.url).hostname or ""
            if _is_ip(host):  # aiohttp skips the resolver for literal addresses
                check_address(host, self.allow, delivery.url)
            headers = {"Content-Type": "application/json", **signature_headers(delivery.url, delivery.auth_key)}
            async with session.post(
                delivery.url, json=delivery.body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                await response.read()
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except BlockedAddress as exc:
            # The guard refuses this address (its DNS changed since it was accepted): no retry can pass.
            error, permanent = exc.message, True
        except ServiceError as exc:
            error = exc.message
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        duration_ms = int((time.monotonic() - started) * 1000)
        attempt = delivery.attempts + 1
        if not error:
            outcome, retry_in = DeliveryStatus.DELIVERED, 0.0
        elif permanent or attempt >= self.settings.max_attempts:
            outcome, retry_in = DeliveryStatus.FAILED, 0.0
        else:
            outcome, retry_in = DeliveryStatus.PENDING, retry_delay(attempt, self.settings.backoff_s)
        metrics.CALLBACK_ATTEMPTS.labels(outcome).inc()
        await record_attempt(
            self.pool,
            delivery.delivery_id,
            status_code=status,
            error=error,
            duration_ms=duration_ms,
            outcome=outcome,
            retry_in_s=retry_in,
        )
        log.info(
            "callback %s",
            outcome,
            extra={"action": "callback_attempt", "job_id": delivery.job_id, "attempt": attempt, "error": error or None},
        )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
