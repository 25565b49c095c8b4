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

from service.api.actions.params import Params
from service.api.keys import PIPELINES, WAKE_RELAY
from service.domain.request_fields import NAME, PIPELINE_STATUS, PRIORITY, SPEED
from service.errors import ResourceNotFound
from service.events.payloads import ice_time
from service.store.pipelines import Pipeline, PipelineChanges, PipelineStore

log = logging.getLogger(__name__)


def _store(request: web.Request) -> PipelineStore:
    return request.app[PIPELINES]


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


async def create_pipeline(request: web.Request, params: Params) -> dict[str, Any]:
    name: str = params.field(NAME, required=True)
    speed: str = params.field(SPEED, required=True)
    priority: int = params.field(PRIORITY)
    pipeline = await _store(request).create(uuid.uuid4().hex, name, speed, priority)
    return {"Pipeline": pipeline_view(pipeline)}


async def get_pipeline(request: web.Request, params: Params) -> dict[str, Any]:
    pipeline_id = params.string("PipelineId", required=True) or ""
    pipeline = await _store(request).get(pipeline_id)
    if pipeline is None:
        raise ResourceNotFound.of("Pipeline", pipeline_id)
    return {"Pipeline": pipeline_view(pipeline)}


async def list_pipelines(request: web.Request, params: Params) -> dict[str, Any]:
    """Every live pipeline, oldest first (ICE does not page this list)."""
    speed = params.field(SPEED)
    return {"PipelineList": [pipeline_view(p) for p in await _store(request).list(speed)]}


async def update_pipeline(request: web.Request, params: Params) -> dict[str, Any]:
    pipeline_id = params.string("PipelineId", required=True) or ""
    changes = PipelineChanges(
        name=params.field(NAME),
        priority=params.field(PRIORITY, declared_default=False),
        status=params.field(PIPELINE_STATUS),
    )
    updated = await _store(request).update(pipeline_id, changes)
    if updated is None:
        raise ResourceNotFound.of("Pipeline", pipeline_id)
    pipeline, dispatched = updated
    if dispatched:
        request.app[WAKE_RELAY]()
        log.info(
            "pipeline resumed, %d held job(s) dispatched",
            dispatched,
            extra={"action": "pipeline_resumed", "pipeline_id": pipeline.pipeline_id, "jobs": dispatched},
        )
    return {"Success": True}


async def delete_pipeline(request: web.Request, params: Params) -> dict[str, Any]:
    pipeline_id = params.string("PipelineId", required=True) or ""
    if not await _store(request).delete(pipeline_id):
        raise ResourceNotFound.of("Pipeline", pipeline_id)
    return {"Success": True}
