"""GetSnapshotUrls end to end: a real job runs, then its URLs page, sort, expire and download.

Local backend: `/files/…` URLs signed by the API and served by it (Range included), refused with a
403 envelope when tampered with or expired. S3 backend: the store's presigned URLs. Plus parameter
validation and one round trip through the official SDK.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from alibabacloud_ice20201109 import models
from alibabacloud_ice20201109.client import Client
from yarl import URL

import tests.e2e.conftest as e2e
from service.api.app import create_app
from service.api.keys import URL_SIGNER
from service.config import Settings
from service.domain.models import ObjectRef
from service.storage.s3 import S3Storage
from tests.e2e.conftest import Stack, running_api, running_stack
from tests.ice import call, sdk_client, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

ENVELOPE_KEYS = {"RequestId", "HostId", "Code", "Message", "Recommend"}
#: a key with a space and non-ASCII text, so URL escaping is exercised on every download
NORMAL_OUTPUT = "oss://thumbs/run 1/é-{Count}.jpg"
NORMAL_COUNT = 7


def put_local(settings: Settings, bucket: str, key: str, source: Path) -> Path:
    target = Path(settings.storage.root) / bucket / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(source.read_bytes())
    return target


def stored(settings: Settings, bucket: str, key: str) -> bytes:
    return (Path(settings.storage.root) / bucket / key).read_bytes()


async def run_job(stack: Stack, **params: Any) -> dict[str, Any]:
    status, body = await call(stack.api, "SubmitSnapshotJob", **params)
    assert status == 200, body
    job = await stack.wait_final(body["JobId"])
    assert job["Status"] == "Success", job
    return job


async def urls(api: TestClient, job_id: str, **params: Any) -> dict[str, Any]:
    status, body = await call(api, "GetSnapshotUrls", JobId=job_id, **{k: str(v) for k, v in params.items()})
    assert status == 200, body
    return body


async def fetch(api: TestClient, url: str, **headers: str) -> aiohttp.ClientResponse:
    """GET an absolute URL through the test client's session, keeping its exact escaping."""
    response = await api.session.get(URL(url, encoded=True), headers=headers)
    await response.read()
    return response


def keys_of(body: dict[str, Any]) -> list[str]:
    """The object keys a page of local URLs names, in order (path after /files/<bucket>/, decoded)."""
    return [URL(url, encoded=True).path.split("/", 3)[3] for url in body["SnapshotUrls"]]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    query = {k: v for k, v in query.items() if v != "\0"}  # "\0" drops a parameter
    return urlunsplit(parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())))


@pytest.fixture
async def normal_job(settings: Settings, clip: Path) -> AsyncIterator[tuple[Stack, dict[str, Any]]]:
    """A finished 7-image Normal job on local storage, with its stack still running."""
    put_local(settings, "media", "clip.mp4", clip)
    async with running_stack(settings) as stack:
        job = await run_job(
            stack, **submit_params(output=NORMAL_OUTPUT, Count=NORMAL_COUNT, Interval=1, Width=160, FrameType="normal")
        )
        yield stack, job


async def test_pages_order_and_downloads_match_the_stored_objects(
    normal_job: tuple[Stack, dict[str, Any]], settings: Settings
) -> None:
    stack, job = normal_job
    expected = [f"run 1/é-{n:05d}.jpg" for n in range(1, NORMAL_COUNT + 1)]
    assert sorted(image["Key"] for image in job["Images"]) == expected

    asc = [await urls(stack.api, job["JobId"], PageSize=3, PageNumber=n) for n in (1, 2, 3, 4)]
    desc = [await urls(stack.api, job["JobId"], PageSize=3, PageNumber=n, OrderBy="Desc") for n in (1, 2, 3)]
    default = await urls(stack.api, job["JobId"])

    assert [body["Total"] for body in asc + desc] == [NORMAL_COUNT] * 7
    assert [keys_of(body) for body in asc] == [expected[0:3], expected[3:6], expected[6:7], []]
    assert [keys_of(body) for body in desc] == [expected[6:3:-1], expected[3:0:-1], expected[0:1]]
    assert keys_of(default) == expected  # PageSize 10, PageNumber 1, Asc
    assert all(body["WebVTTUrl"] == "" for body in [*asc, *desc, default])

    for url, key in zip(default["SnapshotUrls"], expected, strict=True):
        assert url.startswith(f"http://127.0.0.1:{stack.api.port}/files/thumbs/run%201/%C3%A9-")
        response = await fetch(stack.api, url)
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"] == "image/jpeg"
        assert await response.read() == stored(settings, "thumbs", key)


