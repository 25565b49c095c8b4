"""Image formats through the API: each job's images are served with the Content-Type of their bytes, and
an output snapshotd cannot write is a 400 InvalidParameter naming Output.Media at submission."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from service.config import Settings
from tests.e2e.conftest import running_stack
from tests.ice import call, submit_params
from tests.integration.api.test_snapshot_urls import fetch, put_local, run_job, urls

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

#: Content-Type → what Pillow reads those bytes as
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/avif": "AVIF"}


async def test_every_object_is_served_as_what_it_is(settings: Settings, clip: Path) -> None:
    put_local(settings, "media", "clip.mp4", clip)
    async with running_stack(settings) as stack:
        for ext, content_type, params in (
            (".jpeg", "image/jpeg", {"Count": 2, "Interval": 1}),
            (".png", "image/png", {"Count": 2, "Interval": 1}),
            (".webp", "image/webp", {"Count": 2, "Interval": 1, "Quality": 50}),
            (".avif", "image/avif", {"Type": "Sprite", "Count": 4, "Interval": 1}),
        ):
            placeholder = "{TileCount}" if params.get("Type") == "Sprite" else "{Count}"
            job = await run_job(stack, **submit_params(output=f"oss://thumbs/f/{placeholder}{ext}", Width=96, **params))
            assert {a["ContentType"] for a in job["Artifacts"]} == {content_type}
            for url in (await urls(stack.api, job["JobId"]))["SnapshotUrls"]:
                response = await fetch(stack.api, url)
                assert response.status == 200
                assert response.headers["Content-Type"] == content_type
                with Image.open(io.BytesIO(await response.read())) as image:
                    assert image.format == FORMATS[content_type]


@pytest.mark.parametrize(
    "output", ["oss://thumbs/o/{Count}.gif", "oss://thumbs/o/{Count}", "oss://thumbs/o/{Count}.tiff"]
)
async def test_an_output_snapshotd_cannot_write_is_400(settings: Settings, output: str) -> None:
    async with running_stack(settings) as stack:
        status, body = await call(stack.api, "SubmitSnapshotJob", **submit_params(output=output, Count=2, Interval=1))
    assert (status, body["Code"]) == (400, "InvalidParameter")
    assert '"Output.Media"' in body["Message"] and ".png, .webp, .avif" in body["Message"]
