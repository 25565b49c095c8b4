"""Request-id and error handling: every failure leaves as ICE's error envelope, never a stack trace.

Order matters: `error_middleware` is outermost so that whatever a later middleware (the database
gate, authentication, rate limiting) or handler raises is rendered the same way.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from service import metrics
from service.api.envelope import error, new_request_id
from service.api.keys import ACTION, REQUEST_ID, SETTINGS, STARTUP
from service.api.open_paths import is_open
from service.errors import DatabaseUnavailable, InternalError, InvalidAction, RequestTooLarge, ServiceError

log = logging.getLogger(__name__)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[REQUEST_ID] = new_request_id()
    started = time.perf_counter()
    max_url = request.app[SETTINGS].http.max_url_kb * 1024
    try:
        if len(request.raw_path) > max_url:
            raise RequestTooLarge(
                f"The request URL has {len(request.raw_path)} bytes; at most {max_url} are accepted: "
                "send long parameters in a form or JSON body."
            )
        response = await handler(request)
    except ServiceError as exc:
        response = error(request, exc)
    except web.HTTPRequestEntityTooLarge:
        response = error(request, RequestTooLarge())
    except web.HTTPNotFound:
        response = error(request, InvalidAction(f"No route for {request.method} {request.path}."))
    except web.HTTPMethodNotAllowed:
        response = error(request, InvalidAction(f"{request.method} is not allowed on {request.path}."))
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error", extra={"request_id": request[REQUEST_ID]})
        response = error(request, InternalError())
    action = request.get(ACTION) or _route_name(request)
    metrics.REQUESTS.labels(action, str(response.status)).inc()
    metrics.REQUEST_SECONDS.labels(action).observe(time.perf_counter() - started)
    log.info(
        "%s %s -> %s",
        request.method,
        request.path,
        response.status,
        extra={
            "action": request.get(ACTION),
            "request_id": request[REQUEST_ID],
            "status": response.status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return response


@web.middleware
async def database_gate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Until the API's pool has reached PostgreSQL once, answer what needs it with a 503 at once,
    rather than let each request wait on a connection attempt (service/api/startup.py)."""
    if not request.app[STARTUP].database_ready and not is_open(request.path):
        raise DatabaseUnavailable("The service is starting: PostgreSQL is not reachable yet; try again shortly.")
    return await handler(request)


def _route_name(request: web.Request) -> str:
    """A bounded label for requests that carry no action: the route's pattern, never the raw path."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"