async def test_timeout_sets_the_expiry(normal_job: tuple[Stack, dict[str, Any]]) -> None:
    stack, job = normal_job
    for timeout, params in ((3600, {}), (60, {"Timeout": 60}), (129600, {"Timeout": 129600})):
        before = int(time.time())
        body = await urls(stack.api, job["JobId"], PageSize=2, **params)
        after = int(time.time())
        for url in body["SnapshotUrls"]:
            expires = int(parse_qs(urlsplit(url).query)["Expires"][0])
            assert before + timeout <= expires <= after + timeout


async def test_range_request_gets_206_with_the_asked_bytes(
    normal_job: tuple[Stack, dict[str, Any]], settings: Settings
) -> None:
    stack, job = normal_job
    body = await urls(stack.api, job["JobId"], PageSize=1)
    whole = stored(settings, "thumbs", keys_of(body)[0])

    response = await fetch(stack.api, body["SnapshotUrls"][0], Range="bytes=0-99")

    assert response.status == 206
    assert await response.read() == whole[:100]
    assert response.headers["Content-Range"] == f"bytes 0-99/{len(whole)}"


async def assert_denied(api: TestClient, url: str, code: str) -> None:
    response = await fetch(api, url)
    body = await response.json()
    assert (response.status, body["Code"]) == (403, code), body
    assert set(body) == ENVELOPE_KEYS


async def test_tampered_and_expired_urls_are_403(normal_job: tuple[Stack, dict[str, Any]]) -> None:
    stack, job = normal_job
    first, second = (await urls(stack.api, job["JobId"], PageSize=2))["SnapshotUrls"]
    signature = parse_qs(urlsplit(first).query)["Signature"][0]
    expires = int(parse_qs(urlsplit(first).query)["Expires"][0])
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")

    tampered = {
        "signature": with_query(first, Signature=flipped),
        "expires": with_query(first, Expires=str(expires + 86400)),
        "no signature": with_query(first, Signature="\0"),
        "no expires": with_query(first, Expires="\0"),
        # the second object's path under the first object's signature
        "key": with_query(second, Signature=signature, Expires=str(expires)),
        "bucket": first.replace("/files/thumbs/", "/files/media/"),
    }
    for name, url in tampered.items():
        assert url != first, name
        await assert_denied(stack.api, url, "AccessDenied.SignatureInvalid")

    # An authentic URL whose time is up: signed with the server's own key, one second in the past.
    origin = f"http://127.0.0.1:{stack.api.port}"
    key = keys_of({"SnapshotUrls": [first]})[0]
    past = stack.api.app[URL_SIGNER].url("thumbs", key, int(time.time()) - 1, origin=origin)
    await assert_denied(stack.api, past, "AccessDenied.Expired")


async def test_signed_urls_never_leave_the_bucket_directory(
    normal_job: tuple[Stack, dict[str, Any]], settings: Settings, tmp_path: Path
) -> None:
    stack, _ = normal_job
    root = Path(settings.storage.root)
    (root / "secret.txt").write_text("outside every bucket")
    (tmp_path / "elsewhere.txt").write_text("outside the root")
    (root / "thumbs" / "link.txt").symlink_to(tmp_path / "elsewhere.txt")
    signer = stack.api.app[URL_SIGNER]
    origin = f"http://127.0.0.1:{stack.api.port}"
    later = int(time.time()) + 60

    for key in ("../secret.txt", "a/../../secret.txt", "link.txt"):
        response = await fetch(stack.api, signer.url("thumbs", key, later, origin=origin))
        # the request reaches the backend's own path check, which refuses it
        body = await response.json()
        assert (response.status, body["Code"]) == (400, "InvalidParameter"), (key, body)
        assert "outside" not in body["Message"]


