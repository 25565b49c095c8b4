"""CORS for every URL a player fetches: everything under `/files/` (storyboards, their images, and any
other delivered object), so a page on another origin than the API can load them.

- `SNAPSHOTD_CORS_ORIGINS` (`config.parse_origins`) decides `Access-Control-Allow-Origin`: `*` by
  default, because the URL's signature is the access control and no cookie is involved; with a list,
  the request's `Origin` is echoed when it is listed, and `Vary: Origin` keeps caches honest.
- Every response under `/files/` gets the headers, errors and 304s included, so a page's script can read
  a 403's ICE error body instead of an opaque network error.
- `Range` (and the conditional-request headers) may be sent, which needs a preflight; `Content-Range`,
  `Content-Length`, `Accept-Ranges` and `ETag` are exposed to scripts (players read them for byte ranges).
- Credentials are never allowed: `*` cannot be combined with them, and a signed URL needs none. Players
  must use `crossorigin="anonymous"` (the default for a plain `crossorigin` attribute).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import hdrs, web

from service.api.keys import CORS
from service.config import HttpSettings
from service.domain import cors as rules
from service.errors import OriginNotAllowed
from service.storage.signed_urls import FILES_PREFIX

ALLOWED_METHODS = ", ".join((*rules.ALLOWED_METHODS, "OPTIONS"))
ALLOWED_HEADERS = ", ".join(rules.ALLOWED_HEADERS)
EXPOSED_HEADERS = ", ".join(rules.EXPOSED_HEADERS)
#: what a preflight's answer depends on besides the URL
_PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """Which page origins may read delivered objects; `origins` None means any."""

    origins: frozenset[str] | None

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> CorsPolicy:
        return cls(settings.allowed_origins())

    def allows(self, origin: str | None) -> bool:
        return self.origins is None or (origin is not None and origin in self.origins)

    def headers(self, origin: str | None) -> dict[str, str]:
        """CORS headers of an actual (non-preflight) response to a request from `origin`."""
        if self.origins is None:
            return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED_HEADERS}
        if origin is None or origin not in self.origins:
            return {"Vary": "Origin"}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": EXPOSED_HEADERS,
            "Vary": "Origin",
        }

    def preflight_headers(self, origin: str) -> dict[str, str]:
        """Headers of the answer to an allowed preflight; the browser itself checks method and headers."""
        headers = {
            "Access-Control-Allow-Origin": "*" if self.origins is None else origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": str(rules.PREFLIGHT_MAX_AGE_S),
        }
        if self.origins is not None:
            headers["Vary"] = _PREFLIGHT_VARY
        return headers


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare` hook: the CORS headers of every `/files/` response that is not a preflight."""
    if not request.path.startswith(FILES_PREFIX) or hdrs.ACCESS_CONTROL_ALLOW_METHODS in response.headers:
        return
    for name, value in request.app[CORS].headers(request.headers.get(hdrs.ORIGIN)).items():
        if name == "Vary" and hdrs.VARY in response.headers:
            value = f"{response.headers[hdrs.VARY]}, {value}"
        response.headers[name] = value


async def preflight(request: web.Request) -> web.Response:
    """`OPTIONS` on a `/files/` URL. No signature is needed: a preflight carries no credentials and
    reveals nothing; the GET that follows is checked as usual."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None or hdrs.ACCESS_CONTROL_REQUEST_METHOD not in request.headers:
        # A plain OPTIONS (not a browser's preflight): say what the URL supports.
        return web.Response(status=204, headers={hdrs.ALLOW: ALLOWED_METHODS})
    policy = request.app[CORS]
    if not policy.allows(origin):
        raise OriginNotAllowed(f"The origin {origin} is not allowed to fetch this URL (SNAPSHOTD_CORS_ORIGINS).")
    return web.Response(status=204, headers=policy.preflight_headers(origin))
