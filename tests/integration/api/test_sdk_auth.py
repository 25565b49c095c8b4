"""The official Alibaba Cloud SDK, unchanged but for the endpoint, against a signed snapshotd.

Covers the job actions through the sync and async clients with V3 signatures and the RPC v1
(`signature_algorithm="v2"`) path, and every authentication rejection as the SDK raises it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from alibabacloud_ice20201109 import models
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException

from service.api.app import create_app
from service.api.auth.signing import sign_rpc_v1, sign_v3
from service.config import Settings
from tests.ice import sdk_call, sdk_client, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

KEY_ID, SECRET = "LTAItestkey0001", "s3cr3t/with+odd=chars~"


@pytest.fixture
async def signed_api(base_env: dict[str, str]) -> AsyncIterator[TestClient]:
    env = {**base_env, "SNAPSHOTD_ACCESS_KEYS": f"{KEY_ID}:{SECRET},other:x", "SNAPSHOTD_RATE_LIMIT_PER_S": "50"}
    async with TestClient(TestServer(create_app(Settings.from_env(env)))) as client:
        yield client


def sdk(client: TestClient, *, key_id: str = KEY_ID, secret: str = SECRET, v2: bool = False) -> Client:
    return sdk_client(client.port, key_id, secret, v2=v2)


def submit_request(**overrides: object) -> models.SubmitSnapshotJobRequest:
    params = submit_params(**overrides)
    return models.SubmitSnapshotJobRequest(
        input=models.SubmitSnapshotJobRequestInput(**{k.lower(): v for k, v in params["Input"].items()}),
        output=models.SubmitSnapshotJobRequestOutput(**{k.lower(): v for k, v in params["Output"].items()}),
        template_config=models.SubmitSnapshotJobRequestTemplateConfig(
            template_id=params["TemplateConfig"]["TemplateId"],
            overwrite_params=models.SubmitSnapshotJobRequestTemplateConfigOverwriteParams(count=3, interval=2),
        ),
        name="sdk job",
        user_data='{"biz": "a b+c&d=e 中文"}',
    )


@pytest.mark.parametrize("v2", [False, True], ids=["v3", "rpc-v1"])
async def test_sync_client_submits_gets_and_lists(signed_api: TestClient, v2: bool) -> None:
    client = sdk(signed_api, v2=v2)

    submitted = await asyncio.to_thread(client.submit_snapshot_job, submit_request())
    job_id = submitted.body.job_id
    got = await asyncio.to_thread(client.get_snapshot_job, models.GetSnapshotJobRequest(job_id=job_id))
    listed = await asyncio.to_thread(client.list_snapshot_jobs, models.ListSnapshotJobsRequest(page_size=10))

    assert len(job_id) == 32
    job = got.body.snapshot_job
    assert (job.job_id, job.status, job.name, job.type) == (job_id, "Init", "sdk job", "Normal")
    assert job.input.media == "oss://media/clip.mp4" and job.input.oss_file.bucket == "media"
    assert job.user_data == '{"biz": "a b+c&d=e 中文"}'
    assert '"Count":3' in job.template_config
    assert [j.job_id for j in listed.body.jobs] == [job_id]


async def test_async_client(signed_api: TestClient) -> None:
    client = sdk(signed_api)

    submitted = await client.submit_snapshot_job_async(submit_request())
    got = await client.get_snapshot_job_async(models.GetSnapshotJobRequest(job_id=submitted.body.job_id))

    assert got.body.snapshot_job.status == "Init"


async def test_list_pages_with_next_page_token(signed_api: TestClient) -> None:
    client = sdk(signed_api)
    ids = [(await asyncio.to_thread(client.submit_snapshot_job, submit_request())).body.job_id for _ in range(3)]

    seen: list[str] = []
    token = None
    for _ in range(5):
        request = models.ListSnapshotJobsRequest(page_size=2, next_page_token=token, order_by="CreateTimeAsc")
        page = (await asyncio.to_thread(client.list_snapshot_jobs, request)).body
        seen += [job.job_id for job in page.jobs]
        token = page.next_page_token
        if not token:
            break

    assert seen == ids


async def sdk_error(call: object, *args: object) -> ClientException:
    with pytest.raises(ClientException) as caught:
        await asyncio.to_thread(call, *args)  # type: ignore[arg-type]
    return caught.value


async def test_wrong_secret_is_signature_mismatch(signed_api: TestClient) -> None:
    error = await sdk_error(sdk(signed_api, secret="wrong").get_snapshot_job, models.GetSnapshotJobRequest(job_id="x"))

    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 400)


@pytest.mark.parametrize("v2", [False, True], ids=["v3", "rpc-v1"])
async def test_unknown_key(signed_api: TestClient, v2: bool) -> None:
    client = sdk(signed_api, key_id="LTAInobody", v2=v2)

    error = await sdk_error(client.get_snapshot_job, models.GetSnapshotJobRequest(job_id="x"))

    assert (error.code, error.status_code) == ("InvalidAccessKeyId.NotFound", 404)


async def test_validation_errors_reach_the_sdk(signed_api: TestClient) -> None:
    error = await sdk_error(sdk(signed_api).submit_snapshot_job, submit_request(template_id="nope"))

    assert (error.code, error.status_code) == ("ResourceNotFound", 404)


async def test_unsigned_request_is_refused(signed_api: TestClient) -> None:
    response = await signed_api.post("/", params={"JobId": "x"}, headers={"x-acs-action": "GetSnapshotJob"})

    assert response.status == 400
    assert (await response.json())["Code"] == "IncompleteSignature"


async def test_health_needs_no_signature(signed_api: TestClient) -> None:
    assert (await signed_api.get("/healthz")).status == 200


def v3_headers(
    port: int,
    query: dict[str, str],
    *,
    when: datetime,
    nonce: str,
    action: str = "GetSnapshotJob",
    method: str = "POST",
    path: str = "/",
    body: bytes = b"",
) -> dict[str, str]:
    """Sign like the SDK does (ACS3-HMAC-SHA256), with the one signer the service verifies with."""
    headers = {
        "host": f"127.0.0.1:{port}",
        "x-acs-action": action,
        "x-acs-version": "2020-11-09",
        "x-acs-date": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce,
    }
    return sign_v3(method, path, list(query.items()), headers, body, KEY_ID, SECRET)


async def test_replayed_nonce_is_refused(signed_api: TestClient) -> None:
    headers = v3_headers(signed_api.port, {"JobId": "x"}, when=datetime.now(UTC), nonce=uuid.uuid4().hex)

    first = await signed_api.post("/", params={"JobId": "x"}, headers=headers)
    replay = await signed_api.post("/", params={"JobId": "x"}, headers=headers)

    assert (first.status, (await first.json())["Code"]) == (404, "JobNotFound")
    assert (replay.status, (await replay.json())["Code"]) == (400, "SignatureNonceUsed")


@pytest.mark.parametrize(("store", "replay_code"), [("postgres", "SignatureNonceUsed"), ("memory", "JobNotFound")])
async def test_a_replay_on_another_replica_is_refused_with_the_shared_nonce_store(
    base_env: dict[str, str], store: str, replay_code: str
) -> None:
    env = {**base_env, "SNAPSHOTD_ACCESS_KEYS": f"{KEY_ID}:{SECRET}", "SNAPSHOTD_NONCE_STORE": store}
    # two API replicas over one database
    async with (
        TestClient(TestServer(create_app(Settings.from_env(env)))) as one,
        TestClient(TestServer(create_app(Settings.from_env(env)))) as two,
    ):
        headers = v3_headers(one.port, {"JobId": "x"}, when=datetime.now(UTC), nonce=uuid.uuid4().hex)
        first = await one.post("/", params={"JobId": "x"}, headers=headers)
        # the host header is signed: replay it verbatim at the other replica's address
        replay = await two.post("/", params={"JobId": "x"}, headers=headers)

        assert (first.status, (await first.json())["Code"]) == (404, "JobNotFound")
        assert (await replay.json())["Code"] == replay_code


async def test_stale_signing_time_is_refused(signed_api: TestClient) -> None:
    stale = datetime.now(UTC) - timedelta(minutes=16)
    headers = v3_headers(signed_api.port, {"JobId": "x"}, when=stale, nonce=uuid.uuid4().hex)

    response = await signed_api.post("/", params={"JobId": "x"}, headers=headers)

    assert (response.status, (await response.json())["Code"]) == (400, "InvalidTimeStamp.Expired")


async def test_throttling_raises_the_sdks_throttling_exception(base_env: dict[str, str]) -> None:
    env = {**base_env, "SNAPSHOTD_ACCESS_KEYS": f"{KEY_ID}:{SECRET}", "SNAPSHOTD_RATE_LIMIT_PER_S": "0.5"}
    env["SNAPSHOTD_RATE_LIMIT_BURST"] = "2"
    async with TestClient(TestServer(create_app(Settings.from_env(env)))) as api:
        client = sdk(api)
        request = models.GetSnapshotJobRequest(job_id="x")
        for _ in range(2):
            assert (await sdk_error(client.get_snapshot_job, request)).code == "JobNotFound"

        with pytest.raises(ThrottlingException) as caught:
            await asyncio.to_thread(client.get_snapshot_job, request)

    assert caught.value.code == "Throttling.User"
    assert caught.value.retry_after >= 1


# --- bodies, paths and actions are all covered by the signature -----------------------------------


async def test_a_signed_json_body_is_read(signed_api: TestClient) -> None:
    client = sdk(signed_api)
    for _ in range(3):
        await asyncio.to_thread(client.submit_snapshot_job, submit_request())

    page = await asyncio.to_thread(sdk_call, client, "ListSnapshotJobs", body={"PageSize": 2})

    assert len(page["Jobs"]) == 2 and page["NextPageToken"]


async def test_the_sdk_signs_rest_paths_and_bodies(signed_api: TestClient) -> None:
    client = sdk(signed_api)
    body = submit_params()

    created = await asyncio.to_thread(sdk_call, client, "SubmitSnapshotJob", "/v1/snapshot-jobs", body=body)
    job_id = created["JobId"]
    got = await asyncio.to_thread(sdk_call, client, "GetSnapshotJob", f"/v1/snapshot-jobs/{job_id}", "GET")

    assert got["SnapshotJob"]["JobId"] == job_id
    assert got["SnapshotJob"]["Input"]["Media"] == body["Input"]["Media"]


async def test_a_signature_for_one_action_does_not_run_another(signed_api: TestClient) -> None:
    client = sdk(signed_api)
    created = await asyncio.to_thread(
        sdk_call,
        client,
        "CreateCustomTemplate",
        "/v1/templates",
        body={"Name": "t", "TemplateConfig": {"Type": "Normal", "Count": 2}},
    )
    template_id = created["CustomTemplate"]["TemplateId"]
    route = f"/v1/templates/{template_id}/default"
    now = datetime.now(UTC)

    # a GetSnapshotJob signed for `/` (never sent), replayed on the REST route: the path is signed
    for_root = v3_headers(signed_api.port, {}, when=now, nonce=uuid.uuid4().hex)
    # the same action signed over the route's own path: the action is bound
    for_route = v3_headers(signed_api.port, {}, when=now, nonce=uuid.uuid4().hex, path=route)
    answers = [await signed_api.post(route, headers=headers) for headers in (for_root, for_route)]

    assert [(a.status, (await a.json())["Code"]) for a in answers] == [(400, "SignatureDoesNotMatch")] * 2
    template = await asyncio.to_thread(sdk_call, client, "GetCustomTemplate", f"/v1/templates/{template_id}", "GET")
    assert template["CustomTemplate"]["IsDefault"] is False


async def test_the_action_parameter_cannot_override_the_signed_header(signed_api: TestClient) -> None:
    query = {"Action": "DeleteCustomTemplate", "TemplateId": "x"}
    headers = v3_headers(signed_api.port, query, when=datetime.now(UTC), nonce=uuid.uuid4().hex)

    response = await signed_api.post("/", params=query, headers=headers)

    assert (response.status, (await response.json())["Code"]) == (400, "SignatureDoesNotMatch")


def rpc_v1_query(action: str, **params: str) -> dict[str, str]:
    query = {
        "Action": action,
        "Format": "json",
        "Version": "2020-11-09",
        "AccessKeyId": KEY_ID,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **params,
    }
    return {**query, "Signature": sign_rpc_v1("POST", list(query.items()), SECRET)}


async def test_an_rpc_v1_signature_is_bound_to_its_action_on_rest_routes(signed_api: TestClient) -> None:
    """RPC v1 does not sign the path: the Action it signs must be the route's."""
    client = sdk(signed_api)
    created = await asyncio.to_thread(
        sdk_call, client, "CreateCustomTemplate", "/v1/templates", body={"Name": "t", "TemplateConfig": {"Count": 1}}
    )
    route = f"/v1/templates/{created['CustomTemplate']['TemplateId']}/default"

    wrong = await signed_api.post(route, params=rpc_v1_query("GetSnapshotJob", JobId="x"))
    right = await signed_api.post(route, params=rpc_v1_query("SetDefaultCustomTemplate"))

    assert (wrong.status, (await wrong.json())["Code"]) == (400, "SignatureDoesNotMatch")
    assert (right.status, (await right.json())["Success"]) == (200, True)


@pytest.mark.parametrize("algorithm", ["ACS3-HMAC-SM3"])
async def test_the_sdks_sm3_signatures_verify(signed_api: TestClient, algorithm: str) -> None:
    client = sdk_client(signed_api.port, KEY_ID, SECRET, algorithm=algorithm)

    submitted = await asyncio.to_thread(client.submit_snapshot_job, submit_request())
    got = await asyncio.to_thread(client.get_snapshot_job, models.GetSnapshotJobRequest(job_id=submitted.body.job_id))
    wrong = sdk_client(signed_api.port, KEY_ID, "wrong", algorithm=algorithm)
    error = await sdk_error(wrong.get_snapshot_job, models.GetSnapshotJobRequest(job_id="x"))

    assert got.body.snapshot_job.status == "Init"
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 400)
