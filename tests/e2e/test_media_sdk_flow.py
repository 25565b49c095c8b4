"""The official SDK, signed, through the media library end to end: register a generated clip, poll
GetMediaInfo until Normal, check its figures against the clip's, snapshot it by MediaId, find the job's
images on the asset, delete the asset and see a new job on it refused."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from alibabacloud_ice20201109 import models
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException

from service.config import Settings
from tests.e2e.conftest import Stack, running_stack
from tests.ice import sdk_call, sdk_client
from tests.media_factory import make_video

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

KEY_ID, SECRET = "LTAImedia0001", "media-secret"
SECONDS, FPS = 6, 25


@pytest.fixture(scope="module")
def phone_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of 320x180 H.264 at 25 fps turned for display (a phone's portrait clip), with AAC audio."""
    return make_video(
        tmp_path_factory.mktemp("media") / "phone.mp4", seconds=SECONDS, fps=FPS, gop=25, rotation=90, audio=True
    )


async def run(call: Any, *args: Any) -> Any:
    """The sync SDK blocks: run it off the loop that serves the API."""
    return (await asyncio.to_thread(call, *args)).body


async def sdk_error(call: Any, *args: Any) -> ClientException:
    with pytest.raises(ClientException) as raised:
        await asyncio.to_thread(call, *args)
    return raised.value


async def poll_media(client: Client, media_id: str, timeout_s: float = 60) -> Any:
    async with asyncio.timeout(timeout_s):
        while True:
            info = (await run(client.get_media_info, models.GetMediaInfoRequest(media_id=media_id))).media_info
            if info.media_basic_info.status != "Init":
                return info
            await asyncio.sleep(0.1)


async def poll_job(client: Client, job_id: str, timeout_s: float = 60) -> Any:
    async with asyncio.timeout(timeout_s):
        while True:
            job = (await run(client.get_snapshot_job, models.GetSnapshotJobRequest(job_id=job_id))).snapshot_job
            if job.status in ("Success", "Fail"):
                return job
            await asyncio.sleep(0.1)


def snapshot_request(media_id: str, template_id: str, output: str, **overrides: Any) -> Any:
    return models.SubmitSnapshotJobRequest(
        input=models.SubmitSnapshotJobRequestInput(type="Media", media=media_id),
        output=models.SubmitSnapshotJobRequestOutput(type="OSS", media=output),
        template_config=models.SubmitSnapshotJobRequestTemplateConfig(
            template_id=template_id,
            overwrite_params=models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(**overrides),
        ),
    )


async def events_of(stack: Stack, kind: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(20):
        while len(found) < count:
            event = await stack.next_event()
            if event["EventType"] == kind:
                found.append(event)
    return found


def settings_with_clip(base_env: dict[str, str], clip: Path, name: str = "phone.mp4") -> Settings:
    settings = Settings.from_env({**base_env, "SNAPSHOTD_ACCESS_KEYS": f"{KEY_ID}:{SECRET}"})
    target = Path(settings.storage.root) / "media" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, target)
    return settings


