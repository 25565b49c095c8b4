"""Object storage failing under the worker: a proxy in front of the S3-compatible server injects
errors. Transient failures are retried to success; persistent ones end in a clear Fail, never in a
Success with missing images."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import aiohttp
import pytest
from aiohttp import web

from service.config import Settings
from service.domain.models import ObjectRef
from service.storage.s3 import S3Storage
from tests.conftest import free_port
from tests.e2e.conftest import running_stack
from tests.ice import call, submit_params

pytestmark = [pytest.mark.slow, pytest.mark.s3, pytest.mark.pg, pytest.mark.amqp, pytest.mark.timeout(120)]

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class FaultyProxy:
    """Forwards to the real S3 server; PUTs fail as configured."""

    upstream: str
    #: fail this many PUTs with a 503, then let them through (None: fail every PUT)
    failing_puts: int | None = 0
    #: drop the connection instead of answering 503
    hang_up: bool = False
    puts_seen: int = 0
    failed: int = field(default=0)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.method == "PUT":
            self.puts_seen += 1
            if self.failing_puts is None or self.failed < self.failing_puts:
                self.failed += 1
                if self.hang_up and request.transport is not None:
                    request.transport.close()
                    return web.Response(status=500)
                return web.Response(status=503, text="<Error><Code>SlowDown</Code></Error>")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method, self.upstream + request.rel_url.raw_path_qs, headers=headers, data=body
            ) as upstream,
        ):
            payload = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
            return web.Response(status=upstream.status, body=payload, headers=out)


@pytest.fixture
async def proxy(s3_endpoint_url: str) -> AsyncIterator[tuple[FaultyProxy, str]]:
    faulty = FaultyProxy(s3_endpoint_url)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", faulty.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield faulty, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
def settings_via_proxy(s3_service_env: dict[str, str], proxy: tuple[FaultyProxy, str]) -> Settings:
    env = {**s3_service_env, "SNAPSHOTD_S3_ENDPOINT_URL": proxy[1], "SNAPSHOTD_MAX_ATTEMPTS": "2"}
    return Settings.from_env(env)


async def upload_clip(storage: S3Storage, bucket: str, prefix: str, clip: Path) -> dict[str, object]:
    await storage.put_file(ObjectRef(bucket, f"{prefix}/in.mp4"), str(clip), "video/mp4")
    return submit_params(
        media=f"oss://{bucket}/{prefix}/in.mp4",
        output=f"oss://{bucket}/{prefix}/out/{{Count}}.jpg",
        Count=3,
        Interval=2,
    )


@pytest.mark.parametrize("hang_up", [False, True], ids=["503", "connection-dropped"])
async def test_transient_upload_errors_are_retried_to_success(
    settings_via_proxy: Settings,
    proxy: tuple[FaultyProxy, str],
    s3_storage: S3Storage,
    s3_bucket: str,
    blob_prefix: str,
    clip: Path,
    hang_up: bool,
) -> None:
    faulty, _ = proxy
    faulty.failing_puts, faulty.hang_up = 2, hang_up
    params = await upload_clip(s3_storage, s3_bucket, blob_prefix, clip)

    async with running_stack(settings_via_proxy) as stack:
        _, body = await call(stack.api, "SubmitSnapshotJob", **params)
        job = await stack.wait_final(body["JobId"])

    assert (job["Status"], job["Count"]) == ("Success", 3)
    assert faulty.failed == 2
    for image in job["Images"]:
        assert len(await s3_storage.get_bytes(ObjectRef(s3_bucket, image["Key"]))) == image["Bytes"]


async def test_storage_down_for_good_fails_clearly_without_partial_success(
    settings_via_proxy: Settings,
    proxy: tuple[FaultyProxy, str],
    s3_storage: S3Storage,
    s3_bucket: str,
    blob_prefix: str,
    clip: Path,
) -> None:
    faulty, _ = proxy
    faulty.failing_puts = None
    params = await upload_clip(s3_storage, s3_bucket, blob_prefix, clip)

    async with running_stack(settings_via_proxy) as stack:
        _, body = await call(stack.api, "SubmitSnapshotJob", **params)
        job = await stack.wait_final(body["JobId"], timeout_s=90)

    async with await aio_pika.connect(settings_via_proxy.amqp.url) as connection:
        channel = await connection.channel()
        dead = await channel.declare_queue(f"{settings_via_proxy.amqp.jobs_queue}.dead", durable=True)
        dead_letter = await dead.get(no_ack=True, fail=False)

    assert (job["Status"], job["Code"], job["Attempts"]) == ("Fail", "ServiceUnavailable", 2)
    assert dead_letter is not None and dead_letter.message_id == body["JobId"]
    assert job["Count"] == 0 and job["Images"] == []
    assert faulty.puts_seen >= 2 * 3  # botocore retried each attempt before the worker gave up