async def test_webvtt_job_gives_the_track_and_counts_sheets(settings: Settings, clip: Path) -> None:
    put_local(settings, "media", "clip.mp4", clip)
    params = submit_params(output="oss://thumbs/vtt/track.vtt", Type="WebVtt", Count=6, Interval=1, IsSptFrag=True)
    async with running_stack(settings) as stack:
        job = await run_job(stack, **params)
        body = await urls(stack.api, job["JobId"])
        vtt = await fetch(stack.api, body["WebVTTUrl"])
        sheet = await fetch(stack.api, body["SnapshotUrls"][0])

    # six cells on one sprite sheet: Total counts the objects a client can download
    assert len(job["Images"]) == 6
    assert (body["Total"], keys_of(body)) == (1, ["vtt/track/snapshot-tile-00001.jpg"])
    assert vtt.status == 200
    assert vtt.content_type == "text/vtt"
    # stored with references relative to the .vtt; served with each one signed (test_storyboard_delivery.py)
    text = stored(settings, "thumbs", "vtt/track.vtt").decode()
    assert text.startswith("WEBVTT") and "\ntrack/snapshot-tile-00001.jpg#xywh=" in text
    assert "/files/thumbs/vtt/track/snapshot-tile-00001.jpg?Expires=" in (await vtt.read()).decode()
    assert await sheet.read() == stored(settings, "thumbs", "vtt/track/snapshot-tile-00001.jpg")


async def test_unfinished_failed_and_unknown_jobs(settings: Settings, clip: Path) -> None:
    async with running_api(settings) as (api, _):
        # no worker: the job stays Init
        _, submitted = await call(api, "SubmitSnapshotJob", **submit_params(Count=1))
        status, pending = await call(api, "GetSnapshotUrls", JobId=submitted["JobId"])
        missing_status, missing = await call(api, "GetSnapshotUrls", JobId="nope")
    assert (status, pending["Code"]) == (400, "InvalidParameter.JobNotFinished")
    assert (missing_status, missing["Code"]) == (404, "JobNotFound")

    async with running_stack(settings) as stack:
        _, submitted = await call(stack.api, "SubmitSnapshotJob", **submit_params(media="oss://media/absent.mp4"))
        assert (await stack.wait_final(submitted["JobId"]))["Status"] == "Fail"
        status, failed = await call(stack.api, "GetSnapshotUrls", JobId=submitted["JobId"])
    assert (status, failed["Code"]) == (400, "InvalidParameter.JobFailed")


@pytest.fixture
async def urls_api(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("PageSize", "31"),
        ("PageSize", "0"),
        ("PageNumber", "0"),
        ("Timeout", "0"),
        ("Timeout", "129601"),
        ("Timeout", "soon"),
        ("OrderBy", "Up"),
    ],
)
async def test_invalid_parameters_name_the_field(urls_api: TestClient, field: str, value: str) -> None:
    status, body = await call(urls_api, "GetSnapshotUrls", JobId="any", **{field: value})

    assert (status, body["Code"]) == (400, "InvalidParameter"), body
    assert f'"{field}"' in body["Message"]


async def test_job_id_is_required(urls_api: TestClient) -> None:
    status, body = await call(urls_api, "GetSnapshotUrls")

    assert (status, body["Code"]) == (400, "MissingParameter")
    assert '"JobId"' in body["Message"]


