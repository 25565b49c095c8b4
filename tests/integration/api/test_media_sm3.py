"""The official SDK signing every action of the media library (and PlanSnapshotJob) with ACS3-HMAC-SM3,
each once, against a signed snapshotd; a wrong secret under SM3 is refused like under SHA-256."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from alibabacloud_ice20201109 import models
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException

from service.api.app import create_app
from service.config import Settings
from tests.ice import sdk_call, sdk_client

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

KEY_ID, SECRET = "LTAIsm3media01", "sm3/secret+="
SM3 = "ACS3-HMAC-SM3"


@pytest.fixture
async def signed_api(base_env: dict[str, str], clip: Path) -> AsyncIterator[TestClient]:
    settings = Settings.from_env({**base_env, "SNAPSHOTD_ACCESS_KEYS": f"{KEY_ID}:{SECRET}"})
    target = Path(settings.storage.root) / "media" / "clip.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, target)
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


async def body(call: Any, *args: Any) -> Any:
    return (await asyncio.to_thread(call, *args)).body


async def test_every_media_action_signed_with_sm3(signed_api: TestClient) -> None:
    client: Client = sdk_client(signed_api.port, KEY_ID, SECRET, algorithm=SM3)
    signed: list[str] = []

    async def run(name: str, call: Any, request: Any) -> Any:
        result = await body(call, request)
        signed.append(name)
        return result

    media_id = (
        await run(
            "RegisterMediaInfo",
            client.register_media_info,
            models.RegisterMediaInfoRequest(input_url="oss://media/clip.mp4", title="sm3", media_tags="a"),
        )
    ).media_id
    info = await run("GetMediaInfo", client.get_media_info, models.GetMediaInfoRequest(media_id=media_id))
    batch = await run(
        "BatchGetMediaInfos", client.batch_get_media_infos, models.BatchGetMediaInfosRequest(media_ids=media_id)
    )
    listed = await run(
        "ListMediaBasicInfos",
        client.list_media_basic_infos,
        models.ListMediaBasicInfosRequest(max_results=5, include_file_basic_info=True),
    )
    await run(
        "UpdateMediaInfo",
        client.update_media_info,
        models.UpdateMediaInfoRequest(media_id=media_id, title="renamed", media_tags="b", append_tags=True),
    )
    probe = await run(
        "SubmitMediaInfoJob",
        client.submit_media_info_job,
        models.SubmitMediaInfoJobRequest(
            input=models.SubmitMediaInfoJobRequestInput(type="Media", media=media_id), name="sm3 probe"
        ),
    )
    job_id = probe.media_info_job.job_id
    got = await run("GetMediaInfoJob", client.get_media_info_job, models.GetMediaInfoJobRequest(job_id=job_id))
    jobs = await run("ListMediaInfoJobs", client.list_media_info_jobs, models.ListMediaInfoJobsRequest(page_size=5))
    snapshot = await run(
        "SubmitSnapshotJob",
        client.submit_snapshot_job,
        models.SubmitSnapshotJobRequest(
            input=models.SubmitSnapshotJobRequestInput(type="Media", media=media_id),
            output=models.SubmitSnapshotJobRequestOutput(type="OSS", media="oss://thumbs/sm3/{Count}.jpg"),
            template_config=models.SubmitSnapshotJobRequestTemplateConfig(template_id="S00000002-000001"),
        ),
    )
    # PlanSnapshotJob has no generated method: the SDK's generic call, SM3-signed over the REST path
    plan = await asyncio.to_thread(
        sdk_call,
        client,
        "PlanSnapshotJob",
        "/v1/snapshot-jobs:plan",
        body={
            "Input": {"Type": "Media", "Media": media_id},
            "Output": {"Type": "OSS", "Media": "oss://thumbs/sm3/{Count}.jpg"},
            "TemplateConfig": {"TemplateId": "S00000002-000001", "OverwriteParams": {"Count": 4}},
        },
    )
    signed.append("PlanSnapshotJob")
    deleted = await run(
        "DeleteMediaInfos", client.delete_media_infos, models.DeleteMediaInfosRequest(media_ids=f"{media_id},x")
    )
    wrong = sdk_client(signed_api.port, KEY_ID, "wrong", algorithm=SM3)
    with pytest.raises(ClientException) as refused:
        await asyncio.to_thread(wrong.get_media_info, models.GetMediaInfoRequest(media_id=media_id))

    assert signed == [
        "RegisterMediaInfo",
        "GetMediaInfo",
        "BatchGetMediaInfos",
        "ListMediaBasicInfos",
        "UpdateMediaInfo",
        "SubmitMediaInfoJob",
        "GetMediaInfoJob",
        "ListMediaInfoJobs",
        "SubmitSnapshotJob",
        "PlanSnapshotJob",
        "DeleteMediaInfos",
    ]
    assert info.media_info.media_basic_info.title == "sm3" and info.media_info.media_basic_info.status == "Init"
    assert batch.media_infos[0].media_id == media_id and listed.total_count == 1
    assert (got.media_info_job.job_id, got.media_info_job.input.media) == (job_id, media_id)
    assert jobs.jobs[0].job_id == job_id and snapshot.job_id
    assert plan["Plan"]["Count"] == 4 and plan["Plan"]["Images"][0]["Key"] == "sm3/00001.jpg"
    assert deleted.ignored_list == ["x"]
    assert (refused.value.code, refused.value.status_code) == ("SignatureDoesNotMatch", 400)
