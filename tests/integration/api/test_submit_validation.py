"""Every bad request gets the right status and ICE Code, naming the field; none reaches the queue."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.api.app import create_app
from service.config import Settings
from tests.ice import call, encode_params, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


def without(params: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != key}


BAD_SUBMISSIONS = [
    ("missing Input", without(submit_params(), "Input"), 400, "MissingParameter", "Input"),
    ("missing Output", without(submit_params(), "Output"), 400, "MissingParameter", "Output"),
    ("missing TemplateConfig", without(submit_params(), "TemplateConfig"), 400, "MissingParameter", "TemplateConfig"),
    (
        "missing TemplateId",
        {**submit_params(), "TemplateConfig": {"OverwriteParams": {}}},
        400,
        "MissingParameter",
        "TemplateId",
    ),
    (
        "bad JSON in TemplateConfig",
        {**submit_params(), "TemplateConfig": '{"TemplateId": '},
        400,
        "InvalidParameter",
        "TemplateConfig",
    ),
    ("Input not an object", {**submit_params(), "Input": "[1, 2]"}, 400, "InvalidParameter", "Input"),
    ("missing Input.Media", {**submit_params(), "Input": {"Type": "OSS"}}, 400, "MissingParameter", "Input.Media"),
    ("Input.Media not a storage URL", submit_params(media="ftp://x/y.mp4"), 400, "InvalidParameter", "Input.Media"),
    ("Input.Media without key", submit_params(media="oss://bucket/"), 400, "InvalidParameter", "Input.Media"),
    (
        "Input.Type Media of an unknown asset",
        {**submit_params(), "Input": {"Type": "Media", "Media": "abc"}},
        404,
        "InvalidParameter.ResourceNotFound",
        "Input.Media",
    ),
    (
        "Output.Type Media",
        {**submit_params(), "Output": {"Type": "Media", "Media": "abc"}},
        400,
        "InvalidParameter.NotSupport",
        "Output.Type",
    ),
    (
        "Input.Type unknown",
        {**submit_params(), "Input": {"Type": "VOD", "Media": "x"}},
        400,
        "InvalidParameter",
        "Input.Type",
    ),
    ("unknown TemplateId", submit_params(template_id="nope"), 404, "ResourceNotFound", "nope"),
    ("Count 0", submit_params(Count=0), 400, "InvalidParameter", "Count"),
    ("Count over the limit", submit_params(Count=10001), 400, "InvalidParameter", "Count"),
    ("Count not a number", submit_params(Count="many"), 400, "InvalidParameter", "Count"),
    ("negative Time", submit_params(Time=-1), 400, "InvalidParameter", "Time"),
    ("negative Interval", submit_params(Count=2, Interval=-5), 400, "InvalidParameter", "Interval"),
    ("Width too small", submit_params(Width=4), 400, "InvalidParameter", "Width"),
    ("Height too large", submit_params(Height=5000), 400, "InvalidParameter", "Height"),
    ("unknown FrameType", submit_params(FrameType="bframe"), 400, "InvalidParameter", "FrameType"),
    ("unknown Type", submit_params(Type="Gif"), 400, "InvalidParameter", "Type"),
    ("Cover type", submit_params(Type="Cover"), 400, "InvalidParameter.NotSupport", "Cover"),
    ("BlackLevel out of range", submit_params(BlackLevel=10), 400, "InvalidParameter", "BlackLevel"),
    (
        "no {Count} for several images",
        submit_params(output="oss://thumbs/a.jpg", Count=3),
        400,
        "InvalidParameter",
        "Output.Media",
    ),
    (
        "WebVtt without .vtt",
        submit_params(output="oss://thumbs/a.jpg", Type="WebVtt", Count=3),
        400,
        "InvalidParameter",
        "Output.Media",
    ),
    (
        "Sprite config on WebVtt",
        submit_params(output="oss://thumbs/a.vtt", Type="WebVtt", SpriteSnapshotConfig={"Columns": 2}),
        400,
        "InvalidParameter.NotSupport",
        "SpriteSnapshotConfig",
    ),
    (
        "unknown pipeline",
        {**submit_params(), "ScheduleConfig": {"PipelineId": "f" * 32}},
        404,
        "ResourceNotFound",
        "Pipeline",
    ),
    ("UserData too long", {**submit_params(), "UserData": "x" * 1025}, 400, "InvalidParameter", "UserData"),
    ("Name too long", {**submit_params(), "Name": "n" * 129}, 400, "InvalidParameter", "Name"),
]


@pytest.mark.parametrize(
    ("params", "status", "code", "names"), [case[1:] for case in BAD_SUBMISSIONS], ids=[c[0] for c in BAD_SUBMISSIONS]
)
async def test_bad_submission_is_refused(
    api: TestClient, params: dict[str, Any], status: int, code: str, names: str
) -> None:
    got_status, body = await call(api, "SubmitSnapshotJob", **params)

    assert (got_status, body["Code"]) == (status, code), body
    assert names in body["Message"]
    assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}
    listed = await call(api, "ListSnapshotJobs")
    assert listed[1]["Jobs"] == []


async def test_unknown_action(api: TestClient) -> None:
    status, body = await call(api, "DescribeNothing")

    assert (status, body["Code"]) == (404, "InvalidAction.NotFound")


async def test_missing_action(api: TestClient) -> None:
    response = await api.post("/")

    assert response.status == 400
    assert (await response.json())["Code"] == "MissingParameter"


async def test_unknown_job(api: TestClient) -> None:
    status, body = await call(api, "GetSnapshotJob", JobId="0" * 32)

    assert (status, body["Code"]) == (404, "JobNotFound")


async def test_get_without_job_id(api: TestClient) -> None:
    status, body = await call(api, "GetSnapshotJob")

    assert (status, body["Code"]) == (400, "MissingParameter")
    assert "JobId" in body["Message"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"PageSize": "101"}, "PageSize"),
        ({"PageSize": "0"}, "PageSize"),
        ({"Status": "Done"}, "Status"),
        ({"OrderBy": "Name"}, "OrderBy"),
        ({"StartOfCreateTime": "yesterday"}, "StartOfCreateTime"),
        ({"NextPageToken": "garbage!"}, "NextPageToken"),
    ],
)
async def test_bad_list_parameters(api: TestClient, params: dict[str, str], name: str) -> None:
    status, body = await call(api, "ListSnapshotJobs", **params)

    assert (status, body["Code"]) == (400, "InvalidParameter")
    assert name in body["Message"]


async def test_oversized_body_is_refused(base_env: dict[str, str]) -> None:
    settings = Settings.from_env({**base_env, "SNAPSHOTD_HTTP_MAX_BODY_KB": "1"})
    async with TestClient(TestServer(create_app(settings))) as client:
        response = await client.post("/", data=b"x" * 2048, headers={"x-acs-action": "SubmitSnapshotJob"})

        assert response.status == 413
        assert (await response.json())["Code"] == "InvalidParameter.RequestTooLarge"


async def test_form_and_json_bodies_are_read(api: TestClient) -> None:
    form = encode_params(submit_params(template_id="missing-template"))
    by_form = await api.post("/", data=form, headers={"x-acs-action": "SubmitSnapshotJob"})
    by_json = await api.post("/", json={"Action": "SubmitSnapshotJob", **submit_params(template_id="missing-template")})

    # Both reach template resolution, so every other parameter was read from the body.
    assert (await by_form.json())["Code"] == (await by_json.json())["Code"] == "ResourceNotFound"


async def test_legacy_dotted_keys_are_rebuilt(api: TestClient) -> None:
    """The old core SDK flattens objects and sends every field, unset ones as 0 or empty."""
    flat = {
        "Input.Type": "OSS",
        "Input.Media": "oss://media/clip.mp4",
        "Output.Type": "OSS",
        "Output.Media": "oss://thumbs/{Count}.jpg",
        "TemplateConfig.TemplateId": "S00000002-000001",
        "TemplateConfig.OverwriteParams.Count": "3",
        "TemplateConfig.OverwriteParams.Interval": "2",
        "TemplateConfig.OverwriteParams.Width": "0",
        "TemplateConfig.OverwriteParams.FrameType": "",
        "ScheduleConfig.PipelineId": "",
    }
    response = await api.post("/", params=flat, headers={"x-acs-action": "SubmitSnapshotJob"})
    body = await response.json()
    assert response.status == 200, body

    _, got = await call(api, "GetSnapshotJob", JobId=body["JobId"])
    config = orjson.loads(got["SnapshotJob"]["TemplateConfig"])
    assert (config["Count"], config["Interval"], config["FrameType"]) == (3, 2, "intra")
    assert "Width" not in config


async def test_recommend_links_the_errors_entry_the_api_serves(api: TestClient) -> None:
    status, body = await call(api, "GetSnapshotJob", JobId="nope")
    assert (status, body["Code"]) == (404, "JobNotFound")
    page_url, anchor = body["Recommend"].split("#")
    assert anchor == "JobNotFound"

    response = await api.get(urlsplit(page_url).path)
    page = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert f'id="{anchor}"' in page
