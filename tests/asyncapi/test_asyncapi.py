"""`GET /asyncapi.json`: a valid AsyncAPI 3.0 document, read by the reference parser, derived from the event
declarations (service/events/payloads.py), and strict enough to catch a payload that strays from them.

The e2e tests check every event they receive against the served document (tests/e2e/conftest.py).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict, get_type_hints

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.api.app import create_app
from service.api.docs import asyncapi
from service.config import Settings
from service.domain.models import JobStatus
from service.events.payloads import (
    EVENT_TYPES,
    SNAPSHOT_COMPLETE,
    EventEnvelope,
    EventType,
    SnapshotCompleteBody,
    routing_key,
    snapshot_complete,
)
from service.events.schema import Doc, json_schema
from tests.asyncapi.conftest import parse
from tests.asyncapi.contract import check_event

EXCHANGE = "snapshotd.events"


def body(**changes: Any) -> SnapshotCompleteBody:
    base: SnapshotCompleteBody = {
        "JobId": "6f1c0000000000000000000000000000",
        "Status": JobStatus.SUCCESS,
        "Code": "",
        "Message": "",
        "Type": "Sprite",
        "Count": 3,
        "Output": {"Type": "OSS", "Media": "oss://media/out/{Count}.jpg"},
        "UserData": '{"k": "v"}',
        "Summary": {"Dropped": 0, "Artifacts": 1, "DurationMs": 12, "CaptureMs": 10},
    }
    return {**base, **changes}  # type: ignore[typeddict-item]


def event(**changes: Any) -> dict[str, Any]:
    """An event as the worker builds it, through JSON as subscribers get it."""
    built = snapshot_complete(body(**changes), user_id=7, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    decoded: dict[str, Any] = orjson.loads(orjson.dumps(built))
    return decoded


@pytest.fixture
def settings(base_env: dict[str, str]) -> Settings:
    """Authentication on: the document must still be served to an unsigned request."""
    return Settings.from_env({**base_env, "SNAPSHOTD_ACCESS_KEYS": "key:secret"})


@pytest.fixture
async def served(settings: Settings) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The document as the real app serves it, fetched without a signature."""
    async with TestClient(TestServer(create_app(settings))) as client:
        response = await client.get(asyncapi.PATH)
        return response.status, dict(response.headers), await response.json()


async def test_the_document_is_served_unsigned_as_json(
    served: tuple[int, dict[str, str], dict[str, Any]], settings: Settings
) -> None:
    status, headers, document = served

    assert status == 200, document
    assert headers["Content-Type"].startswith("application/json")
    assert document == asyncapi.build_document(settings.amqp.events_exchange)
    assert document["asyncapi"] == "3.0.0"
    # This deployment's exchange: the tests' own, from SNAPSHOTD_AMQP_EVENTS_EXCHANGE.
    channels = document["channels"]
    assert list(channels) == [event.name for event in EVENT_TYPES] == ["SnapshotComplete", "MediaInfoComplete"]
    for channel in channels.values():
        assert channel["bindings"]["amqp"]["exchange"]["name"] == settings.amqp.events_exchange


async def test_the_asyncapi_parser_reads_every_event_type_from_it(
    node: str, served: tuple[int, dict[str, str], dict[str, Any]], settings: Settings, tmp_path: Path
) -> None:
    _, _, document = served

    report = await parse(node, document, tmp_path)

    problems = [d for d in report["diagnostics"] if d["severity"] in ("error", "warning")]
    assert problems == [], problems
    assert report["version"] == "3.0.0"
    assert [c["id"] for c in report["channels"]] == [e.name for e in EVENT_TYPES]
    envelope_fields = set(get_type_hints(EventEnvelope))
    for channel, kind in zip(report["channels"], EVENT_TYPES, strict=True):
        assert channel["address"] == f"{kind.name}.{{Status}}"
        assert channel["parameters"] == {"Status": list(kind.statuses)}
        assert channel["amqp"]["is"] == "routingKey"
        assert channel["amqp"]["exchange"] == {
            "name": settings.amqp.events_exchange,
            "type": "topic",
            "durable": True,
            "autoDelete": False,
            "vhost": "/",
        }
        assert channel["operations"] == [{"id": f"publish{kind.name}", "action": "send"}]
        (message,) = channel["messages"]
        payload = message["payload"]
        # $refs resolved by the parser: the envelope, and inside it this event type's MessageBody.
        assert (message["id"], message["contentType"]) == (kind.name, "application/json")
        assert set(payload["properties"]) == envelope_fields == set(payload["required"])
        assert payload["properties"]["EventType"]["const"] == kind.name
        assert set(payload["properties"]["MessageBody"]["properties"]) == set(get_type_hints(kind.body))


async def test_the_parser_reports_a_broken_document(node: str, tmp_path: Path) -> None:
    document = asyncapi.build_document(EXCHANGE)
    broken = copy.deepcopy(document)
    del broken["channels"]["SnapshotComplete"]["address"]
    broken["channels"]["SnapshotComplete"]["messages"]["SnapshotComplete"]["$ref"] = "#/components/messages/Nope"

    report = await parse(node, broken, tmp_path)

    assert [d for d in report["diagnostics"] if d["severity"] == "error"], report["diagnostics"]