@pytest.mark.s3
async def test_s3_backend_hands_out_presigned_urls(
    s3_service_env: dict[str, str],
    s3_storage: S3Storage,
    s3_bucket: str,
    blob_prefix: str,
    clip: Path,
) -> None:
    settings = Settings.from_env(s3_service_env)
    await s3_storage.put_file(ObjectRef(s3_bucket, f"{blob_prefix}/in.mp4"), str(clip), "video/mp4")
    params = submit_params(
        media=f"oss://{s3_bucket}/{blob_prefix}/in.mp4",
        output=f"oss://{s3_bucket}/{blob_prefix}/out/{{Count}}.jpg",
        Count=3,
        Interval=2,
        Width=160,
    )

    async with running_stack(settings) as stack:
        job = await run_job(stack, **params)
        body = await urls(stack.api, job["JobId"], OrderBy="Desc", Timeout=900)
        # With the s3 backend the API serves no files, even under a URL signed with its own key.
        origin = f"http://127.0.0.1:{stack.api.port}"
        later = int(time.time()) + 60
        signed = stack.api.app[URL_SIGNER].url(s3_bucket, f"{blob_prefix}/out/00001.jpg", later, origin=origin)
        local = await fetch(stack.api, signed)

    keys = [f"{blob_prefix}/out/{n:05d}.jpg" for n in (3, 2, 1)]
    assert (body["Total"], body["WebVTTUrl"]) == (3, "")
    assert (local.status, (await local.json())["Code"]) == (404, "ResourceNotFound")
    async with aiohttp.ClientSession() as session:
        for url, key in zip(body["SnapshotUrls"], keys, strict=True):
            parts = urlsplit(url)
            assert parts.path == f"/{s3_bucket}/{key}"
            assert parse_qs(parts.query)["X-Amz-Expires"] == ["900"]
            async with session.get(URL(url, encoded=True)) as response:
                assert response.status == 200, await response.text()
                assert await response.read() == await s3_storage.get_bytes(ObjectRef(s3_bucket, key))


KEY_ID, SECRET = "LTAIurlskey0001", "urls-s3cr3t"


def sdk(port: int) -> Client:
    return sdk_client(port, KEY_ID, SECRET)


async def test_official_sdk_parses_the_response(base_env: dict[str, str], clip: Path) -> None:
    settings = Settings.from_env({**base_env, "SNAPSHOTD_ACCESS_KEYS": f"{KEY_ID}:{SECRET}"})
    put_local(settings, "media", "clip.mp4", clip)

    async with running_stack(settings) as stack:
        client = sdk(stack.api.port)
        request = models.SubmitSnapshotJobRequest(
            input=models.SubmitSnapshotJobRequestInput(type="OSS", media="oss://media/clip.mp4"),
            output=models.SubmitSnapshotJobRequestOutput(type="OSS", media="oss://thumbs/sdk/{Count}.jpg"),
            template_config=models.SubmitSnapshotJobRequestTemplateConfig(
                template_id="S00000002-000001",
                overwrite_params=models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(count=3, interval=2),
            ),
        )
        job_id = (await asyncio.to_thread(client.submit_snapshot_job, request)).body.job_id
        async with asyncio.timeout(e2e.JOB_WAIT_S):
            while True:
                got = await asyncio.to_thread(client.get_snapshot_job, models.GetSnapshotJobRequest(job_id=job_id))
                if got.body.snapshot_job.status in ("Success", "Fail"):
                    break
                await asyncio.sleep(0.1)
        assert got.body.snapshot_job.status == "Success"

        request_urls = models.GetSnapshotUrlsRequest(
            job_id=job_id, page_number=1, page_size=2, order_by="Desc", timeout=600
        )
        response = await asyncio.to_thread(client.get_snapshot_urls, request_urls)
        body = response.body
        # the URL is its own credential: downloaded with no ICE signature at all
        async with aiohttp.ClientSession() as session:
            downloads = []
            for url in body.snapshot_urls:
                async with session.get(URL(url, encoded=True)) as download:
                    downloads.append((download.status, await download.read()))

    assert response.status_code == 200
    assert (body.total, body.web_vtturl) == (3, "")
    assert len(body.request_id) == 36
    assert [urlsplit(url).path for url in body.snapshot_urls] == [
        "/files/thumbs/sdk/00003.jpg",
        "/files/thumbs/sdk/00002.jpg",
    ]
    assert downloads == [(200, stored(settings, "thumbs", f"sdk/{n:05d}.jpg")) for n in (3, 2)]
