"""SetEventCallback / GetEventCallback: the one, service-wide event-callback configuration (ICE §8.1).

SetEventCallback replaces the whole configuration. CallbackType may be left out when the target makes
it obvious (a CallbackURL means HTTP, a CallbackQueueName means MNS). Parameters that do not apply to
the chosen type (the queue for HTTP; the URL and authentication for MNS) are ignored and stored as '',
so GetEventCallback shows the effective configuration; before any SetEventCallback every field is ''.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from yarl import URL

from service.api.actions.params import Params
from service.api.keys import CALLBACKS, SSRF_ALLOW
from service.errors import InvalidParameter, MissingParameter
from service.net.ssrf import check_url_for
from service.store.callbacks import CallbackConfig, CallbackStore

CALLBACK_TYPES = ("HTTP", "MNS")
#: ICE: at most 256 bytes, one URL only
MAX_URL_BYTES = 256
#: ICE: the MNS queue must start with this; MNS itself allows letters, digits and '-', 120 characters
QUEUE_NAME = re.compile(r"ice-callback-[A-Za-z0-9-]{1,107}")
#: event names are PascalCase identifiers (`SnapshotComplete`, `ProduceMediaComplete`, `ALL`)
EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
MAX_EVENT_LIST_CHARS = 1024
#: ICE: at most 32 characters, mixing upper case, lower case and digits
MAX_AUTH_KEY_CHARS = 32


def _store(request: web.Request) -> CallbackStore:
    return request.app[CALLBACKS]


def parse_callback(params: Params) -> CallbackConfig:
    """Check SetEventCallback's parameters and build the configuration to store."""
    url = params.string("CallbackURL")
    queue = params.string("CallbackQueueName")
    callback_type = params.string("CallbackType") or ("HTTP" if url else "MNS" if queue else None)
    if callback_type is None:
        raise MissingParameter.named("CallbackType")
    if callback_type not in CALLBACK_TYPES:
        raise InvalidParameter.named("CallbackType", "It must be HTTP or MNS.")
    events = _event_types(params.string("EventTypeList", max_length=MAX_EVENT_LIST_CHARS))
    if callback_type == "MNS":
        if queue is None:
            raise MissingParameter.named("CallbackQueueName")
        if not QUEUE_NAME.fullmatch(queue):
            raise InvalidParameter.named(
                "CallbackQueueName", 'It must start with "ice-callback-" and hold only letters, digits and "-".'
            )
        return CallbackConfig("MNS", callback_queue_name=queue, event_type_list=events)
    if url is None:
        raise MissingParameter.named("CallbackURL")
    _check_url(url)
    switch = (params.string("AuthSwitch") or "off").lower()
    if switch not in ("on", "off"):
        raise InvalidParameter.named("AuthSwitch", "It must be on or off.")
    key = params.string("AuthKey")
    if key is not None:
        _check_auth_key(key)
    elif switch == "on":
        raise MissingParameter.named("AuthKey")
    return CallbackConfig("HTTP", callback_url=url, event_type_list=events, auth_switch=switch, auth_key=key or "")


def _check_url(url: str) -> None:
    if len(url.encode()) > MAX_URL_BYTES:
        raise InvalidParameter.named("CallbackURL", f"It must be at most {MAX_URL_BYTES} bytes.")
    try:
        parsed = URL(url)
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidParameter.named("CallbackURL", "It must be one http:// or https:// URL.")


def _check_auth_key(key: str) -> None:
    if len(key) > MAX_AUTH_KEY_CHARS:
        raise InvalidParameter.named("AuthKey", f"It must be at most {MAX_AUTH_KEY_CHARS} characters.")
    if not (any(c.isupper() for c in key) and any(c.islower() for c in key) and any(c.isdigit() for c in key)):
        raise InvalidParameter.named("AuthKey", "It must mix upper-case letters, lower-case letters and digits.")


def _event_types(value: str | None) -> str:
    """Trimmed, de-duplicated, comma-joined event names; '' when none are given."""
    if value is None:
        return ""
    names = [name.strip() for name in value.split(",") if name.strip()]
    for name in names:
        if not EVENT_NAME.fullmatch(name):
            raise InvalidParameter.named("EventTypeList", f"{name!r} is not an event name.")
    return ",".join(dict.fromkeys(names))


async def set_event_callback(request: web.Request, params: Params) -> dict[str, Any]:
    config = parse_callback(params)
    if config.callback_url:
        # A URL the guard would refuse at every delivery is refused now, naming the parameter.
        allow = request.app[SSRF_ALLOW]
        await check_url_for("CallbackURL", config.callback_url, allow, unresolvable_ok=True)
    await _store(request).put(config)
    return {"Success": True}


async def get_event_callback(request: web.Request, params: Params) -> dict[str, Any]:
    config = await _store(request).get() or CallbackConfig("")
    return {
        "CallbackType": config.callback_type,
        "CallbackURL": config.callback_url,
        "CallbackQueueName": config.callback_queue_name,
        "EventTypeList": config.event_type_list,
        "AuthSwitch": config.auth_switch,
        "AuthKey": config.auth_key,
    }