# --- derived from the declarations ------------------------------------------------------------------------


def test_routing_keys_are_the_event_type_and_its_final_statuses() -> None:
    assert SNAPSHOT_COMPLETE.routing_keys() == ("SnapshotComplete.Success", "SnapshotComplete.Fail")
    assert routing_key(snapshot_complete(body(Status=JobStatus.FAIL), user_id=0)) == "SnapshotComplete.Fail"


def test_every_field_of_the_body_is_in_the_document_with_its_description() -> None:
    schema = asyncapi.build_document(EXCHANGE)["components"]["schemas"]["SnapshotCompleteBody"]

    hints = get_type_hints(SnapshotCompleteBody, include_extras=True)
    assert list(schema["properties"]) == list(hints) == schema["required"]
    for name, hint in hints.items():
        (doc,) = [meta for meta in hint.__metadata__ if isinstance(meta, Doc)]
        assert schema["properties"][name]["description"] == doc.description
    assert schema["properties"]["Status"]["enum"] == ["Success", "Fail"]
    assert schema["properties"]["Type"]["enum"] == ["Normal", "Sprite", "WebVtt"]


class MediaInfoBody(TypedDict):
    """A made-up second event type."""

    MediaId: Annotated[str, Doc("The media.")]
    Status: Literal["Success", "Fail"]
    Bytes: Annotated[int, Doc("Size.", minimum=0)]


def test_a_new_event_type_is_one_declaration() -> None:
    extra = EventType("MediaInfoComplete", MediaInfoBody, "A media was probed.")

    document = asyncapi.build_document(EXCHANGE, events=(*EVENT_TYPES, extra))

    channel = document["channels"]["MediaInfoComplete"]
    assert channel["address"] == "MediaInfoComplete.{Status}"
    assert channel["parameters"]["Status"]["enum"] == ["Success", "Fail"]
    assert "publishMediaInfoComplete" in document["operations"]
    schemas = document["components"]["schemas"]
    assert schemas["MediaInfoBody"]["properties"]["Bytes"] == {"type": "integer", "description": "Size.", "minimum": 0}
    assert schemas["MediaInfoCompleteEvent"]["properties"]["MessageBody"] == {
        "$ref": "#/components/schemas/MediaInfoBody"
    }
    check_event(
        document,
        exchange=EXCHANGE,
        routing_key="MediaInfoComplete.Fail",
        payload={
            **event(),
            "EventType": "MediaInfoComplete",
            "MessageBody": {"MediaId": "m", "Status": "Fail", "Bytes": 1},
        },
    )


def test_an_unsupported_annotation_is_an_error_not_a_guess() -> None:
    with pytest.raises(TypeError, match="no JSON Schema"):
        json_schema(datetime)


# --- the check the e2e tests run on every event -----------------------------------------------------------


def test_an_event_the_code_builds_matches_the_document() -> None:
    document = asyncapi.build_document(EXCHANGE)
    for status in (JobStatus.SUCCESS, JobStatus.FAIL):
        payload = event(Status=status)
        check_event(document, exchange=EXCHANGE, routing_key=f"SnapshotComplete.{status}", payload=payload)


@pytest.mark.parametrize(
    ("routing", "payload", "complaint"),
    [
        ("SnapshotComplete.Success", {**event(), "Surprise": 1}, "Additional properties"),
        (
            "SnapshotComplete.Success",
            {**event(), "MessageBody": {**event()["MessageBody"], "Extra": "x"}},
            "Additional",
        ),
        ("SnapshotComplete.Success", {**event(), "MessageBody": {**event()["MessageBody"], "Count": -1}}, "minimum"),
        ("SnapshotComplete.Success", {**event(), "EventTime": "2026-01-02 03:04:05"}, "does not match"),
        ("SnapshotComplete.Success", {**event(), "EventType": "Other"}, "was expected"),
        ("SnapshotComplete.Processing", event(), "no channel"),
        ("TranscodeComplete.Success", event(), "no channel"),
    ],
)
def test_an_event_that_strays_from_the_document_fails_the_check(
    routing: str, payload: dict[str, Any], complaint: str
) -> None:
    document = asyncapi.build_document(EXCHANGE)

    with pytest.raises(AssertionError, match=complaint):
        check_event(document, exchange=EXCHANGE, routing_key=routing, payload=payload)


def test_a_missing_field_or_another_exchange_fails_the_check() -> None:
    document = asyncapi.build_document(EXCHANGE)
    missing = {**event(), "MessageBody": {k: v for k, v in event()["MessageBody"].items() if k != "UserData"}}

    with pytest.raises(AssertionError, match="'UserData' is a required property"):
        check_event(document, exchange=EXCHANGE, routing_key="SnapshotComplete.Success", payload=missing)
    with pytest.raises(AssertionError, match="elsewhere"):
        check_event(document, exchange="elsewhere", routing_key="SnapshotComplete.Success", payload=event())