async def test_register_probe_snapshot_list_delete_through_the_sdk(base_env: dict[str, str], phone_clip: Path) -> None:
    settings = settings_with_clip(base_env, phone_clip)
    async with running_stack(settings) as stack:
        client = sdk_client(stack.api.port, KEY_ID, SECRET)
        register = models.RegisterMediaInfoRequest(
            input_url="oss://media/phone.mp4", title="phone", media_tags="a,b", client_token="t" * 32
        )
        media_id = (await run(client.register_media_info, register)).media_id
        # the same file again, in another spelling, and the same ClientToken: the same asset, nothing started
        again = models.RegisterMediaInfoRequest(input_url="s3://media/phone.mp4")
        assert (await run(client.register_media_info, again)).media_id == media_id
        assert (await run(client.register_media_info, register)).media_id == media_id

        info = await poll_media(client, media_id)
        (probe_event,) = await events_of(stack, "MediaInfoComplete", 1)

        basic = info.media_basic_info
        assert (basic.status, basic.title, basic.media_tags, basic.media_type) == ("Normal", "phone", "a,b", "video")
        (file_info,) = info.file_info_list
        file = file_info.file_basic_info
        assert float(file.duration) == pytest.approx(SECONDS, abs=0.05)
        assert int(file.file_size) == phone_clip.stat().st_size
        assert (file.width, file.height, file.file_status, file.file_type) == ("320", "180", "Normal", "source_file")
        assert "mp4" in file.format_name and file.file_url == "oss://media/phone.mp4"
        (video,) = file_info.video_stream_info_list
        assert (video.codec_name, video.profile, video.pix_fmt) == ("h264", "High", "yuv420p")
        assert float(video.fps) == float(video.avg_fps) == FPS
        assert int(video.num_frames) == SECONDS * FPS and float(video.duration) == pytest.approx(SECONDS, abs=0.05)
        # made with a counter-clockwise display matrix of 90°: a player turns it 270° clockwise
        assert (video.rotate, video.has_bframes, video.timebase, video.sar) == ("270", "2", "1/12800", "1:1")
        (audio,) = file_info.audio_stream_info_list
        assert (audio.codec_name, audio.sample_rate, audio.profile) == ("aac", "48000", "LC")
        assert float(audio.duration) == pytest.approx(SECONDS, abs=0.1)
        assert probe_event["MessageBody"]["MediaId"] == media_id and probe_event["MessageBody"]["Status"] == "Success"

        normal = snapshot_request(media_id, "S00000002-000002", "oss://thumbs/phone/{Count}.jpg", count=3, interval=2)
        sprite = snapshot_request(
            media_id, "S00000002-000003", "oss://thumbs/phone/sheet-{TileCount}.jpg", count=6, interval=1
        )
        job_ids = [(await run(client.submit_snapshot_job, request)).job_id for request in (normal, sprite)]
        jobs = [await poll_job(client, job_id) for job_id in job_ids]
        assert [job.status for job in jobs] == ["Success", "Success"], [(j.code, j.message) for j in jobs]
        assert jobs[0].input.type == "Media" and jobs[0].input.media == media_id

        listed = (await run(client.get_media_info, models.GetMediaInfoRequest(media_id=media_id))).media_info
        snapshots = orjson.loads(listed.media_basic_info.snapshots)
        sprites = orjson.loads(listed.media_basic_info.sprite_images)
        assert [s["JobId"] for s in snapshots] == [job_ids[0]] and [s["JobId"] for s in sprites] == [job_ids[1]]
        assert snapshots[0]["Urls"] == [f"oss://thumbs/phone/{n:05d}.jpg" for n in (1, 2, 3)]
        assert sprites[0]["Urls"] == ["oss://thumbs/phone/sheet-00001.jpg"] and sprites[0]["TileCount"] == 100
        # the portrait clip's images are portrait: the probe's rotation and the engine's agree
        details = await asyncio.to_thread(sdk_call, client, "GetSnapshotJob", query={"JobId": job_ids[0]})
        assert {(i["Width"], i["Height"]) for i in details["SnapshotJob"]["Images"]} == {(180, 320)}

        deleted = await run(client.delete_media_infos, models.DeleteMediaInfosRequest(media_ids=f"{media_id},nope"))
        assert deleted.ignored_list == ["nope"]
        gone = await sdk_error(client.get_media_info, models.GetMediaInfoRequest(media_id=media_id))
        refused = await sdk_error(client.submit_snapshot_job, normal)
        assert (gone.status_code, gone.code) == (404, "InvalidParameter.ResourceNotFound")
        assert (refused.status_code, refused.code) == (404, "InvalidParameter.ResourceNotFound")
        assert "Input.Media" in refused.message
        assert (Path(settings.storage.root) / "media" / "phone.mp4").is_file()  # the file itself stays
        # a new registration of the file is a new asset
        fresh = (await run(client.register_media_info, again)).media_id
        assert fresh != media_id


async def test_an_asset_failed_probe_fails_its_jobs_with_the_reason(base_env: dict[str, str], phone_clip: Path) -> None:
    settings = settings_with_clip(base_env, phone_clip)
    async with running_stack(settings) as stack:
        client = sdk_client(stack.api.port, KEY_ID, SECRET)
        register = models.RegisterMediaInfoRequest(input_url="oss://media/not-there.mp4")
        media_id = (await run(client.register_media_info, register)).media_id
        info = await poll_media(client, media_id)
        assert info.media_basic_info.status == "PrepareFail" and info.file_info_list == []

        request = snapshot_request(media_id, "S00000002-000001", "oss://thumbs/x/{Count}.jpg")
        job = await poll_job(client, (await run(client.submit_snapshot_job, request)).job_id)

    assert (job.status, job.code) == ("Fail", "InvalidParameter.ResourceNotFound")
    assert media_id in job.message and "failed its probe" in job.message and "does not exist" in job.message
