"""HTTP callbacks: signed ICE-style, retried while the receiver is down, delivered once it is up,
refused by the SSRF guard unless allow-listed, and replayable after the last attempt."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from service.api.docs import asyncapi
from service.config import Settings
from service.worker.app import run_worker
from tests.asyncapi.contract import check_event
from tests.conftest import free_port
from tests.e2e.conftest import Stack, running_api, running_stack
from tests.ice import call, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


class Receiver:
    """A callback endpoint on loopback that records what it receives, de-duplicating by MessageId."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/hook?source=snapshotd"
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.json()))
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def unique_messages(self) -> set[str]:
        return {body["MessageId"] for _, body in self.received}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver(free_port())
    yield receiver
    await receiver.stop()


def callback_settings(base_env: dict[str, str], clip: Path, **extra: str) -> Settings:
    env = {**base_env, "SNAPSHOTD_CALLBACK_BACKOFF_S": "0.3", "SNAPSHOTD_SSRF_ALLOW": "127.0.0.1/32", **extra}
    settings = Settings.from_env(env)
    target = Path(settings.storage.root) / "media" / "clip.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, target)
    return settings


async def deliveries(stack: Stack, job_id: str) -> list[dict[str, Any]]:
    status, body = await call(stack.api, "ListCallbackDeliveries", JobId=job_id)
    assert status == 200, body
    return body["Deliveries"]


async def wait_deliveries(stack: Stack, job_id: str, status: str, count: int = 1) -> list[dict[str, Any]]:
    async with asyncio.timeout(30):
        while True:
            found = await deliveries(stack, job_id)
            if len(found) == count and all(d["Status"] == status for d in found):
                return found
            await asyncio.sleep(0.1)


async def test_callback_arrives_signed_once_after_the_receiver_comes_up(
    base_env: dict[str, str], clip: Path, receiver: Receiver
) -> None:
    settings = callback_settings(base_env, clip)
    async with running_stack(settings) as stack:
        status, body = await call(
            stack.api,
            "SetEventCallback",
            CallbackType="HTTP",
            CallbackURL=receiver.url,
            EventTypeList="SnapshotComplete",
            AuthSwitch="on",
            AuthKey="TestKey123",
        )
        assert status == 200, body
        _, submitted = await call(stack.api, "SubmitSnapshotJob", **submit_params(), UserData='{"order": 7}')
        job = await stack.wait_final(submitted["JobId"])
        # The receiver is down: attempts fail and are recorded, the delivery stays pending.
        async with asyncio.timeout(30):
            while not (found := await deliveries(stack, job["JobId"])) or found[0]["Attempts"] < 2:
                await asyncio.sleep(0.1)
        assert found[0]["Status"] == "Pending" and found[0]["LastError"]
        await receiver.start()
        delivered = await wait_deliveries(stack, job["JobId"], "Delivered")
        document = await (await stack.api.get(asyncapi.PATH)).json()

    assert len(receiver.unique_messages()) == 1
    headers, payload = receiver.received[0]
    timestamp = headers["X-ICE-TIMESTAMP"]
    expected = hashlib.md5(f"{receiver.url}|{timestamp}|TestKey123".encode(), usedforsecurity=False).hexdigest()
    assert headers["X-ICE-SIGNATURE"] == expected
    assert payload["EventType"] == "SnapshotComplete"
    assert (payload["MessageBody"]["JobId"], payload["MessageBody"]["UserData"]) == (job["JobId"], '{"order": 7}')
    assert delivered[0]["Attempts"] >= 3
    # The callback POSTs the message the exchange gets, as the AsyncAPI document describes it.
    key = f"{payload['EventType']}.{payload['MessageBody']['Status']}"
    check_event(document, exchange=settings.amqp.events_exchange, routing_key=key, payload=payload)


async def test_notify_address_gets_its_own_unsigned_callback(
    base_env: dict[str, str], clip: Path, receiver: Receiver
) -> None:
    settings = callback_settings(base_env, clip)
    await receiver.start()
    user_data = f'{{"NotifyAddress": "{receiver.url}"}}'
    async with running_stack(settings) as stack:
        _, submitted = await call(stack.api, "SubmitSnapshotJob", **submit_params(), UserData=user_data)
        await stack.wait_final(submitted["JobId"])
        await wait_deliveries(stack, submitted["JobId"], "Delivered")

    headers, payload = receiver.received[0]
    assert payload["MessageBody"]["JobId"] == submitted["JobId"]
    assert "X-ICE-SIGNATURE" not in headers


async def test_ssrf_guard_refuses_loopback_targets_when_they_are_set(base_env: dict[str, str], clip: Path) -> None:
    settings = callback_settings(base_env, clip, SNAPSHOTD_SSRF_ALLOW="")
    async with running_api(settings) as (api, _):
        for address in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "http://[::1]:80/x"):
            status, submitted = await call(
                api, "SubmitSnapshotJob", **submit_params(), UserData=f'{{"NotifyAddress": "{address}"}}'
            )
            assert (status, submitted["Code"]) == (400, "InvalidParameter.AddressNotAllowed"), submitted
            assert "UserData.NotifyAddress" in submitted["Message"]
            status, answer = await call(api, "SetEventCallback", CallbackURL=address)
            assert (status, answer["Code"]) == (400, "InvalidParameter.AddressNotAllowed"), answer
            assert "CallbackURL" in answer["Message"]


async def test_a_delivery_the_guard_refuses_later_fails_at_once_and_replays(
    base_env: dict[str, str], clip: Path, receiver: Receiver
) -> None:
    """Accepted while allow-listed, refused when delivered (the guard's verdict changed, as when a
    name's DNS moves inside): Failed after one attempt, not retried for hours; replay sends it again."""
    accepting = callback_settings(base_env, clip, SNAPSHOTD_CALLBACK_MAX_ATTEMPTS="5")
    refusing = callback_settings(base_env, clip, SNAPSHOTD_SSRF_ALLOW="", SNAPSHOTD_CALLBACK_MAX_ATTEMPTS="5")
    await receiver.start()
    user_data = f'{{"NotifyAddress": "{receiver.url}"}}'
    async with running_api(accepting) as (api, events):
        stack = Stack(api, accepting, events)
        _, submitted = await call(api, "SubmitSnapshotJob", **submit_params(), UserData=user_data)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(refusing, stop, handle_signals=False))
        try:
            await stack.wait_final(submitted["JobId"])
            failed = await wait_deliveries(stack, submitted["JobId"], "Failed")
            replayed = await call(api, "ReplayCallbackDelivery", DeliveryId=failed[0]["DeliveryId"])
        finally:
            stop.set()
            await asyncio.wait_for(worker, 60)

    assert "address" in failed[0]["LastError"]
    assert failed[0]["Attempts"] == 1
    assert receiver.received == []
    assert replayed[0] == 200
