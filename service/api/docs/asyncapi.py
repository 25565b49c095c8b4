"""The AsyncAPI 3.0 document of the events exchange, built from the event declarations, served at `/asyncapi.json`.

Channels (one per event type, addressed by its routing keys `<EventType>.{Status}`), messages and their
payload schemas come from `service.events.payloads.EVENT_TYPES` and its TypedDicts, and the exchange's
kind from `service.queue.topology`, so the document cannot list an event the service does not publish,
nor miss a field it sends. The exchange's name and virtual host are this deployment's settings.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from aiohttp import web

from service.api.envelope import JSON
from service.api.keys import SETTINGS
from service.events.payloads import EVENT_TYPES, Body, EventEnvelope, EventType
from service.events.schema import JsonSchema, json_schema
from service.queue.topology import EVENTS_EXCHANGE_DURABLE, EVENTS_EXCHANGE_TYPE

PATH = "/asyncapi.json"
ASYNCAPI_VERSION = "3.0.0"
#: the AMQP bindings' version (github.com/asyncapi/bindings, amqp/README.md)
AMQP_BINDING_VERSION = "0.3.0"


def event_schema(event: EventType) -> JsonSchema:
    """The whole message: the envelope, its EventType fixed, its MessageBody the event type's."""
    schema = json_schema(EventEnvelope, {Body: event.body})
    schema["title"] = f"{event.name}Event"
    properties = schema["properties"]
    properties["EventType"] = {**properties["EventType"], "const": event.name}
    properties["MessageBody"] = {"$ref": f"#/components/schemas/{event.body.__name__}"}
    return schema


def channel(event: EventType, exchange: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": f"{event.name}.{{Status}}",
        "title": event.name,
        "summary": event.summary,
        "parameters": {
            "Status": {
                "enum": list(event.statuses),
                "description": "The MessageBody's Status: bind to `" + event.name + ".*` for every one.",
            }
        },
        "messages": {event.name: {"$ref": f"#/components/messages/{event.name}"}},
        "bindings": {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": AMQP_BINDING_VERSION}},
    }


def operation(event: EventType) -> dict[str, Any]:
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{event.name}"},
        "title": f"Publish {event.name}",
        "summary": event.summary,
        "description": (
            "Published once the final state is committed (through the outbox, so at least once): persistent, "
            "not mandatory (an event nobody subscribed to is dropped), message_id = MessageId."
        ),
        "messages": [{"$ref": f"#/channels/{event.name}/messages/{event.name}"}],
        "bindings": {"amqp": {"deliveryMode": 2, "mandatory": False, "bindingVersion": AMQP_BINDING_VERSION}},
    }


def build_document(exchange_name: str, vhost: str = "/", events: tuple[EventType, ...] = EVENT_TYPES) -> dict[str, Any]:
    exchange = {
        "name": exchange_name,
        "type": EVENTS_EXCHANGE_TYPE.value,
        "durable": EVENTS_EXCHANGE_DURABLE,
        "autoDelete": False,
        "vhost": vhost,
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "snapshotd events",
            "version": "1",
            "description": (
                f"What snapshotd publishes on the AMQP topic exchange `{exchange_name}`: one JSON message per "
                "event, MNS-style (EventType, EventTime, UserId, MessageId, Version, MessageBody), routed by "
                "`<EventType>.<Status>`. HTTP callbacks (SetEventCallback, UserData.NotifyAddress) POST the "
                "same messages."
            ),
        },
        "defaultContentType": JSON,
        "channels": {event.name: channel(event, exchange) for event in events},
        "operations": {f"publish{event.name}": operation(event) for event in events},
        "components": {
            "messages": {
                event.name: {
                    "name": event.name,
                    "title": event.name,
                    "summary": event.summary,
                    "contentType": JSON,
                    "payload": {"$ref": f"#/components/schemas/{event.name}Event"},
                }
                for event in events
            },
            "schemas": {
                **{f"{event.name}Event": event_schema(event) for event in events},
                **{event.body.__name__: json_schema(event.body) for event in events},
            },
        },
    }


def vhost_of(amqp_url: str) -> str:
    """The virtual host an AMQP URL names (its path), `/` when it names none; never its credentials."""
    path = urlsplit(amqp_url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


@functools.cache
def document_bytes(exchange_name: str, vhost: str) -> bytes:
    """The document never changes while the process runs: serialise it once."""
    return orjson.dumps(build_document(exchange_name, vhost))


async def asyncapi_json(request: web.Request) -> web.Response:
    amqp = request.app[SETTINGS].amqp
    return web.Response(
        body=document_bytes(amqp.events_exchange, vhost_of(amqp.url)), content_type=JSON, charset="utf-8"
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(PATH, asyncapi_json)
