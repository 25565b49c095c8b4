"""The documented bounds are the enforced ones: for every bounded field of `/openapi.json`, the documented
maximum (and minimum) is accepted and one past it is refused with a 400 naming the field, through the API.

The bounds are read from the served document, not from the Python declarations, so a document that
drifted from validation fails here."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.ice import call

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

#: a context in which one field alone decides: one cell a sheet, so sizes and padding cannot add up
SPRITE_CONTEXT = {"Type": "Sprite", "SpriteSnapshotConfig": {"Columns": 1, "Lines": 1}}


def bounded(properties: dict[str, Any]) -> list[tuple[str, int, int | None]]:
    return [
        (name, schema["minimum"], schema.get("maximum"))
        for name, schema in properties.items()
        if schema.get("type") == "integer" and "minimum" in schema
    ]


async def document(api: TestClient) -> dict[str, Any]:
    response = await api.get("/openapi.json")
    return await response.json()


def config_with(path: str, value: int) -> dict[str, Any]:
    config: dict[str, Any] = {**SPRITE_CONTEXT, "SpriteSnapshotConfig": dict(SPRITE_CONTEXT["SpriteSnapshotConfig"])}
    if "." in path:
        _, key = path.split(".")
        config["SpriteSnapshotConfig"][key] = value
    else:
        config[path] = value
    return config


async def test_every_bounded_snapshot_field(api: TestClient) -> None:
    schemas = (await document(api))["components"]["schemas"]
    config = schemas["SnapshotConfig"]["properties"]
    fields = bounded(config) + [
        (f"SpriteSnapshotConfig.{n}", lo, hi) for n, lo, hi in bounded(config["SpriteSnapshotConfig"]["properties"])
    ]
    assert len(fields) >= 13, fields
    for path, low, high in fields:
        for value, accepted in (
            (low, True),
            (low - 1, False),
            *(((high, True), (high + 1, False)) if high is not None else ()),
        ):
            status, body = await call(
                api, "CreateCustomTemplate", Name="b", Type="2", TemplateConfig=config_with(path, value)
            )
            if accepted:
                assert status == 200, (path, value, body)
            else:
                assert (status, body["Code"]) == (400, "InvalidParameter"), (path, value, body)
                assert f'"TemplateConfig.{path}"' in body["Message"], (path, body["Message"])


async def test_every_bounded_query_parameter(api: TestClient) -> None:
    paths = (await document(api))["paths"]
    checked = 0
    for path, operations in paths.items():
        for method, operation in operations.items():
            url = path.replace("{JobId}", "nojob").replace("{TemplateId}", "notemplate").replace("{PipelineId}", "x")
            for parameter in operation["parameters"]:
                schema = parameter["schema"]
                if parameter["in"] != "query" or schema.get("type") != "integer":
                    continue
                low, high = schema["minimum"], schema["maximum"]
                for value, accepted in ((low, True), (high, True), (low - 1, False), (high + 1, False)):
                    response = await api.request(method.upper(), url, params={parameter["name"]: str(value)})
                    body = await response.json()
                    if accepted:
                        assert response.status != 400, (path, parameter["name"], value, body)
                    else:
                        assert (response.status, body["Code"]) == (400, "InvalidParameter"), (path, value, body)
                        assert parameter["name"] in body["Message"]
                checked += 1
    assert checked >= 6


async def test_every_bounded_body_field_of_the_other_actions(api: TestClient) -> None:
    schemas = (await document(api))["components"]["schemas"]
    base = {"CreatePipelineRequest": ("CreatePipeline", {"Name": "p", "Speed": "Standard"})}
    for schema_name, (action, required) in base.items():
        for name, low, high in bounded(schemas[schema_name]["properties"]):
            assert high is not None
            for value, accepted in ((low, True), (high, True), (low - 1, False), (high + 1, False)):
                status, body = await call(api, action, **required, **{name: value})
                assert (status == 200) is accepted, (action, name, value, body)
                if not accepted:
                    assert name in body["Message"]
