"""The official Alibaba Cloud SDK, signed, through a whole working session against snapshotd:
templates, pipelines (paused and resumed), Normal / Sprite / WebVtt jobs polled to Success, their
URLs fetched and every image downloaded, paged listing, and a rejection as the SDK raises it."""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from alibabacloud_ice20201109 import models
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from PIL import Image

from service.config import Settings
from tests.e2e.conftest import running_stack
from tests.ice import sdk_client

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

KEY_ID, SECRET = "LTAIflow0001", "flow-secret"


def sdk(port: int) -> Client:
    return sdk_client(port, KEY_ID, SECRET)


async def run(call: Any, *args: Any) -> Any:
    """The sync SDK blocks: run it off the loop that serves the API."""
    return (await asyncio.to_thread(call, *args)).body


def submit(template_id: str, output: str, pipeline_id: str | None = None, **overrides: Any) -> Any:
    return models.SubmitSnapshotJobRequest(
        input=models.SubmitSnapshotJobRequestInput(type="OSS", media="oss://media/clip.mp4"),
        output=models.SubmitSnapshotJobRequestOutput(type="OSS", media=output),
        template_config=models.SubmitSnapshotJobRequestTemplateConfig(
            template_id=template_id,
            overwrite_params=models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(**overrides),
        ),
        schedule_config=models.SubmitSnapshotJobRequestScheduleConfig(pipeline_id=pipeline_id) if pipeline_id else None,
    )


async def poll(client: Client, job_id: str, timeout_s: float = 60) -> Any:
    async with asyncio.timeout(timeout_s):
        while True:
            job = (await run(client.get_snapshot_job, models.GetSnapshotJobRequest(job_id=job_id))).snapshot_job
            if job.status in ("Success", "Fail"):
                return job
            await asyncio.sleep(0.1)


async def download_all(client: Client, job_id: str) -> tuple[list[bytes], str]:
    request = models.GetSnapshotUrlsRequest(job_id=job_id, page_size=30, timeout=600)
    urls = await run(client.get_snapshot_urls, request)
    assert urls.total == len(urls.snapshot_urls)
    async with aiohttp.ClientSession() as http:
        images = []
        for url in urls.snapshot_urls:
            async with http.get(url) as response:
                assert response.status == 200, url
                images.append(await response.read())
        vtt = ""
        if urls.web_vtturl:
            async with http.get(urls.web_vtturl) as response:
                assert response.headers["Content-Type"].startswith("text/vtt")
                vtt = await response.text()
    return images, vtt


async def test_a_working_session_through_the_official_sdk(base_env: dict[str, str], clip: Path) -> None:
    settings = Settings.from_env({**base_env, "SNAPSHOTD_ACCESS_KEYS": f"{KEY_ID}:{SECRET}"})
    target = Path(settings.storage.root) / "media" / "clip.mp4"
    target.parent.mkdir(parents=True)
    shutil.copyfile(clip, target)

    async with running_stack(settings) as stack:
        client = sdk(stack.api.port)
        sprite_config = {
            "Type": "Sprite",
            "Count": 8,
            "Interval": 1,
            "Width": 80,
            "SpriteSnapshotConfig": {"Columns": 4, "Lines": 2, "Padding": 2, "Margin": 3},
        }
        template = (
            await run(
                client.create_custom_template,
                models.CreateCustomTemplateRequest(
                    name="thumbs", type=2, subtype=2, template_config=orjson.dumps(sprite_config).decode()
                ),
            )
        ).custom_template
        pipeline = (
            await run(client.create_pipeline, models.CreatePipelineRequest(name="night", speed="Standard", priority=8))
        ).pipeline
        await run(
            client.update_pipeline, models.UpdatePipelineRequest(pipeline_id=pipeline.pipeline_id, status="Paused")
        )

        normal_id = (
            await run(
                client.submit_snapshot_job,
                submit("S00000002-000002", "oss://thumbs/n/{Count}.jpg", count=3, interval=2),
            )
        ).job_id
        sprite_id = (
            await run(
                client.submit_snapshot_job,
                submit(template.template_id, "oss://thumbs/s/{TileCount}.jpg", pipeline.pipeline_id),
            )
        ).job_id
        vtt_id = (
            await run(
                client.submit_snapshot_job,
                submit("S00000002-000004", "oss://thumbs/v/index.vtt", count=5, interval=2, width=64),
            )
        ).job_id

        normal, vtt = await poll(client, normal_id), await poll(client, vtt_id)
        held = (await run(client.get_snapshot_job, models.GetSnapshotJobRequest(job_id=sprite_id))).snapshot_job
        assert held.status == "Init"  # its pipeline is paused
        await run(
            client.update_pipeline, models.UpdatePipelineRequest(pipeline_id=pipeline.pipeline_id, status="Active")
        )
        sprite = await poll(client, sprite_id)

        normal_images, _ = await download_all(client, normal_id)
        sprite_images, _ = await download_all(client, sprite_id)
        vtt_images, vtt_text = await download_all(client, vtt_id)

        ids: list[str] = []
        token = None
        for _ in range(5):
            page = await run(
                client.list_snapshot_jobs,
                models.ListSnapshotJobsRequest(page_size=2, next_page_token=token, order_by="CreateTimeAsc"),
            )
            ids += [job.job_id for job in page.jobs]
            if not (token := page.next_page_token):
                break

        with pytest.raises(ClientException) as missing:
            await run(client.get_snapshot_job, models.GetSnapshotJobRequest(job_id="0" * 32))

    assert (normal.status, normal.count, sprite.status, sprite.count, vtt.status, vtt.count) == (
        "Success",
        3,
        "Success",
        8,
        "Success",
        5,
    )
    assert sprite.pipeline_id == pipeline.pipeline_id and sprite.template_id == template.template_id
    assert [Image.open(io.BytesIO(b)).size for b in normal_images] == [(320, 180)] * 3
    sheet = Image.open(io.BytesIO(sprite_images[0]))
    # 80 px wide cells of a 16:9 source are 44 px high (45 rounded to even, as encoders want)
    assert sheet.size == (4 * 80 + 3 * 2 + 2 * 3, 2 * 44 + 1 * 2 + 2 * 3)
    assert vtt_text.startswith("WEBVTT") and vtt_text.count("-->") == 5
    assert len(vtt_images) >= 1
    assert ids == [normal_id, sprite_id, vtt_id]
    assert (missing.value.code, missing.value.status_code) == ("JobNotFound", 404)
