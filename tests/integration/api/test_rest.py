"""The REST resources against the real app, PostgreSQL and RabbitMQ, sent the way curl users send them
(JSON bodies with nested objects, plain query strings).

Every call goes through `rest_call`, which also checks the answer against `/openapi.json`'s schema for
that operation and status, so the happy paths schemathesis rarely reaches are covered too. Errors and
successes are compared with the ICE endpoint's answers for the same input.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import jsonschema_rs
import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.api.actions import ACTIONS
from service.api.app import create_app
from service.api.docs import openapi
from service.api.rest import routes as rest
from service.config import Settings
from tests.ice import call, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

DEFAULT_PIPELINE = "00000000000000000000000000000001"
SYSTEM_TEMPLATE = "S00000002-000001"
DOCUMENT = openapi.build_document()


def serve(settings: Settings) -> TestServer:
    """The app as `create_app` builds it, plus the REST and OpenAPI routes (not wired in app.py yet)."""
    app = create_app(settings)
    rest.add_routes(app.router)
    openapi.add_routes(app.router)
    return TestServer(app)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(serve(settings)) as client:
        yield client


def response_schema(template: str, method: str, status: int) -> dict[str, Any]:
    """The documented schema of one operation's response, resolvable on its own."""
    responses = DOCUMENT["paths"][template][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {template} answered {status}, which is not documented"
    return {**responses[str(status)]["content"]["application/json"]["schema"], "components": DOCUMENT["components"]}


async def rest_call(
    client: TestClient,
    method: str,
    template: str,
    *,
    json: Any = None,
    query: dict[str, str] | None = None,
    **path: str,
) -> tuple[int, dict[str, Any]]:
    """One REST request to a documented path; the answer must match the document."""
    response = await client.request(method, template.format(**path), json=json, params=query)
    body = await response.json()
    errors = [
        e.message
        for e in jsonschema_rs.validator_for(response_schema(template, method, response.status)).iter_errors(body)
    ]
    assert not errors, f"{method} {template} -> {response.status} does not match the document: {errors}\n{body}"
    return response.status, body


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    assert body.pop("RequestId")
    return body


# --- resources -------------------------------------------------------------------------------------


async def test_snapshot_job_submit_get_list_urls(client: TestClient) -> None:
    status, body = await rest_call(client, "POST", "/v1/snapshot-jobs", json={**submit_params(), "Name": "curl job"})
    assert status == 200, body
    job_id = body["JobId"]

    status, body = await rest_call(client, "GET", "/v1/snapshot-jobs/{JobId}", JobId=job_id)
    assert status == 200, body
    job = body["SnapshotJob"]
    assert (job["JobId"], job["Name"], job["TemplateId"]) == (job_id, "curl job", SYSTEM_TEMPLATE)
    assert job["Input"]["OssFile"] == {"Bucket": "media", "Location": "local", "Object": "clip.mp4"}

    status, body = await rest_call(client, "GET", "/v1/snapshot-jobs", query={"JobId": job_id, "PageSize": "5"})
    assert status == 200, body
    assert [j["JobId"] for j in body["Jobs"]] == [job_id]

    # No worker runs here: the job never finishes, so the URLs are refused (or the action is not yet
    # registered); either way it is an ICE error envelope with a documented status, never a 500.
    status, body = await rest_call(client, "GET", "/v1/snapshot-jobs/{JobId}/urls", JobId=job_id)
    assert status in (200, 400, 404), body
    if status != 200:
        assert body["Code"] and body["Message"]


async def test_template_crud(client: TestClient) -> None:
    config = {"Type": "Normal", "Count": 2, "Width": 320}
    status, body = await rest_call(client, "POST", "/v1/templates", json={"Name": "thumbs", "TemplateConfig": config})
    assert status == 200, body
    created = body["CustomTemplate"]
    template_id = created["TemplateId"]
    assert (created["Type"], created["Subtype"], created["TemplateName"]) == (2, "Normal", "thumbs")

    status, body = await rest_call(client, "GET", "/v1/templates", query={"Name": "thumbs"})
    assert status == 200, body
    assert [t["TemplateId"] for t in body["CustomTemplateList"]] == [template_id]

    status, body = await rest_call(
        client,
        "PATCH",
        "/v1/templates/{TemplateId}",
        json={"Name": "renamed", "TemplateConfig": {"Count": 4}},
        TemplateId=template_id,
    )
    assert (status, body["Success"]) == (200, True), body
    status, body = await rest_call(client, "POST", "/v1/templates/{TemplateId}/default", TemplateId=template_id)
    assert (status, body["Success"]) == (200, True), body

    status, body = await rest_call(client, "GET", "/v1/templates/{TemplateId}", TemplateId=template_id)
    assert status == 200, body
    template = body["CustomTemplate"]
    assert (template["TemplateName"], template["IsDefault"], template["Subtype"]) == ("renamed", True, 1)
    assert '"Count":4' in template["TemplateConfig"]

    status, body = await rest_call(client, "DELETE", "/v1/templates/{TemplateId}", TemplateId=template_id)
    assert (status, body["Success"]) == (200, True), body
    status, body = await rest_call(client, "GET", "/v1/templates/{TemplateId}", TemplateId=template_id)
    assert (status, body["Code"]) == (404, "ResourceNotFound"), body


async def test_system_templates_are_listed_and_read_only(client: TestClient) -> None:
    status, body = await rest_call(client, "GET", "/v1/system-templates")
    assert status == 200, body
    assert SYSTEM_TEMPLATE in [t["TemplateId"] for t in body["SystemTemplateList"]]
    status, body = await rest_call(client, "GET", "/v1/system-templates/{TemplateId}", TemplateId=SYSTEM_TEMPLATE)
    assert (status, body["SystemTemplate"]["SubtypeName"]) == (200, "Normal"), body
    status, body = await rest_call(
        client, "PATCH", "/v1/templates/{TemplateId}", json={"Name": "mine"}, TemplateId=SYSTEM_TEMPLATE
    )
    assert (status, body["Code"]) == (403, "Forbidden.SystemTemplate"), body


async def test_pipeline_crud(client: TestClient) -> None:
    status, body = await rest_call(
        client, "POST", "/v1/pipelines", json={"Name": "batch", "Speed": "Boost", "Priority": 7}
    )
    assert status == 200, body
    pipeline_id = body["Pipeline"]["PipelineId"]

    status, body = await rest_call(client, "GET", "/v1/pipelines", query={"Speed": "Boost"})
    assert status == 200, body
    assert [p["PipelineId"] for p in body["PipelineList"]] == [pipeline_id]

    status, body = await rest_call(
        client, "PATCH", "/v1/pipelines/{PipelineId}", json={"Status": "Paused", "Priority": 3}, PipelineId=pipeline_id
    )
    assert (status, body["Success"]) == (200, True), body
    status, body = await rest_call(client, "GET", "/v1/pipelines/{PipelineId}", PipelineId=pipeline_id)
    assert status == 200, body
    assert (body["Pipeline"]["Status"], body["Pipeline"]["Priority"]) == ("Paused", 3)

    status, body = await rest_call(client, "DELETE", "/v1/pipelines/{PipelineId}", PipelineId=pipeline_id)
    assert (status, body["Success"]) == (200, True), body
    status, body = await rest_call(client, "GET", "/v1/pipelines/{PipelineId}", PipelineId=pipeline_id)
    assert (status, body["Code"]) == (404, "ResourceNotFound"), body
    status, body = await rest_call(client, "DELETE", "/v1/pipelines/{PipelineId}", PipelineId=DEFAULT_PIPELINE)
    assert (status, body["Code"]) == (403, "Forbidden.DefaultPipeline"), body


async def test_event_callback_and_deliveries(client: TestClient) -> None:
    status, body = await rest_call(client, "GET", "/v1/event-callback")
    assert (status, body["CallbackType"]) == (200, ""), body
    config = {"CallbackURL": "https://example.com/hook", "EventTypeList": "SnapshotComplete"}
    status, body = await rest_call(client, "PUT", "/v1/event-callback", json=config)
    assert (status, body["Success"]) == (200, True), body
    status, body = await rest_call(client, "GET", "/v1/event-callback")
    assert status == 200, body
    assert (body["CallbackType"], body["CallbackURL"], body["AuthSwitch"]) == ("HTTP", config["CallbackURL"], "off")

    status, body = await rest_call(client, "GET", "/v1/callback-deliveries", query={"Status": "Failed"})
    assert (status, body["Deliveries"]) == (200, []), body
    status, body = await rest_call(client, "POST", "/v1/callback-deliveries/{DeliveryId}/replay", DeliveryId="nope")
    assert (status, body["Code"]) == (404, "ResourceNotFound"), body


async def test_path_parameters_win_over_body_and_form_bodies_work(client: TestClient) -> None:
    """A body cannot redirect a request to another resource; curl's default form encoding is accepted."""
    response = await client.post("/v1/pipelines", data={"Name": "form", "Speed": "Standard"})
    assert response.status == 200, await response.text()
    pipeline_id = (await response.json())["Pipeline"]["PipelineId"]

    status, body = await rest_call(
        client,
        "PATCH",
        "/v1/pipelines/{PipelineId}",
        json={"PipelineId": DEFAULT_PIPELINE, "Name": "x"},
        PipelineId=pipeline_id,
    )
    assert status == 200, body
    _, default = await rest_call(client, "GET", "/v1/pipelines/{PipelineId}", PipelineId=DEFAULT_PIPELINE)
    _, renamed = await rest_call(client, "GET", "/v1/pipelines/{PipelineId}", PipelineId=pipeline_id)
    assert (default["Pipeline"]["Name"], renamed["Pipeline"]["Name"]) == ("default", "x")


# --- the same answers as the ICE endpoint -----------------------------------------------------------


async def test_errors_match_the_ice_endpoint(client: TestClient) -> None:
    no_input = {k: v for k, v in submit_params().items() if k != "Input"}
    status, rest_body = await rest_call(client, "POST", "/v1/snapshot-jobs", json=no_input)
    ice_status, ice_body = await call(client, "SubmitSnapshotJob", **no_input)
    assert (status, rest_body["Code"]) == (ice_status, ice_body["Code"]) == (400, "MissingParameter")
    assert '"Input"' in rest_body["Message"]
    assert without_request_id(rest_body) == without_request_id(ice_body)

    status, rest_body = await rest_call(client, "GET", "/v1/snapshot-jobs/{JobId}", JobId="0" * 32)
    ice_status, ice_body = await call(client, "GetSnapshotJob", JobId="0" * 32)
    assert (status, rest_body["Code"]) == (ice_status, ice_body["Code"]) == (404, "JobNotFound")
    assert without_request_id(rest_body) == without_request_id(ice_body)

    status, rest_body = await rest_call(client, "GET", "/v1/snapshot-jobs", query={"PageSize": "0"})
    ice_status, ice_body = await call(client, "ListSnapshotJobs", PageSize="0")
    assert (status, rest_body["Code"]) == (ice_status, ice_body["Code"]) == (400, "InvalidParameter")
    assert without_request_id(rest_body) == without_request_id(ice_body)


async def test_malformed_requests_get_ice_envelopes(client: TestClient) -> None:
    response = await client.post("/v1/pipelines", data=b"{not json", headers={"Content-Type": "application/json"})
    body = await response.json()
    assert (response.status, body["Code"]) == (400, "InvalidParameter"), body
    for method, path in (("GET", "/v1/nothing-here"), ("PUT", "/v1/snapshot-jobs")):
        response = await client.request(method, path)
        body = await response.json()
        assert (response.status, body["Code"]) == (404, "InvalidAction.NotFound"), body
        assert set(body) == {"RequestId", "HostId", "Code", "Message", "Recommend"}


async def test_a_route_whose_action_is_not_registered_answers_like_the_ice_endpoint(settings: Settings) -> None:
    server = serve(settings)
    ghost = rest.Route("GET", "/v1/ghosts", "NoSuchAction", "not registered", "SuccessResponse")
    server.app.router.add_get(ghost.path, rest.handler_for(ghost))
    async with TestClient(server) as client:
        response = await client.get(ghost.path)
        ice_status, ice_body = await call(client, "NoSuchAction")
        body = await response.json()
    assert (response.status, body["Code"]) == (ice_status, ice_body["Code"]) == (404, "InvalidAction.NotFound")
    assert without_request_id(body) == without_request_id(ice_body)


@pytest.mark.parametrize(
    ("action", "ice_params", "method", "path", "query"),
    [
        ("ListSnapshotJobs", {"OrderBy": "CreateTimeAsc"}, "GET", "/v1/snapshot-jobs", {"OrderBy": "CreateTimeAsc"}),
        ("GetSnapshotJob", {"JobId": "{job}"}, "GET", "/v1/snapshot-jobs/{job}", {}),
        ("ListCustomTemplates", {"Type": "2"}, "GET", "/v1/templates", {}),
        ("ListSystemTemplates", {"Type": "2"}, "GET", "/v1/system-templates", {}),
        ("GetSystemTemplate", {"TemplateId": SYSTEM_TEMPLATE}, "GET", f"/v1/system-templates/{SYSTEM_TEMPLATE}", {}),
        ("ListPipelines", {}, "GET", "/v1/pipelines", {}),
        ("GetPipeline", {"PipelineId": DEFAULT_PIPELINE}, "GET", f"/v1/pipelines/{DEFAULT_PIPELINE}", {}),
        ("GetEventCallback", {}, "GET", "/v1/event-callback", {}),
        ("ListCallbackDeliveries", {}, "GET", "/v1/callback-deliveries", {}),
    ],
)
async def test_rest_and_ice_bodies_are_equal(
    client: TestClient, action: str, ice_params: dict[str, str], method: str, path: str, query: dict[str, str]
) -> None:
    status, body = await call(client, "SubmitSnapshotJob", **submit_params())
    assert status == 200, body
    job = body["JobId"]
    ice_status, ice_body = await call(client, action, **{k: v.format(job=job) for k, v in ice_params.items()})
    response = await client.request(method, path.format(job=job), params=query)
    assert (response.status, ice_status) == (200, 200), ice_body
    assert without_request_id(await response.json()) == without_request_id(ice_body)


# --- the document and authentication ----------------------------------------------------------------


async def test_openapi_document_is_served_and_covers_every_action(client: TestClient) -> None:
    response = await client.get(openapi.PATH)
    assert response.status == 200
    document = await response.json()
    assert document == DOCUMENT
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)
    operation_ids = {op["operationId"] for ops in document["paths"].values() for op in ops.values()}
    assert operation_ids == {route.action for route in rest.ROUTES}
    # A new action without a REST route would be reachable only ICE-style.
    assert set(ACTIONS.actions) <= operation_ids


