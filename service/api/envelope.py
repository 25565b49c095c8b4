"""ICE's response shapes: success bodies carry `RequestId`; errors are non-2xx JSON envelopes.

The SDK treats any 2xx as success, even with a `Code` in the body, so errors must never be 200;
and it needs a JSON body on every response, so nothing here answers 204 or an empty body.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from service.api.keys import REQUEST_ID, SETTINGS
from service.errors import ServiceError

JSON = "application/json"
#: the API's own error reference (`api/docs/errors_page.py`), where `Recommend` points unless SNAPSHOTD_DOCS_URL is set
ERRORS_PAGE = "/docs/errors"


def new_request_id() -> str:
    """ICE-shaped request id: an upper-case UUID."""
    return str(uuid.uuid4()).upper()


def ok(request: web.Request, body: dict[str, Any]) -> web.Response:
    payload = {"RequestId": request[REQUEST_ID], **body}
    return web.Response(body=orjson.dumps(payload), content_type=JSON, charset="utf-8")


def recommend(request: web.Request, code: str) -> str:
    """The link to `code`'s entry in the error reference, as the client can reach it."""
    http = request.app[SETTINGS].http
    base = http.docs_url or f"{(http.public_base_url or str(request.url.origin())).rstrip('/')}{ERRORS_PAGE}"
    return f"{base}#{code}"


def error(request: web.Request, exc: ServiceError) -> web.Response:
    payload = {
        "RequestId": request.get(REQUEST_ID) or new_request_id(),
        "HostId": request.app[SETTINGS].http.host_id,
        "Code": exc.code,
        "Message": exc.message,
        "Recommend": recommend(request, exc.code),
    }
    return web.Response(status=exc.status, body=orjson.dumps(payload), content_type=JSON, charset="utf-8")
