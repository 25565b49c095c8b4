"""SetEventCallback / GetEventCallback against the real app: one configuration, replaced as a whole,
every field as a string, and every refusal naming its parameter."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from alibabacloud_ice20201109 import models
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi.models import Config

from tests.ice import call

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

FIELDS = ("CallbackType", "CallbackURL", "CallbackQueueName", "EventTypeList", "AuthSwitch", "AuthKey")
HTTP = {
    "CallbackType": "HTTP",
    "CallbackURL": "https://hooks.example.com/ice?a=1&b=2",
    "EventTypeList": "SnapshotComplete,TranscodeComplete",
    "AuthSwitch": "on",
    "AuthKey": "TestKey001",
}


async def current(api: TestClient) -> dict[str, Any]:
    status, body = await call(api, "GetEventCallback")
    assert status == 200, body
    assert set(body) == {"RequestId", *FIELDS}
    return {k: v for k, v in body.items() if k != "RequestId"}


async def test_never_set_is_all_empty_strings(api: TestClient) -> None:
    assert await current(api) == dict.fromkeys(FIELDS, "")


async def test_http_round_trip(api: TestClient) -> None:
    status, body = await call(api, "SetEventCallback", **HTTP)

    assert (status, body["Success"]) == (200, True)
    assert await current(api) == {**HTTP, "CallbackQueueName": ""}


async def test_set_replaces_the_whole_configuration(api: TestClient) -> None:
    await call(api, "SetEventCallback", **HTTP)

    status, _ = await call(
        api, "SetEventCallback", CallbackType="MNS", CallbackQueueName="ice-callback-snaps", AuthKey="Ignored1"
    )

    assert status == 200
    # HTTP-only fields do not apply to MNS and are cleared; so is the event list that was not resent
    assert await current(api) == {
        "CallbackType": "MNS",
        "CallbackURL": "",
        "CallbackQueueName": "ice-callback-snaps",
        "EventTypeList": "",
        "AuthSwitch": "",
        "AuthKey": "",
    }


async def test_type_is_inferred_and_auth_defaults_off(api: TestClient) -> None:
    await call(
        api,
        "SetEventCallback",
        CallbackURL="http://hooks.example.com:8080/cb",
        EventTypeList=" SnapshotComplete , ,SnapshotComplete,ALL",
    )

    got = await current(api)
    assert (got["CallbackType"], got["CallbackURL"]) == ("HTTP", "http://hooks.example.com:8080/cb")
    assert got["EventTypeList"] == "SnapshotComplete,ALL"
    assert (got["AuthSwitch"], got["AuthKey"]) == ("off", "")

    await call(api, "SetEventCallback", CallbackQueueName="ice-callback-q1")
    assert (await current(api))["CallbackType"] == "MNS"


BAD = [
    ("nothing to go on", {}, "MissingParameter", "CallbackType"),
    ("unknown type", {"CallbackType": "SMS", "CallbackURL": "http://a.b/"}, "InvalidParameter", "CallbackType"),
    ("HTTP without URL", {"CallbackType": "HTTP"}, "MissingParameter", "CallbackURL"),
    ("not http", {"CallbackType": "HTTP", "CallbackURL": "ftp://a.b/c"}, "InvalidParameter", "CallbackURL"),
    ("no host", {"CallbackType": "HTTP", "CallbackURL": "http:///path"}, "InvalidParameter", "CallbackURL"),
    (
        "URL over 256 bytes",
        {"CallbackType": "HTTP", "CallbackURL": "https://a.example/" + "é" * 120},
        "InvalidParameter",
        "CallbackURL",
    ),
    ("MNS without queue", {"CallbackType": "MNS"}, "MissingParameter", "CallbackQueueName"),
    (
        "queue without prefix",
        {"CallbackType": "MNS", "CallbackQueueName": "my-queue"},
        "InvalidParameter",
        "CallbackQueueName",
    ),
    (
        "bare prefix",
        {"CallbackType": "MNS", "CallbackQueueName": "ice-callback-"},
        "InvalidParameter",
        "CallbackQueueName",
    ),
    ("auth on without key", {**HTTP, "AuthKey": ""}, "MissingParameter", "AuthKey"),
    ("key too long", {**HTTP, "AuthKey": "Ab1" * 11}, "InvalidParameter", "AuthKey"),
    ("key without digit", {**HTTP, "AuthKey": "TestKey"}, "InvalidParameter", "AuthKey"),
    ("key without upper case", {**HTTP, "AuthKey": "testkey001"}, "InvalidParameter", "AuthKey"),
    ("key without lower case", {**HTTP, "AuthKey": "TESTKEY001"}, "InvalidParameter", "AuthKey"),
    ("switch neither on nor off", {**HTTP, "AuthSwitch": "maybe"}, "InvalidParameter", "AuthSwitch"),
    ("bad event name", {**HTTP, "EventTypeList": "SnapshotComplete,Not An Event"}, "InvalidParameter", "EventTypeList"),
]


@pytest.mark.parametrize(("params", "code", "named"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
async def test_bad_set_is_refused_and_changes_nothing(
    api: TestClient, params: dict[str, Any], code: str, named: str
) -> None:
    await call(api, "SetEventCallback", **HTTP)

    status, body = await call(api, "SetEventCallback", **params)

    assert (status, body["Code"]) == (400, code), body
    assert named in body["Message"]
    assert await current(api) == {**HTTP, "CallbackQueueName": ""}


async def test_official_sdk_maps_every_field(api: TestClient) -> None:
    config = Config(access_key_id="LTAIany", access_key_secret="any", region_id="cn-shanghai")
    config.endpoint, config.protocol = f"127.0.0.1:{api.port}", "http"
    client = Client(config)
    request = models.SetEventCallbackRequest(
        callback_type="HTTP",
        callback_url=HTTP["CallbackURL"],
        event_type_list=HTTP["EventTypeList"],
        auth_switch="on",
        auth_key=HTTP["AuthKey"],
    )

    assert (await asyncio.to_thread(client.set_event_callback, request)).body.success is True
    got = (await asyncio.to_thread(client.get_event_callback)).body

    assert (got.callback_type, got.callback_url, got.event_type_list) == (
        "HTTP",
        HTTP["CallbackURL"],
        HTTP["EventTypeList"],
    )
    assert (got.auth_switch, got.auth_key, got.callback_queue_name) == ("on", "TestKey001", "")
