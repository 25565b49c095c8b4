"""Who receives a finished job's event over HTTP: the service-wide SetEventCallback, when it subscribes to
the event, and ICE's per-job callback, `UserData.NotifyAddress` (an http(s) URL in the JSON UserData).
Pure: the store calls `callback_targets` with what it read, in the transaction that finishes the job."""

from __future__ import annotations

import orjson

NOTIFY_FIELD = "UserData.NotifyAddress"


def notify_address(user_data: str | None) -> str | None:
    """The per-job callback URL in `UserData.NotifyAddress`, when it is an http(s) URL."""
    if not user_data:
        return None
    try:
        parsed = orjson.loads(user_data)
    except orjson.JSONDecodeError:
        return None
    address = parsed.get("NotifyAddress") if isinstance(parsed, dict) else None
    if isinstance(address, str) and address.startswith(("http://", "https://")):
        return address
    return None


#: EventTypeList values that subscribe to every event (VOD's convention for ALL; empty means all too)
EVERY_EVENT = "ALL"


def subscribes(event_type_list: str, event_type: str) -> bool:
    """Whether a SetEventCallback's comma-separated EventTypeList takes `event_type`."""
    events = {name.strip() for name in event_type_list.split(",") if name.strip()}
    return not events or EVERY_EVENT in events or event_type in events


def callback_targets(
    callback: tuple[str, str, str, str, str] | None, user_data: str | None, event_type: str
) -> list[tuple[str, str]]:
    """(url, signing key) of every HTTP delivery a finished job owes. `callback` is the stored
    configuration as (type, url, event type list, auth switch, auth key), None when never set."""
    targets: list[tuple[str, str]] = []
    if callback is not None:
        callback_type, url, event_type_list, auth_switch, auth_key = callback
        if callback_type == "HTTP" and url and subscribes(event_type_list, event_type):
            targets.append((url, auth_key if auth_switch == "on" else ""))
    address = notify_address(user_data)
    if address and address not in {url for url, _ in targets}:
        targets.append((address, ""))
    return targets
