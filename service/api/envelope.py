"""ICE's response shapes: success bodies carry `RequestId`; errors are non-2xx JSON envelopes.

The SDK treats any 2xx as success, even with a `Code` in the body, so errors must never be 200;
and it needs a JSON body on every response, so nothing here answers 204 or an empty body.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from service.api.keys import REQUEST_ID
from service.errors import ServiceError

JSON = "application/json"
#: where an error's `Recommend` points: the service's own API reference
RECOMMEND = "https://github.com/snapshotd/snapshotd#errors"


def new_request_id() -> str:
    """ICE-shaped request id: an upper-case UUID."""
    return str(uuid.uuid4()).upper()


def ok(request: web.Request, body: dict[str, Any]) -> web.Response:
    payload = {"RequestId": request[REQUEST_ID], **body}
    return web.Response(body=orjson.dumps(payload), content_type=JSON, charset="utf-8")


def error(request: web.Request, exc: ServiceError, host_id: str) -> web.Response:
    payload = {
        "RequestId": request.get(REQUEST_ID) or new_request_id(),
        "HostId": host_id,
        "Code": exc.code,
        "Message": exc.message,
        "Recommend": RECOMMEND,
    }
    return web.Response(status=exc.status, body=orjson.dumps(payload), content_type=JSON, charset="utf-8")
