"""Pipeline actions: CreatePipeline, GetPipeline, ListPipelines, UpdatePipeline, DeletePipeline.

Pausing a pipeline only stops *new* submissions from being dispatched (SubmitSnapshotJob leaves them
in Init); resuming it (Status Paused → Active) dispatches every never-dispatched Init job of the
pipeline at the pipeline's priority, through the outbox, in the transaction of the status change
(see `store/pipelines.py`). The broker is never waited on here: the relay publishes.

Refusals specific to pipelines:
- DeletePipeline of a pipeline with Init or Processing jobs: 409 `Conflict.PipelineInUse`.
- DeletePipeline of the default pipeline: 403 `Forbidden.DefaultPipeline`.
- Unknown or deleted PipelineId: 404 `ResourceNotFound` for "Pipeline".
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from aiohttp import web

from service.api.actions import actions
from service.api.keys import PG_POOL, RELAY
from service.api.params import Params
from service.api.schemas import MAX_NAME_CHARS
from service.errors import InvalidParameter, ResourceNotFound
from service.events.payloads import ice_time
from service.store.pipelines import Pipeline, PipelineChanges, PipelineStore

log = logging.getLogger(__name__)

#: ICE's Speed values (§6 of the API notes); all run on the same workers here
SPEEDS = ("Standard", "Boost", "NarrowBandHDV2")
STATUSES = ("Active", "Paused")
#: ICE: Priority 1..10, default 6, larger runs first
MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 1, 10, 6


def _store(request: web.Request) -> PipelineStore:
    return PipelineStore(request.app[PG_POOL])


def _choice(params: Params, name: str, allowed: tuple[str, ...], *, required: bool = False) -> str | None:
    value = params.string(name, required=required)
    if value is not None and value not in allowed:
        raise InvalidParameter.named(name, f"It must be one of {', '.join(allowed)}.")
    return value


def pipeline_view(pipeline: Pipeline) -> dict[str, Any]:
    """The SDK's Pipeline model."""
    return {
        "PipelineId": pipeline.pipeline_id,
        "Name": pipeline.name,
        "Speed": pipeline.speed,
        "Priority": pipeline.priority,
        "Status": pipeline.status,
        "CreateTime": ice_time(pipeline.create_time),
        "ModifiedTime": ice_time(pipeline.modified_time),
    }


@actions.register("CreatePipeline")
async def create_pipeline(request: web.Request, params: Params) -> dict[str, Any]:
    name = params.string("Name", required=True, max_length=MAX_NAME_CHARS) or ""
    speed = _choice(params, "Speed", SPEEDS, required=True) or ""
    priority = params.integer("Priority", default=DEFAULT_PRIORITY, low=MIN_PRIORITY, high=MAX_PRIORITY)
    pipeline = await _store(request).create(uuid.uuid4().hex, name, speed, priority)
    return {"Pipeline": pipeline_view(pipeline)}


@actions.register("GetPipeline")
async def get_pipeline(request: web.Request, params: Params) -> dict[str, Any]:
    pipeline_id = params.string("PipelineId", required=True) or ""
    pipeline = await _store(request).get(pipeline_id)
    if pipeline is None:
        raise ResourceNotFound.of("Pipeline", pipeline_id)
    return {"Pipeline": pipeline_view(pipeline)}


@actions.register("ListPipelines")
async def list_pipelines(request: web.Request, params: Params) -> dict[str, Any]:
    """Every live pipeline, oldest first (ICE does not page this list)."""
    speed = _choice(params, "Speed", SPEEDS)
    return {"PipelineList": [pipeline_view(p) for p in await _store(request).list(speed)]}


@actions.register("UpdatePipeline")
async def update_pipeline(request: web.Request, params: Params) -> dict[str, Any]:
    pipeline_id = params.string("PipelineId", required=True) or ""
    changes = PipelineChanges(
        name=params.string("Name", max_length=MAX_NAME_CHARS),
        priority=(
            params.integer("Priority", default=DEFAULT_PRIORITY, low=MIN_PRIORITY, high=MAX_PRIORITY)
            if params.string("Priority") is not None
            else None
        ),
        status=_choice(params, "Status", STATUSES),
    )
    updated = await _store(request).update(pipeline_id, changes)
    if updated is None:
        raise ResourceNotFound.of("Pipeline", pipeline_id)
    pipeline, dispatched = updated
    if dispatched:
        request.app[RELAY].poke()
        log.info(
            "pipeline resumed, %d held job(s) dispatched",
            dispatched,
            extra={"action": "pipeline_resumed", "pipeline_id": pipeline.pipeline_id, "jobs": dispatched},
        )
    return {"Success": True}


@actions.register("DeletePipeline")
async def delete_pipeline(request: web.Request, params: Params) -> dict[str, Any]:
    pipeline_id = params.string("PipelineId", required=True) or ""
    if not await _store(request).delete(pipeline_id):
        raise ResourceNotFound.of("Pipeline", pipeline_id)
    return {"Success": True}
