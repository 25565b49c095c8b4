"""PlanSnapshotJob (and `POST /v1/snapshot-jobs:plan`): the job SubmitSnapshotJob would run, answered
before any decode, from the file's probe and its container index (an extension; no peer offers it).

The parameters and every check are SubmitSnapshotJob's (`jobs.check_submission`); nothing is stored.
The answer lists the images and sheets the job would write (times, keys, sizes, cells), the slots it
would drop (past the end; for `intra`, those whose keyframe the slot before took), the storyboards, and
the bytes it expects to read from an http(s)/S3 input. A media asset's probe gives the duration and the
rotation; any other input is opened for its index (and its first keyframe decoded for the rotation).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from service.api.actions.jobs import check_submission
from service.api.actions.params import Params
from service.api.keys import PLANNER, SETTINGS, SSRF_ALLOW, STORAGE
from service.api.planner import Planner
from service.domain.plan import CapturePlan
from service.domain.snapshot_config import to_ice
from service.media.plan import PlanSpec
from service.storage.inputs import readable


async def planner_context(app: web.Application) -> AsyncIterator[None]:
    """The plans' process pool for the app's life (spawned only by the first plan)."""
    planner = Planner(app[SETTINGS].worker)
    app[PLANNER] = planner
    try:
        yield
    finally:
        await asyncio.to_thread(planner.close)


async def plan_snapshot_job(request: web.Request, params: Params) -> dict[str, Any]:
    checked = await check_submission(request, params)
    settings = request.app[SETTINGS]
    asset, url = checked.asset, checked.submit.input.raw["Media"]
    probe = asset.probe if asset is not None else None
    if asset is not None:
        url = asset.source
    where = await readable(request.app[STORAGE], url, "Input.Media", tuple(str(n) for n in request.app[SSRF_ALLOW]))
    spec = PlanSpec(
        source=where.source,
        config=checked.config,
        output_key=checked.output_key,
        max_input_bytes=settings.limits.max_input_mb * 1024 * 1024,
        ssrf_allow=where.ssrf_allow,
        known_duration_ms=probe.capture_duration_ms if probe is not None else None,
        known_rotation=probe.video[0].rotate if probe is not None and probe.video else None,
    )
    return {"Plan": plan_view(await request.app[PLANNER].plan(spec))}


def plan_view(plan: CapturePlan) -> dict[str, Any]:
    """The plan in GetSnapshotJob's spelling, so each entry compares with the job's own."""
    config = plan.config
    return {
        "Type": config.type.value,
        "FrameType": config.frame_type.value,
        "TemplateConfig": orjson.dumps(to_ice(config)).decode(),
        "DurationMs": plan.duration_ms,
        "Width": plan.output_size[0],
        "Height": plan.output_size[1],
        "Count": len(plan.images),
        "Images": [
            {
                "Index": i.index,
                "RequestedMs": i.requested_ms,
                "CapturedMs": i.captured_ms,
                "KeyFrame": i.keyframe,
                "Key": i.key,
                "Width": i.width,
                "Height": i.height,
                **({"X": i.x, "Y": i.y} if i.x is not None else {}),
            }
            for i in plan.images
        ],
        "DroppedSlots": [{"Index": d.index, "RequestedMs": d.requested_ms, "Reason": d.reason} for d in plan.dropped],
        "Files": [{"Key": f.key, "Width": f.width, "Height": f.height, "Images": f.images} for f in plan.files],
        "Storyboards": list(plan.storyboards),
        "InputBytes": plan.input_bytes,
        "BytesExpected": plan.bytes_expected,
        "BytesRead": plan.bytes_read,
        "FramesExpected": plan.frames_expected,
        "Basis": plan.basis,
        "Notes": list(plan.notes),
    }
