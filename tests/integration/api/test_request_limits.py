"""Requests within every documented limit are served, through the official SDK; longer ones get ICE's
JSON error, never aiohttp's plain-text 400; bad URLs and names are 400s naming the field."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient
from alibabacloud_ice20201109 import models

from tests.ice import call, sdk_client, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

#: the longest key the store accepts, of the character that costs the most on the wire: `"` is `\\"`
#: in the JSON of Input/Output and then `%5C%22` in the query, six bytes for one
LONG_KEY = "/".join(['"' * 255] * 4)[:1024]


async def test_every_documented_limit_at_once_is_served_to_the_sdk(api: TestClient) -> None:
    client = sdk_client(api.port)
    request = models.SubmitSnapshotJobRequest(
        input=models.SubmitSnapshotJobRequestInput(type="OSS", media=f"oss://media/{LONG_KEY}"),
        output=models.SubmitSnapshotJobRequestOutput(type="OSS", media=f"oss://thumbs/{LONG_KEY[:-11]}{{Count}}.jpg"),
        template_config=models.SubmitSnapshotJobRequestTemplateConfig(
            template_id="S00000002-000001",
            overwrite_params=models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(count=2, interval=1),
        ),
        name="é" * 128,
        user_data='"' * 1024,
    )

    submitted = await asyncio.to_thread(client.submit_snapshot_job, request)
    got = await asyncio.to_thread(client.get_snapshot_job, models.GetSnapshotJobRequest(job_id=submitted.body.job_id))

    assert got.body.snapshot_job.name == "é" * 128
    assert got.body.snapshot_job.input.media == f"oss://media/{LONG_KEY}"


@pytest.mark.parametrize("size", [70 * 1024, 900 * 1024])
async def test_a_url_past_the_limit_gets_the_ice_error(api: TestClient, size: int) -> None:
    response = await api.post("/", params={"Name": "x" * size}, headers={"x-acs-action": "GetSnapshotJob"})

    body = await response.json()
    assert (response.status, body["Code"]) == (413, "InvalidParameter.RequestTooLarge")
    assert "URL" in body["Message"] and body["RequestId"]


@pytest.mark.parametrize("media", ["http://example.com:abc/x.mp4", "http://example.com:99999/x.mp4", "http://:80/x"])
async def test_a_bad_port_or_host_is_a_400_naming_the_input(api: TestClient, media: str) -> None:
    status, body = await call(api, "SubmitSnapshotJob", **submit_params(media=media))

    assert (status, body["Code"]) == (400, "InvalidParameter"), body
    assert "Input.Media" in body["Message"]


async def test_a_key_segment_no_file_system_can_hold_is_a_400(api: TestClient) -> None:
    status, body = await call(
        api, "SubmitSnapshotJob", **submit_params(output="oss://thumbs/" + "a" * 256 + "/{Count}.jpg")
    )

    assert (status, body["Code"]) == (400, "InvalidParameter")
    assert "Output.Media" in body["Message"] and "255" in body["Message"]


@pytest.mark.parametrize(
    ("content_type", "body", "words"),
    [
        ("application/x-www-form-urlencoded", b'{"JobId": "x"}', "Content-Type: application/json"),
        ("text/plain", b'{"JobId": "x"}', "text/plain"),
    ],
)
async def test_json_is_read_only_as_json(api: TestClient, content_type: str, body: bytes, words: str) -> None:
    response = await api.post("/", data=body, headers={"x-acs-action": "GetSnapshotJob", "Content-Type": content_type})

    answer = await response.json()
    assert (response.status, answer["Code"]) == (400, "InvalidParameter")
    assert words in answer["Message"]
