"""Pipeline actions against the real app, PostgreSQL and RabbitMQ: shapes, refusals, pause/resume
dispatch, and the delete guards."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import asyncpg
import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage
from aiohttp.test_utils import TestClient
from alibabacloud_ice20201109 import models
from alibabacloud_ice20201109.client import Client

from service.api.keys import RELAY
from service.config import Settings
from service.queue import topology
from service.store.outbox import backlog
from service.store.pool import create_pool
from tests.ice import call, sdk_client, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

DEFAULT_PIPELINE = "00000000000000000000000000000001"
HEX32 = re.compile(r"[0-9a-f]{32}")
ICE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database)
    yield pool
    await pool.close()


async def dispatched(api: TestClient, pool: asyncpg.Pool, settings: Settings) -> list[AbstractIncomingMessage]:
    """Every job message published so far: waits for the app's relay to empty the outbox, then drains
    the jobs queue (so each message is seen once)."""
    async with asyncio.timeout(10):
        while await backlog(pool):
            api.app[RELAY].poke()
            await asyncio.sleep(0.02)
    async with await aio_pika.connect(settings.amqp.url) as connection:
        queue = (await topology.declare(await connection.channel(), settings.amqp)).jobs_queue
        messages = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            messages.append(message)
        return messages


async def outbox_job_ids(pool: asyncpg.Pool) -> list[str]:
    return [row["message_id"] for row in await pool.fetch("SELECT message_id FROM outbox WHERE kind = 'dispatch'")]


async def create(api: TestClient, name: str = "p", **params: Any) -> dict[str, Any]:
    status, body = await call(api, "CreatePipeline", Name=name, **{"Speed": "Standard", **params})
    assert status == 200, body
    return dict(body["Pipeline"])


async def get(api: TestClient, pipeline_id: str) -> dict[str, Any]:
    status, body = await call(api, "GetPipeline", PipelineId=pipeline_id)
    assert status == 200, body
    return dict(body["Pipeline"])


async def submit(api: TestClient, pipeline_id: str) -> str:
    status, body = await call(api, "SubmitSnapshotJob", **submit_params(), ScheduleConfig={"PipelineId": pipeline_id})
    assert status == 200, body
    return str(body["JobId"])


async def job_status(api: TestClient, job_id: str) -> str:
    _, body = await call(api, "GetSnapshotJob", JobId=job_id)
    return str(body["SnapshotJob"]["Status"])


def assert_error(status: int, body: dict[str, Any], want_status: int, code: str, named: str) -> None:
    assert (status, body["Code"]) == (want_status, code), body
    assert named in body["Message"], body


async def test_create_returns_the_sdk_shape(api: TestClient) -> None:
    status, body = await call(api, "CreatePipeline", Name="fast lane", Speed="Boost", Priority=9)

    assert status == 200, body
    assert set(body) == {"RequestId", "Pipeline"}
    pipeline = body["Pipeline"]
    assert set(pipeline) == {"PipelineId", "Name", "Speed", "Priority", "Status", "CreateTime", "ModifiedTime"}
    assert HEX32.fullmatch(pipeline["PipelineId"])
    assert (pipeline["Name"], pipeline["Speed"], pipeline["Status"]) == ("fast lane", "Boost", "Active")
    assert pipeline["Priority"] == 9 and isinstance(pipeline["Priority"], int)
    assert ICE_TIME.fullmatch(pipeline["CreateTime"]) and ICE_TIME.fullmatch(pipeline["ModifiedTime"])
    assert await get(api, pipeline["PipelineId"]) == pipeline


async def test_priority_defaults_to_6(api: TestClient) -> None:
    assert (await create(api, Speed="NarrowBandHDV2"))["Priority"] == 6


@pytest.mark.parametrize(
    ("params", "code", "named"),
    [
        ({"Speed": "Standard"}, "MissingParameter", "Name"),
        ({"Name": "n" * 129, "Speed": "Standard"}, "InvalidParameter", "Name"),
        ({"Name": "p"}, "MissingParameter", "Speed"),
        ({"Name": "p", "Speed": "Turbo"}, "InvalidParameter", "Speed"),
        ({"Name": "p", "Speed": "Standard", "Priority": 0}, "InvalidParameter", "Priority"),
        ({"Name": "p", "Speed": "Standard", "Priority": 11}, "InvalidParameter", "Priority"),
        ({"Name": "p", "Speed": "Standard", "Priority": "high"}, "InvalidParameter", "Priority"),
    ],
)
async def test_bad_create_is_refused(api: TestClient, params: dict[str, Any], code: str, named: str) -> None:
    assert_error(*await call(api, "CreatePipeline", **params), 400, code, named)


async def test_get_refusals(api: TestClient) -> None:
    status, body = await call(api, "GetPipeline", PipelineId="f" * 32)

    assert_error(status, body, 404, "ResourceNotFound", 'The specified resource for "Pipeline" could not be found')
    assert_error(*await call(api, "GetPipeline"), 400, "MissingParameter", "PipelineId")


async def test_list_and_speed_filter(api: TestClient) -> None:
    boost = await create(api, "b", Speed="Boost")
    standard = await create(api, "s")

    status, body = await call(api, "ListPipelines")
    assert status == 200, body
    assert set(body) == {"RequestId", "PipelineList"}
    assert [p["PipelineId"] for p in body["PipelineList"]] == [
        DEFAULT_PIPELINE,
        boost["PipelineId"],
        standard["PipelineId"],
    ]
    assert body["PipelineList"][1] == boost

    _, boosted = await call(api, "ListPipelines", Speed="Boost")
    assert boosted["PipelineList"] == [boost]
    assert_error(*await call(api, "ListPipelines", Speed="Slow"), 400, "InvalidParameter", "Speed")


async def test_update_changes_only_what_is_given(api: TestClient) -> None:
    pipeline = await create(api, "old", Priority=3)

    status, body = await call(api, "UpdatePipeline", PipelineId=pipeline["PipelineId"], Name="new", Priority=8)
    assert (status, body["Success"]) == (200, True)
    after = await get(api, pipeline["PipelineId"])
    assert (after["Name"], after["Priority"], after["Status"], after["Speed"]) == ("new", 8, "Active", "Standard")

    await call(api, "UpdatePipeline", PipelineId=pipeline["PipelineId"], Status="Paused")
    paused = await get(api, pipeline["PipelineId"])
    assert (paused["Name"], paused["Priority"], paused["Status"]) == ("new", 8, "Paused")


@pytest.mark.parametrize(
    ("params", "status", "code", "named"),
    [
        ({}, 400, "MissingParameter", "PipelineId"),
        ({"PipelineId": "f" * 32, "Name": "x"}, 404, "ResourceNotFound", "Pipeline"),
        ({"PipelineId": DEFAULT_PIPELINE, "Status": "Stopped"}, 400, "InvalidParameter", "Status"),
        ({"PipelineId": DEFAULT_PIPELINE, "Priority": 11}, 400, "InvalidParameter", "Priority"),
        ({"PipelineId": DEFAULT_PIPELINE, "Name": "n" * 129}, 400, "InvalidParameter", "Name"),
    ],
)
async def test_bad_update_is_refused(
    api: TestClient, params: dict[str, Any], status: int, code: str, named: str
) -> None:
    assert_error(*await call(api, "UpdatePipeline", **params), status, code, named)


async def test_paused_jobs_are_dispatched_on_resume(api: TestClient, pool: asyncpg.Pool, settings: Settings) -> None:
    pipeline = await create(api, "batch", Priority=9)
    pipeline_id = pipeline["PipelineId"]
    await call(api, "UpdatePipeline", PipelineId=pipeline_id, Status="Paused")

    job_ids = [await submit(api, pipeline_id) for _ in range(2)]

    # held back: still Init, no dispatch written, nothing on the queue
    assert [await job_status(api, job_id) for job_id in job_ids] == ["Init", "Init"]
    assert await outbox_job_ids(pool) == []
    assert await dispatched(api, pool, settings) == []

    status, body = await call(api, "UpdatePipeline", PipelineId=pipeline_id, Status="Active")
    assert (status, body["Success"]) == (200, True)

    messages = await dispatched(api, pool, settings)
    assert sorted(orjson.loads(m.body)["job_id"] for m in messages) == sorted(job_ids)
    assert sorted(m.message_id or "" for m in messages) == sorted(job_ids)
    assert {m.priority for m in messages} == {9}
    assert (await get(api, pipeline_id))["Status"] == "Active"
    assert [await job_status(api, job_id) for job_id in job_ids] == ["Init", "Init"]

    # Active → Active is not a resume: nothing is dispatched twice
    await call(api, "UpdatePipeline", PipelineId=pipeline_id, Status="Active", Name="again")
    assert await dispatched(api, pool, settings) == []


async def test_resume_dispatches_at_the_new_priority(api: TestClient, pool: asyncpg.Pool, settings: Settings) -> None:
    pipeline_id = (await create(api, "p", Priority=2))["PipelineId"]
    await call(api, "UpdatePipeline", PipelineId=pipeline_id, Status="Paused")
    job_id = await submit(api, pipeline_id)

    await call(api, "UpdatePipeline", PipelineId=pipeline_id, Status="Active", Priority=7)

    [message] = await dispatched(api, pool, settings)
    assert (message.message_id, message.priority) == (job_id, 7)


async def test_active_pipeline_dispatches_at_submission(
    api: TestClient, pool: asyncpg.Pool, settings: Settings
) -> None:
    pipeline = await create(api, "live", Priority=4)

    job_id = await submit(api, pipeline["PipelineId"])

    [message] = await dispatched(api, pool, settings)
    assert (orjson.loads(message.body)["job_id"], message.priority) == (job_id, 4)


async def test_delete_guards_and_soft_delete(api: TestClient, pool: asyncpg.Pool) -> None:
    pipeline_id = (await create(api, "busy"))["PipelineId"]
    await call(api, "UpdatePipeline", PipelineId=pipeline_id, Status="Paused")
    job_id = await submit(api, pipeline_id)

    status, body = await call(api, "DeletePipeline", PipelineId=pipeline_id)
    assert_error(status, body, 409, "Conflict.PipelineInUse", pipeline_id)
    assert (await get(api, pipeline_id))["Name"] == "busy"

    # once the job is final the pipeline can go; the finished job keeps its PipelineId
    await pool.execute("UPDATE jobs SET status = 'Success', finish_time = now() WHERE job_id = $1", job_id)
    status, body = await call(api, "DeletePipeline", PipelineId=pipeline_id)
    assert (status, body["Success"]) == (200, True)

    assert_error(*await call(api, "GetPipeline", PipelineId=pipeline_id), 404, "ResourceNotFound", "Pipeline")
    _, listed = await call(api, "ListPipelines")
    assert pipeline_id not in [p["PipelineId"] for p in listed["PipelineList"]]
    _, job = await call(api, "GetSnapshotJob", JobId=job_id)
    assert job["SnapshotJob"]["PipelineId"] == pipeline_id
    assert_error(
        *await call(api, "SubmitSnapshotJob", **submit_params(), ScheduleConfig={"PipelineId": pipeline_id}),
        404,
        "ResourceNotFound",
        "Pipeline",
    )
    assert_error(
        *await call(api, "UpdatePipeline", PipelineId=pipeline_id, Name="x"), 404, "ResourceNotFound", "Pipeline"
    )
    assert_error(*await call(api, "DeletePipeline", PipelineId=pipeline_id), 404, "ResourceNotFound", "Pipeline")


async def test_delete_refusals(api: TestClient) -> None:
    assert_error(
        *await call(api, "DeletePipeline", PipelineId=DEFAULT_PIPELINE), 403, "Forbidden.DefaultPipeline", "default"
    )
    assert_error(*await call(api, "DeletePipeline", PipelineId="f" * 32), 404, "ResourceNotFound", "Pipeline")
    assert_error(*await call(api, "DeletePipeline"), 400, "MissingParameter", "PipelineId")
    # the default pipeline is still there and still takes jobs without a PipelineId
    status, _ = await call(api, "SubmitSnapshotJob", **submit_params())
    assert status == 200


def sdk(api: TestClient) -> Client:
    """The official client pointed at the (unsigned) test app; the key is never checked there."""
    return sdk_client(api.port)


async def test_official_sdk_maps_every_field(api: TestClient) -> None:
    client = sdk(api)

    created = await asyncio.to_thread(
        client.create_pipeline, models.CreatePipelineRequest(name="sdk", speed="Boost", priority=8)
    )
    pipeline = created.body.pipeline
    assert (pipeline.name, pipeline.speed, pipeline.priority, pipeline.status) == ("sdk", "Boost", 8, "Active")
    updated = await asyncio.to_thread(
        client.update_pipeline, models.UpdatePipelineRequest(pipeline_id=pipeline.pipeline_id, status="Paused")
    )
    got = await asyncio.to_thread(client.get_pipeline, models.GetPipelineRequest(pipeline_id=pipeline.pipeline_id))
    listed = await asyncio.to_thread(client.list_pipelines, models.ListPipelinesRequest(speed="Boost"))
    deleted = await asyncio.to_thread(
        client.delete_pipeline, models.DeletePipelineRequest(pipeline_id=pipeline.pipeline_id)
    )

    assert updated.body.success is True and deleted.body.success is True
    assert (got.body.pipeline.status, got.body.pipeline.create_time) == ("Paused", pipeline.create_time)
    assert [p.pipeline_id for p in listed.body.pipeline_list] == [pipeline.pipeline_id]
