"""ICE's per-job callback: `UserData` may be a JSON object whose `NotifyAddress` is an http(s) URL that
receives the job's completion event, besides the service-wide SetEventCallback. Pure."""

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
