"""Snapshot template actions against the real app: exact SDK-facing shapes, every refusal, paging,
filters, ordering and default switching."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from alibabacloud_ice20201109 import models
from alibabacloud_ice20201109.client import Client

from tests.ice import call, sdk_client, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

HEX32 = re.compile(r"[0-9a-f]{32}")
ICE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
NORMAL = {"Type": "Normal", "FrameType": "normal", "Time": 1000, "Count": 3, "Interval": 2}
SPRITE = {
    "Type": "Sprite",
    "Count": 4,
    "Interval": 1,
    "Width": 160,
    "SpriteSnapshotConfig": {"Columns": 2, "Lines": 2, "Color": "black"},
}
WEBVTT = {"Type": "WebVtt", "Count": 10, "Interval": 5, "Width": 160, "IsSptFrag": True}
SYSTEM_ID = "S00000002-000001"


async def create(api: TestClient, name: str = "tpl", config: dict[str, Any] | None = None, **params: Any) -> str:
    status, body = await call(api, "CreateCustomTemplate", Name=name, Type=2, TemplateConfig=config or NORMAL, **params)
    assert status == 200, body
    return str(body["CustomTemplate"]["TemplateId"])


async def get(api: TestClient, template_id: str) -> dict[str, Any]:
    status, body = await call(api, "GetCustomTemplate", TemplateId=template_id)
    assert status == 200, body
    return dict(body["CustomTemplate"])


def assert_error(status: int, body: dict[str, Any], want_status: int, code: str, named: str) -> None:
    assert (status, body["Code"]) == (want_status, code), body
    assert named in body["Message"], body


# --- CreateCustomTemplate -------------------------------------------------------------------------


async def test_create_returns_the_sdk_shape(api: TestClient) -> None:
    status, body = await call(api, "CreateCustomTemplate", Name="sprites", Type=2, Subtype=2, TemplateConfig=SPRITE)

    assert status == 200, body
    assert set(body) == {"RequestId", "CustomTemplate"}
    template = body["CustomTemplate"]
    assert set(template) == {
        "TemplateId",
        "TemplateName",
        "Type",
        "TypeName",
        "Subtype",
        "Status",
        "IsDefault",
        "TemplateConfig",
        "CreateTime",
        "ModifiedTime",
    }
    assert HEX32.fullmatch(template["TemplateId"])
    assert template["TemplateName"] == "sprites"
    assert template["Type"] == 2 and isinstance(template["Type"], int)
    assert template["TypeName"] == "SnapshotTemplate"
    # ICE quirk: Create returns the subtype *name* where Get/List return an int
    assert template["Subtype"] == "Sprite"
    assert template["Status"] == "Normal"
    assert template["IsDefault"] is False
    assert ICE_TIME.fullmatch(template["CreateTime"]) and ICE_TIME.fullmatch(template["ModifiedTime"])
    assert isinstance(template["TemplateConfig"], str)
    # normalised through to_ice: defaults filled in, colour spelt #RRGGBB, ICE key order
    assert orjson.loads(template["TemplateConfig"]) == {
        "Type": "Sprite",
        "FrameType": "intra",
        "Time": 0,
        "Count": 4,
        "Interval": 1,
        "Width": 160,
        "SpriteSnapshotConfig": {"Padding": 0, "Margin": 0, "Columns": 2, "Lines": 2, "Color": "#000000"},
    }
    assert template["TemplateConfig"].startswith('{"Type":"Sprite","FrameType":"intra"')


async def test_create_derives_the_subtype_from_the_config(api: TestClient) -> None:
    status, body = await call(api, "CreateCustomTemplate", Name="vtt", Type="SnapshotTemplate", TemplateConfig=WEBVTT)

    assert status == 200, body
    assert body["CustomTemplate"]["Subtype"] == "WebVtt"


async def test_create_with_subtype_only_fills_the_config_type(api: TestClient) -> None:
    config = {k: v for k, v in SPRITE.items() if k != "Type"}
    status, body = await call(api, "CreateCustomTemplate", Name="s", Type=2, Subtype="Sprite", TemplateConfig=config)

    assert status == 200, body
    assert body["CustomTemplate"]["Subtype"] == "Sprite"
    assert orjson.loads(body["CustomTemplate"]["TemplateConfig"])["Type"] == "Sprite"


BAD_CREATES = [
    ("missing Name", {"Type": 2, "TemplateConfig": NORMAL}, 400, "MissingParameter", "Name"),
    ("Name too long", {"Name": "n" * 129, "Type": 2, "TemplateConfig": NORMAL}, 400, "InvalidParameter", "Name"),
    ("missing Type", {"Name": "t", "TemplateConfig": NORMAL}, 400, "MissingParameter", "Type"),
    ("transcode Type", {"Name": "t", "Type": 1, "TemplateConfig": NORMAL}, 400, "InvalidParameter.NotSupport", "Type"),
    (
        "Type by other name",
        {"Name": "t", "Type": "TranscodeTemplate", "TemplateConfig": NORMAL},
        400,
        "InvalidParameter.NotSupport",
        "Type",
    ),
    ("Type out of range", {"Name": "t", "Type": 99, "TemplateConfig": NORMAL}, 400, "InvalidParameter", "Type"),
    (
        "unknown Subtype",
        {"Name": "t", "Type": 2, "Subtype": 7, "TemplateConfig": NORMAL},
        400,
        "InvalidParameter",
        "Subtype",
    ),
    (
        "Subtype contradicts config",
        {"Name": "t", "Type": 2, "Subtype": 2, "TemplateConfig": NORMAL},
        400,
        "InvalidParameter",
        "Subtype",
    ),
    ("missing TemplateConfig", {"Name": "t", "Type": 2}, 400, "MissingParameter", "TemplateConfig"),
    (
        "TemplateConfig not JSON",
        {"Name": "t", "Type": 2, "TemplateConfig": "{"},
        400,
        "InvalidParameter",
        "TemplateConfig",
    ),
    (
        "Count 0",
        {"Name": "t", "Type": 2, "TemplateConfig": {**NORMAL, "Count": 0}},
        400,
        "InvalidParameter",
        "TemplateConfig.Count",
    ),
    (
        "Width too small",
        {"Name": "t", "Type": 2, "TemplateConfig": {**NORMAL, "Width": 2}},
        400,
        "InvalidParameter",
        "TemplateConfig.Width",
    ),
    (
        "Cover type",
        {"Name": "t", "Type": 2, "TemplateConfig": {**NORMAL, "Type": "Cover"}},
        400,
        "InvalidParameter.NotSupport",
        "Cover",
    ),
    (
        "sprite config on WebVtt",
        {"Name": "t", "Type": 2, "TemplateConfig": {**WEBVTT, "SpriteSnapshotConfig": {"Columns": 2}}},
        400,
        "InvalidParameter.NotSupport",
        "SpriteSnapshotConfig",
    ),
]


@pytest.mark.parametrize(
    ("params", "status", "code", "named"), [c[1:] for c in BAD_CREATES], ids=[c[0] for c in BAD_CREATES]
)
async def test_bad_create_is_refused(
    api: TestClient, params: dict[str, Any], status: int, code: str, named: str
) -> None:
    assert_error(*await call(api, "CreateCustomTemplate", **params), status, code, named)
    _, listed = await call(api, "ListCustomTemplates", Type=2)
    assert listed["Total"] == 0


# --- GetCustomTemplate ----------------------------------------------------------------------------


async def test_get_returns_int_subtype_and_name(api: TestClient) -> None:
    template_id = await create(api, "vtt", WEBVTT)

    status, body = await call(api, "GetCustomTemplate", TemplateId=template_id)

    assert status == 200, body
    template = body["CustomTemplate"]
    assert template["TemplateId"] == template_id
    assert template["Subtype"] == 3 and isinstance(template["Subtype"], int)
    assert template["SubtypeName"] == "WebVtt"
    assert template["Type"] == 2 and template["TypeName"] == "SnapshotTemplate"
    assert template["IsDefault"] is False
    assert orjson.loads(template["TemplateConfig"])["IsSptFrag"] is True


@pytest.mark.parametrize(
    ("params", "status", "code", "named"),
    [
        ({"TemplateId": "0" * 32}, 404, "ResourceNotFound", "Template"),
        ({"TemplateId": SYSTEM_ID}, 404, "ResourceNotFound", "Template"),
        ({}, 400, "MissingParameter", "TemplateId"),
        ({"Type": 2}, 404, "ResourceNotFound", "default"),
        ({"Type": 5}, 400, "InvalidParameter.NotSupport", "Type"),
        ({"Type": 2, "Subtype": "Gif"}, 400, "InvalidParameter", "Subtype"),
    ],
)
async def test_bad_get_is_refused(api: TestClient, params: dict[str, Any], status: int, code: str, named: str) -> None:
    assert_error(*await call(api, "GetCustomTemplate", **params), status, code, named)


async def test_default_template_switching(api: TestClient) -> None:
    first, second = await create(api, "first"), await create(api, "second")
    sprite = await create(api, "sprite", SPRITE)

    status, body = await call(api, "SetDefaultCustomTemplate", TemplateId=first)
    assert (status, body["Success"]) == (200, True)
    _, body = await call(api, "GetCustomTemplate", Type=2, Subtype=1)
    assert body["CustomTemplate"]["TemplateId"] == first
    assert body["CustomTemplate"]["IsDefault"] is True

    # one default per Type + Subtype: the new one replaces the old one of the same subtype only
    await call(api, "SetDefaultCustomTemplate", TemplateId=second)
    await call(api, "SetDefaultCustomTemplate", TemplateId=sprite)
    _, normal_default = await call(api, "GetCustomTemplate", Type="SnapshotTemplate", Subtype="Normal")
    _, sprite_default = await call(api, "GetCustomTemplate", Type=2, Subtype=2)
    assert normal_default["CustomTemplate"]["TemplateId"] == second
    assert sprite_default["CustomTemplate"]["TemplateId"] == sprite
    assert (await get(api, first))["IsDefault"] is False
    assert (await get(api, second))["IsDefault"] is True

    # without a Subtype, the default of the lowest subtype that has one
    _, any_default = await call(api, "GetCustomTemplate", Type=2)
    assert any_default["CustomTemplate"]["TemplateId"] == second

    # setting the current default again is harmless
    status, _ = await call(api, "SetDefaultCustomTemplate", TemplateId=second)
    assert status == 200
    _, listed = await call(api, "ListCustomTemplates", Type=2, Subtype=1)
    assert [t["IsDefault"] for t in listed["CustomTemplateList"]].count(True) == 1


async def test_set_default_refusals(api: TestClient) -> None:
    assert_error(
        *await call(api, "SetDefaultCustomTemplate", TemplateId=SYSTEM_ID), 403, "Forbidden.SystemTemplate", SYSTEM_ID
    )
    assert_error(*await call(api, "SetDefaultCustomTemplate", TemplateId="0" * 32), 404, "ResourceNotFound", "Template")
    assert_error(*await call(api, "SetDefaultCustomTemplate"), 400, "MissingParameter", "TemplateId")


# --- ListCustomTemplates --------------------------------------------------------------------------


async def test_list_pages_filters_and_orders(api: TestClient) -> None:
    ids = [await create(api, f"Thumbs {n}") for n in range(3)]
    sprite = await create(api, "sheet", SPRITE)
    ids.append(sprite)

    status, body = await call(api, "ListCustomTemplates", Type=2)
    assert status == 200, body
    assert set(body) == {"RequestId", "Total", "CustomTemplateList"}
    assert body["Total"] == 4
    # newest first by default; system templates are not custom templates
    assert [t["TemplateId"] for t in body["CustomTemplateList"]] == ids[::-1]
    item = body["CustomTemplateList"][0]
    assert item["Subtype"] == 2 and item["SubtypeName"] == "Sprite"
    assert isinstance(item["TemplateConfig"], str) and isinstance(item["IsDefault"], bool)

    _, ascending = await call(api, "ListCustomTemplates", Type=2, OrderBy="CreationTime:Asc")
    assert [t["TemplateId"] for t in ascending["CustomTemplateList"]] == ids

    _, page = await call(api, "ListCustomTemplates", Type=2, OrderBy="CreationTime:Asc", PageSize=3, PageNumber=2)
    assert page["Total"] == 4
    assert [t["TemplateId"] for t in page["CustomTemplateList"]] == ids[3:]

    _, past_end = await call(api, "ListCustomTemplates", Type=2, PageSize=3, PageNumber=3)
    assert (past_end["Total"], past_end["CustomTemplateList"]) == (4, [])

    _, by_name = await call(
        api, "ListCustomTemplates", Type="SnapshotTemplate", Name="thumbs", OrderBy="CreationTime:Asc"
    )
    assert [t["TemplateId"] for t in by_name["CustomTemplateList"]] == ids[:3]

    for subtype in ("Sprite", "2"):
        _, by_subtype = await call(api, "ListCustomTemplates", Type=2, Subtype=subtype)
        assert [t["TemplateId"] for t in by_subtype["CustomTemplateList"]] == [sprite]

    _, by_id = await call(api, "ListCustomTemplates", Type=2, TemplateId=ids[1])
    assert (by_id["Total"], by_id["CustomTemplateList"][0]["TemplateId"]) == (1, ids[1])

    _, none = await call(api, "ListCustomTemplates", Type=2, Name="no such")
    assert (none["Total"], none["CustomTemplateList"]) == (0, [])


async def test_list_name_match_is_literal(api: TestClient) -> None:
    await create(api, "100% crop")
    await create(api, "plain")

    _, body = await call(api, "ListCustomTemplates", Type=2, Name="%")

    assert [t["TemplateName"] for t in body["CustomTemplateList"]] == ["100% crop"]


@pytest.mark.parametrize(
    ("params", "code", "named"),
    [
        ({}, "MissingParameter", "Type"),
        ({"Type": 1}, "InvalidParameter.NotSupport", "Type"),
        ({"Type": 2, "OrderBy": "Name"}, "InvalidParameter", "OrderBy"),
        ({"Type": 2, "PageSize": 0}, "InvalidParameter", "PageSize"),
        ({"Type": 2, "PageSize": 101}, "InvalidParameter", "PageSize"),
        ({"Type": 2, "PageNumber": 0}, "InvalidParameter", "PageNumber"),
        ({"Type": 2, "PageNumber": "one"}, "InvalidParameter", "PageNumber"),
        ({"Type": 2, "Subtype": 4}, "InvalidParameter", "Subtype"),
    ],
)
async def test_bad_list_is_refused(api: TestClient, params: dict[str, Any], code: str, named: str) -> None:
    assert_error(*await call(api, "ListCustomTemplates", **params), 400, code, named)


# --- UpdateCustomTemplate / DeleteCustomTemplate ----------------------------------------------------


async def test_update_renames_and_replaces_the_config(api: TestClient) -> None:
    template_id = await create(api, "before")

    status, body = await call(
        api, "UpdateCustomTemplate", TemplateId=template_id, Name="after", TemplateConfig={"Count": 9, "Interval": 1}
    )

    assert (status, body) == (200, {"RequestId": body["RequestId"], "Success": True})
    template = await get(api, template_id)
    assert template["TemplateName"] == "after"
    # a replacement, not a merge: Time and FrameType fall back to their defaults; the subtype is kept
    assert orjson.loads(template["TemplateConfig"]) == {
        "Type": "Normal",
        "FrameType": "intra",
        "Time": 0,
        "Count": 9,
        "Interval": 1,
    }
    assert template["Subtype"] == 1

    await call(api, "UpdateCustomTemplate", TemplateId=template_id, Name="renamed only")
    renamed = await get(api, template_id)
    assert renamed["TemplateName"] == "renamed only"
    assert renamed["TemplateConfig"] == template["TemplateConfig"]


async def test_bad_update_is_refused(api: TestClient) -> None:
    template_id = await create(api, "keep")
    cases = [
        ({}, 400, "MissingParameter", "TemplateId"),
        ({"TemplateId": "0" * 32, "Name": "x"}, 404, "ResourceNotFound", "Template"),
        ({"TemplateId": SYSTEM_ID, "Name": "x"}, 403, "Forbidden.SystemTemplate", SYSTEM_ID),
        ({"TemplateId": template_id, "Name": "n" * 129}, 400, "InvalidParameter", "Name"),
        ({"TemplateId": template_id, "TemplateConfig": SPRITE}, 400, "InvalidParameter", "TemplateConfig.Type"),
        ({"TemplateId": template_id, "TemplateConfig": {"Count": -1}}, 400, "InvalidParameter", "TemplateConfig.Count"),
        ({"TemplateId": template_id, "TemplateConfig": "[]"}, 400, "InvalidParameter", "TemplateConfig"),
    ]
    for params, status, code, named in cases:
        assert_error(*await call(api, "UpdateCustomTemplate", **params), status, code, named)

    assert (await get(api, template_id))["TemplateName"] == "keep"
    _, system = await call(api, "GetSystemTemplate", TemplateId=SYSTEM_ID)
    assert system["SystemTemplate"]["TemplateName"] == "Normal snapshot"


async def test_delete(api: TestClient) -> None:
    template_id = await create(api, "gone")
    await call(api, "SetDefaultCustomTemplate", TemplateId=template_id)

    status, body = await call(api, "DeleteCustomTemplate", TemplateId=template_id)

    assert (status, body["Success"]) == (200, True)
    assert_error(*await call(api, "GetCustomTemplate", TemplateId=template_id), 404, "ResourceNotFound", "Template")
    assert_error(*await call(api, "GetCustomTemplate", Type=2), 404, "ResourceNotFound", "default")
    assert_error(*await call(api, "DeleteCustomTemplate", TemplateId=template_id), 404, "ResourceNotFound", "Template")
    assert_error(
        *await call(api, "DeleteCustomTemplate", TemplateId=SYSTEM_ID), 403, "Forbidden.SystemTemplate", SYSTEM_ID
    )
    assert_error(*await call(api, "DeleteCustomTemplate"), 400, "MissingParameter", "TemplateId")


async def test_a_custom_template_runs_a_job(api: TestClient) -> None:
    template_id = await create(api, "for jobs", NORMAL)

    status, body = await call(api, "SubmitSnapshotJob", **submit_params(template_id=template_id))
    assert status == 200, body
    _, job = await call(api, "GetSnapshotJob", JobId=body["JobId"])

    assert job["SnapshotJob"]["TemplateId"] == template_id
    assert orjson.loads(job["SnapshotJob"]["TemplateConfig"])["Count"] == 3


# --- system templates -----------------------------------------------------------------------------


async def test_list_system_templates(api: TestClient) -> None:
    status, body = await call(api, "ListSystemTemplates", Type=2)

    assert status == 200, body
    assert set(body) == {"RequestId", "Total", "SystemTemplateList"}
    assert body["Total"] == 4
    assert [t["TemplateId"] for t in body["SystemTemplateList"]] == [f"S00000002-00000{n}" for n in range(1, 5)]
    first = body["SystemTemplateList"][0]
    assert set(first) == {
        "TemplateId",
        "TemplateName",
        "Type",
        "TypeName",
        "Subtype",
        "SubtypeName",
        "Status",
        "TemplateConfig",
    }
    assert (first["Type"], first["TypeName"], first["Subtype"], first["SubtypeName"]) == (
        2,
        "SnapshotTemplate",
        1,
        "Normal",
    )
    assert first["Status"] == "Normal"
    assert orjson.loads(first["TemplateConfig"])["Type"] == "Normal"


async def test_list_system_templates_filters(api: TestClient) -> None:
    await create(api, "custom ones are not listed")

    async def ids(**params: Any) -> list[str]:
        status, body = await call(api, "ListSystemTemplates", **params)
        assert status == 200, body
        return [t["TemplateId"] for t in body["SystemTemplateList"]]

    assert await ids(Type="SnapshotTemplate", Subtype="Sprite") == ["S00000002-000003"]
    assert await ids(Type="2,2", Subtype=3) == ["S00000002-000004"]
    assert await ids(Type=2, Name="EXACT") == ["S00000002-000002"]
    assert await ids(Type=2, TemplateId=SYSTEM_ID) == [SYSTEM_ID]
    assert await ids(Type=2, Status="All", PageSize=2, PageNumber=2) == ["S00000002-000003", "S00000002-000004"]
    assert await ids(Type=2, Status="Invisible") == []


@pytest.mark.parametrize(
    ("params", "code", "named"),
    [
        ({}, "MissingParameter", "Type"),
        ({"Type": "1,2"}, "InvalidParameter.NotSupport", "Type"),
        ({"Type": 2, "Status": "Hidden"}, "InvalidParameter", "Status"),
        ({"Type": 2, "PageSize": 101}, "InvalidParameter", "PageSize"),
        ({"Type": 2, "Subtype": "Cover"}, "InvalidParameter", "Subtype"),
    ],
)
async def test_bad_system_list_is_refused(api: TestClient, params: dict[str, Any], code: str, named: str) -> None:
    assert_error(*await call(api, "ListSystemTemplates", **params), 400, code, named)


async def test_get_system_template(api: TestClient) -> None:
    custom = await create(api, "custom")

    status, body = await call(api, "GetSystemTemplate", TemplateId="S00000002-000003")

    assert status == 200, body
    template = body["SystemTemplate"]
    assert (template["Subtype"], template["SubtypeName"], template["Type"]) == (2, "Sprite", 2)
    assert orjson.loads(template["TemplateConfig"])["SpriteSnapshotConfig"]["Columns"] == 10
    assert_error(*await call(api, "GetSystemTemplate", TemplateId=custom), 404, "ResourceNotFound", "SystemTemplate")
    assert_error(*await call(api, "GetSystemTemplate"), 400, "MissingParameter", "TemplateId")


# --- the official SDK -----------------------------------------------------------------------------


def sdk(api: TestClient) -> Client:
    """The official client pointed at the (unsigned) test app; the key is never checked there."""
    return sdk_client(api.port)


async def test_official_sdk_maps_every_field(api: TestClient) -> None:
    client = sdk(api)

    created = await asyncio.to_thread(
        client.create_custom_template,
        models.CreateCustomTemplateRequest(
            name="sdk", type=2, subtype=2, template_config=orjson.dumps(SPRITE).decode()
        ),
    )
    made = created.body.custom_template
    assert (made.type, made.type_name, made.subtype, made.is_default) == (2, "SnapshotTemplate", "Sprite", False)
    await asyncio.to_thread(
        client.set_default_custom_template, models.SetDefaultCustomTemplateRequest(template_id=made.template_id)
    )
    got = await asyncio.to_thread(client.get_custom_template, models.GetCustomTemplateRequest(type=2, subtype=2))
    default = got.body.custom_template
    assert (default.template_id, default.subtype, default.subtype_name, default.is_default) == (
        made.template_id,
        2,
        "Sprite",
        True,
    )
    assert orjson.loads(default.template_config) == orjson.loads(made.template_config)
    listed = await asyncio.to_thread(
        client.list_custom_templates, models.ListCustomTemplatesRequest(type="SnapshotTemplate", subtype="Sprite")
    )
    assert listed.body.total == 1 and listed.body.custom_template_list[0].template_name == "sdk"
    system = await asyncio.to_thread(client.list_system_templates, models.ListSystemTemplatesRequest(type="2"))
    assert [t.subtype_name for t in system.body.system_template_list] == ["Normal", "Normal", "Sprite", "WebVtt"]
    updated = await asyncio.to_thread(
        client.update_custom_template, models.UpdateCustomTemplateRequest(template_id=made.template_id, name="renamed")
    )
    deleted = await asyncio.to_thread(
        client.delete_custom_template, models.DeleteCustomTemplateRequest(template_id=made.template_id)
    )
    assert updated.body.success is True and deleted.body.success is True