async def test_rest_requests_must_be_signed_when_authentication_is_on(base_env: dict[str, str]) -> None:
    settings = Settings.from_env({**base_env, "SNAPSHOTD_ACCESS_KEYS": "rest-key:rest-secret"})
    async with TestClient(serve(settings)) as client:
        response = await client.get("/v1/pipelines")
        body = await response.json()
    assert (response.status, body["Code"]) == (400, "IncompleteSignature"), body


# --- edge inputs schemathesis once turned into 500s: each is a 400 naming the parameter ------------------


async def test_nul_in_a_parameter_is_a_400(client: TestClient) -> None:
    response = await client.post("/v1/pipelines", json={"Name": "a\x00b", "Speed": "Standard"})
    assert response.status == 400, await response.text()


async def test_out_of_range_create_time_filter_is_a_400(client: TestClient) -> None:
    response = await client.get("/v1/snapshot-jobs", params={"StartOfCreateTime": "0001-01-01T00:00:00+01:00"})
    assert response.status == 400, await response.text()


async def test_huge_template_config_integer_is_a_400(client: TestClient) -> None:
    config = {"Type": "Normal", "Time": 2**64}
    response = await client.post("/v1/templates", json={"Name": "huge", "TemplateConfig": config})
    assert response.status == 400, await response.text()
