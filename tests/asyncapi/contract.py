"""Checks an event against the AsyncAPI document: its exchange, its routing key's channel, its payload's schema.

The payload is validated with jsonschema (draft 7, which AsyncAPI's Schema Object extends) against the
document's own message payload, `$ref`s resolved inside the document. Validation is stricter than what
the document promises subscribers: every object the document declares field by field is closed here
(unless it says `additionalProperties` itself), so a field the code sends but the declarations lack
fails the test instead of passing as an allowed extra.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

#: the document's base URI inside the registry (any URI: the document is never fetched)
DOCUMENT_URI = "urn:snapshotd:asyncapi"


def _closed(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {key: _closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def channel_for(document: dict[str, Any], routing_key: str) -> tuple[str, dict[str, Any]]:
    """The channel whose address, its parameters replaced by their allowed values, matches the routing key."""
    for channel_id, channel in document["channels"].items():
        parameters = channel.get("parameters", {})

        def parameter(match: re.Match[str], parameters: dict[str, Any] = parameters) -> str:
            allowed = parameters[match.group(1)].get("enum")
            return "(" + "|".join(re.escape(v) for v in allowed) + ")" if allowed else "[^.]+"

        pattern = re.sub(r"\\\{(\w+)\\\}", parameter, re.escape(channel["address"]))
        if re.fullmatch(pattern, routing_key):
            return channel_id, channel
    raise AssertionError(f"no channel of the AsyncAPI document has the routing key {routing_key!r}")


def check_event(document: dict[str, Any], *, exchange: str, routing_key: str, payload: dict[str, Any]) -> None:
    """Fail unless the document describes this message: published where it says, shaped as it says."""
    channel_id, channel = channel_for(document, routing_key)
    published_on = channel["bindings"]["amqp"]["exchange"]["name"]
    assert published_on == exchange, f"channel {channel_id} is on {published_on!r}, the event came from {exchange!r}"
    strict = _closed(copy.deepcopy(document))
    registry = Registry().with_resource(DOCUMENT_URI, Resource(contents=strict, specification=DRAFT7))
    errors: list[str] = []
    for message_ref in channel["messages"].values():
        pointer = message_ref["$ref"] + "/payload"
        validator = Draft7Validator({"$ref": DOCUMENT_URI + pointer}, registry=registry)
        found = sorted(validator.iter_errors(payload), key=lambda e: list(e.absolute_path))
        if not found:
            return
        errors += [f"{pointer}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]
    raise AssertionError(f"the {routing_key} event matches no message of channel {channel_id}:\n" + "\n".join(errors))
