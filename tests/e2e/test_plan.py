"""PlanSnapshotJob against the jobs it describes: for each config, the plan made before the job (no decode)
and the job's own record must agree on every image (slot, times, keyframe, key, size, cell), every
dropped slot, every file, the bytes read over HTTP through the range reader and the frames decoded."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from service.config import Settings
from tests.e2e.conftest import Stack, running_stack
from tests.ice import call, submit_params
from tests.media_factory import make_video
from tests.range_server import serve_directory

pytestmark = [pytest.mark.pg, pytest.mark.amqp, pytest.mark.timeout(120)]

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("intra spread, slots sharing keyframes", {"Count": 30, "Interval": 0}, "plan/a/{Count}.jpg"),
    ("intra every 3 s from 1.5 s", {"Count": 6, "Interval": 3, "Time": 1500, "Width": 160}, "plan/b/{Count}.jpg"),
    ("normal every 1.3 s", {"Count": 12, "Interval": 0, "FrameType": "normal"}, "plan/c/{Count}.webp"),
    (
        "sprite over three sheets",
        {
            "Type": "Sprite",
            "Count": 14,
            "Interval": 1,
            "Width": 80,
            "SpriteSnapshotConfig": {"Columns": 3, "Lines": 2, "Padding": 2, "Margin": 3},
        },
        "plan/d/sheet-{TileCount}.jpg",
    ),
    (
        "WebVtt in sheets with its storyboards",
        {"Type": "WebVtt", "Count": 20, "Interval": 1, "IsSptFrag": True, "StoryboardFormats": ["json", "bif"]},
        "plan/e/board.vtt",
    ),
    ("past the end", {"Count": 5, "Interval": 5, "FrameType": "normal"}, "plan/f/{Count}.png"),
]


@pytest.fixture(scope="module")
def noisy_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s at 25 fps, a keyframe every 2 s, noise so that packets have real sizes, AAC interleaved."""
    return make_video(
        tmp_path_factory.mktemp("media") / "noisy.mp4", seconds=20, fps=25, gop=50, noise=True, audio=True
    )


@pytest.fixture
def served(noisy_clip: Path, tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "served"
    root.mkdir()
    shutil.copyfile(noisy_clip, root / "noisy.mp4")
    with serve_directory(root) as base:
        yield f"{base}/noisy.mp4"


def job_request(media: dict[str, str], overrides: dict[str, Any], output: str) -> dict[str, Any]:
    params = submit_params(output=f"oss://thumbs/{output}", **overrides)
    return {**params, "Input": media}


async def plan_and_run(stack: Stack, request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    response = await stack.api.post("/v1/snapshot-jobs:plan", json=request)
    plan = await response.json()
    assert response.status == 200, plan
    status, submitted = await call(stack.api, "SubmitSnapshotJob", **request)
    assert status == 200, submitted
    job = await stack.wait_final(submitted["JobId"])
    assert job["Status"] == "Success", job
    return plan["Plan"], job


def compare(plan: dict[str, Any], job: dict[str, Any], storage: Path) -> None:
    images = [{k: v for k, v in image.items() if k != "Bytes"} for image in job["Images"]]
    assert plan["Images"] == images
    assert plan["DroppedSlots"] == job["DroppedSlots"]
    assert plan["Count"] == job["Count"]
    written = [artifact["Key"] for artifact in job["Artifacts"]]
    assert [f["Key"] for f in plan["Files"]] + plan["Storyboards"] == written
    for file in plan["Files"]:
        with Image.open(storage / "thumbs" / file["Key"]) as stored:
            assert stored.size == (file["Width"], file["Height"]), file
        assert file["Images"] == sum(1 for image in images if image["Key"] == file["Key"])
    stats = job["Stats"]
    if plan["FrameType"] == "intra":
        assert plan["FramesExpected"] == stats["FramesDecoded"]
    else:
        # the keyframe-to-target decode the plan counts is the most the engine does: it skips non-reference
        # frames shown early (known only when decoding) and stops at an answer before a seek
        handled = stats["FramesDecoded"] + stats["FramesSkipped"]
        assert plan["FramesExpected"] * 0.9 <= handled <= plan["FramesExpected"]
    read = job["Stats"]["BytesRead"]
    if plan["FrameType"] == "intra":
        # one packet read a slot: the reader's blocks, exactly
        assert plan["BytesExpected"] == read
    else:
        # demuxing forward: the packets are modelled one read each, the demuxer's own reads differ a little
        assert plan["BytesExpected"] == pytest.approx(read, rel=0.05)


async def test_each_plan_matches_its_job_over_http(base_env: dict[str, str], served: str) -> None:
    # a plan describes the job run in one process: in shards, each shard reads the header again
    settings = Settings.from_env({**base_env, "SNAPSHOTD_SSRF_ALLOW": "127.0.0.1/32", "SNAPSHOTD_JOB_SHARDS": "1"})
    async with running_stack(settings) as stack:
        for name, overrides, output in CASES:
            plan, job = await plan_and_run(stack, job_request({"Type": "OSS", "Media": served}, overrides, output))
            compare(plan, job, Path(settings.storage.root))
            assert plan["Basis"] == "index" and plan["BytesExpected"] > 0, name
            # the plan read the header and index only: a small part of what the job reads
            assert plan["BytesRead"] < plan["BytesExpected"] and plan["BytesRead"] < plan["InputBytes"] / 10, name
        assert plan["DroppedSlots"] == [{"Index": 4, "RequestedMs": 20000, "Reason": "past_end"}]


async def test_a_plan_of_a_media_asset_uses_its_probe(base_env: dict[str, str]) -> None:
    folder = Path(base_env["SNAPSHOTD_STORAGE_ROOT"]) / "media"
    folder.mkdir(parents=True)
    phone = make_video(folder / "phone.mp4", seconds=4, rotation=90)
    settings = Settings.from_env(base_env)
    async with running_stack(settings) as stack:
        media_id = (await call(stack.api, "RegisterMediaInfo", InputURL="oss://media/phone.mp4"))[1]["MediaId"]
        plan, job = await plan_and_run(
            stack, job_request({"Type": "Media", "Media": media_id}, {"Count": 4, "Interval": 1}, "p/{Count}.jpg")
        )
        compare(plan, job, Path(settings.storage.root))
        # portrait, as the probe's rotation says; a local file is not read through the range reader
        assert (plan["Width"], plan["Height"]) == (180, 320) and plan["BytesExpected"] == 0
        assert plan["InputBytes"] == phone.stat().st_size

        late = job_request({"Type": "Media", "Media": media_id}, {"Time": 60_000}, "p/late.jpg")
        refused = await stack.api.post("/v1/snapshot-jobs:plan", json=late)
        assert (refused.status, (await refused.json())["Code"]) == (400, "InvalidParameter.OutOfRange")
