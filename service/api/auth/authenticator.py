"""Authentication and per-key rate limiting for the ICE endpoint, as one middleware.

A request is let through when its signature verifies (V3 `Authorization` header, or RPC v1
`Signature` parameter), its signing time is within the allowed clock skew, its nonce has not been
seen within that window, and its access key has tokens left. Errors are ICE's:
`InvalidAccessKeyId.NotFound`, `SignatureDoesNotMatch`, `InvalidTimeStamp.Expired`,
`SignatureNonceUsed`, and 403 `Throttling.User` with `x-acs-retry-after` (the SDK then raises its
ThrottlingException).

Nonces are remembered in PostgreSQL by default (`SNAPSHOTD_NONCE_STORE=postgres`), so a replay is
refused by every replica; `memory` keeps them per process, one statement less per request, and is only
safe with a single API process. The rate limit's token buckets are per process either way.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from service.api.actions.params import FORM, form_pairs, query_pairs
from service.api.auth.signing import SignedRequest, Verified, verify_rpc_v1, verify_v3
from service.api.envelope import error
from service.api.files.preview import carries_link
from service.api.keys import ACCESS_KEY_ID, NONCES, SIGNED_ACTION
from service.api.open_paths import is_open
from service.config import AuthSettings
from service.errors import AuthError, NonceUsed, Throttled, TimestampExpired

#: nonces remembered at most (a bound on memory whatever the request rate)
MAX_NONCES = 1_000_000


class NonceCache:
    """Nonces seen within the window, oldest first; expired ones fall off as new ones arrive."""

    def __init__(self, window_s: float, capacity: int = MAX_NONCES) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self.seen: OrderedDict[str, float] = OrderedDict()

    def add(self, nonce: str, now: float) -> bool:
        """Record the nonce; False if it was already seen within the window."""
        while self.seen and (len(self.seen) >= self.capacity or next(iter(self.seen.values())) < now - self.window_s):
            self.seen.popitem(last=False)
        if nonce in self.seen:
            return False
        self.seen[nonce] = now
        return True


class TokenBuckets:
    """One token bucket per access key: `rate` tokens a second, at most `burst` saved."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float) -> float:
        """Take a token; return 0 when granted, else the seconds until one is available."""
        tokens, last = self.buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1:
            self.buckets[key] = (tokens - 1, now)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate


def signed_request(request: web.Request, body: bytes) -> SignedRequest:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        lowered = name.lower()
        headers[lowered] = f"{headers[lowered]},{value}" if lowered in headers else value
    form = form_pairs(body.decode("utf-8", "replace")) if request.content_type == FORM else []
    return SignedRequest(
        method=request.method,
        query=query_pairs(request),
        headers=headers,
        body=body,
        form=form,
        path=request.rel_url.raw_path,
    )


#: the one form of a signing time both SDK signers send (V3's x-acs-date, RPC's Timestamp)
SIGNING_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def parse_signing_time(value: str) -> float:
    # fromisoformat is C, once the layout is known to be exactly this one (strptime: 2 % of the API's CPU)
    try:
        if SIGNING_TIME.fullmatch(value) is None:
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise TimestampExpired(f"The signing time {value!r} is not of the form yyyy-MM-ddTHH:mm:ssZ.") from None
    return moment.timestamp()


def nonce_window_s(settings: AuthSettings) -> float:
    """How long a nonce is remembered: as long as a request carrying it would pass the time check."""
    return 2.0 * settings.clock_skew_s


class Authenticator:
    def __init__(self, settings: AuthSettings) -> None:
        self.keys = settings.keys()
        self.skew_s = settings.clock_skew_s
        self.window_s = nonce_window_s(settings)
        self.nonces = NonceCache(window_s=self.window_s)
        self.shared_nonces = settings.nonce_store == "postgres"
        self.buckets = TokenBuckets(settings.rate_per_s, settings.rate_burst) if settings.rate_per_s else None

    def verify(self, request: SignedRequest, now: float) -> Verified:
        if "authorization" in request.headers:
            verified = verify_v3(request, self.keys.get)
        elif any(key == "Signature" for key, _ in request.query) or any(k == "Signature" for k, _ in request.form):
            verified = verify_rpc_v1(request, self.keys.get)
        else:
            raise AuthError("The request is not signed: send an Authorization header or a Signature parameter.")
        signed_at = parse_signing_time(verified.timestamp)
        if abs(now - signed_at) > self.skew_s:
            raise TimestampExpired(
                f"The signing time {verified.timestamp} is more than {self.skew_s} s from the server's time."
            )
        return verified

    async def check_nonce(self, app: web.Application, verified: Verified, now: float) -> None:
        """Refuse a nonce seen within the window: in this process first, then across replicas."""
        key = f"{verified.access_key_id}:{verified.nonce}"
        fresh = self.nonces.add(key, now)
        if fresh and self.shared_nonces:
            fresh = await app[NONCES].remember(key)
        if not fresh:
            raise NonceUsed(f"The nonce {verified.nonce} was used before.")

    def middleware(self) -> web.middleware:  # type: ignore[valid-type]
        @web.middleware
        async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
            # Probes, docs and the preview page's scripts are open; /files/ URLs and preview links carry
            # their own signature (GetSnapshotUrls), checked by their handlers.
            if is_open(request.path) or carries_link(request):
                return await handler(request)
            # Read once: aiohttp keeps the bytes, and `read_params` takes the same ones from there.
            body = await request.read()
            now = time.time()
            verified = self.verify(signed_request(request, body), now)
            await self.check_nonce(request.app, verified, now)
            request[ACCESS_KEY_ID] = verified.access_key_id
            request[SIGNED_ACTION] = verified.action or ""
            if self.buckets is not None:
                wait_s = self.buckets.take(verified.access_key_id, time.monotonic())
                if wait_s:
                    response = error(request, Throttled())
                    response.headers["x-acs-retry-after"] = str(max(1, math.ceil(wait_s)))
                    return response
            return await handler(request)

        return authenticate
