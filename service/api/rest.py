"""Plain-JSON REST resources over the ICE actions, for people with curl.

Each resource is one row of `ROUTES`: a method and path mapped to an ICE action. One generic handler
serves every row: it collects the request's parameters with the ICE endpoint's own reader (query
string, then a JSON or form body, nested objects as JSON objects), lays the path parameters over
them, and calls the registered action. Validation therefore lives only in the actions; responses are
the ICE endpoint's, byte for byte apart from RequestId, errors included (`error_middleware`).

The same table describes the API: `openapi.py` builds `/openapi.json` from it, naming the JSON
Schema components below by string (`body`, `response`) so that this module stays free of schemas.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from service.api.actions import actions
from service.api.params import Params, read_params
from service.api.pipelines import SPEEDS
from service.api.templates import MAX_PAGE_NUMBER, ORDERS, SYSTEM_STATUSES
from service.api.templates import MAX_PAGE_SIZE as TEMPLATE_MAX_PAGE_SIZE
from service.domain.models import JobStatus
from service.store.jobs import MAX_PAGE_SIZE as JOB_MAX_PAGE_SIZE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: the only template type served; list and create default to it so curl users need not know ICE's ids
SNAPSHOT_TEMPLATE_TYPE = "2"
_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True, slots=True)
class QueryParam:
    """A documented query parameter; undocumented ICE parameters are passed through all the same."""

    name: str
    schema: Mapping[str, Any]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    #: aiohttp path template; each `{Name}` is passed to the action as the ICE parameter `Name`
    path: str
    action: str
    summary: str
    #: name of the JSON Schema component describing the 200 body (see `openapi.py`)
    response: str
    query: tuple[QueryParam, ...] = ()
    #: name of the JSON Schema component describing the JSON request body; None: no body
    body: str | None = None
    body_required: bool = False
    #: parameters sent to the action when the request leaves them out
    defaults: Mapping[str, str] = field(default_factory=dict)
    #: error statuses this route can answer on top of the ones every route can
    errors: tuple[int, ...] = ()
    tag: str = ""

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)


def handler_for(route: Route) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        params = await read_params(request)
        # Path parameters win: a body's `JobId` must not redirect `GET /v1/snapshot-jobs/{JobId}`.
        values = {**route.defaults, **params.values, **request.match_info}
        return await actions.run(request, route.action, Params(values))

    return handle


def add_routes(router: web.UrlDispatcher) -> None:
    for route in ROUTES:
        router.add_route(route.method, route.path, handler_for(route))


# --- the table ------------------------------------------------------------------------------------


def _q(name: str, description: str = "", **schema: Any) -> QueryParam:
    return QueryParam(name, schema or {"type": "string"}, description)


_JOB_STATUSES = [status.value for status in JobStatus]
_TEMPLATE_TYPE = {"enum": [2, "SnapshotTemplate"], "default": 2}
_SUBTYPE = {"enum": [1, 2, 3, "Normal", "Sprite", "WebVtt"]}
_TEMPLATE_PAGING = (
    _q("PageNumber", type="integer", minimum=1, maximum=MAX_PAGE_NUMBER, default=1),
    _q("PageSize", type="integer", minimum=1, maximum=TEMPLATE_MAX_PAGE_SIZE, default=20),
)
_TEMPLATE_FILTERS = (
    _q("Type", "Template type: only snapshot templates (2) exist.", **_TEMPLATE_TYPE),
    _q("Subtype", "1 Normal, 2 Sprite, 3 WebVtt.", **_SUBTYPE),
    _q("TemplateId"),
    _q("Name", "Substring of the template name."),
)
#: 409 only where a resource can be in use; every route may answer 400/403/404/413/500/503
_CONFLICT = (409,)

ROUTES: tuple[Route, ...] = (
    # --- snapshot jobs
    Route(
        "POST",
        "/v1/snapshot-jobs",
        "SubmitSnapshotJob",
        "Submit a snapshot job",
        "SubmitSnapshotJobResponse",
        body="SubmitSnapshotJobRequest",
        body_required=True,
        tag="Snapshot jobs",
    ),
    Route(
        "GET",
        "/v1/snapshot-jobs",
        "ListSnapshotJobs",
        "List snapshot jobs, newest first by default",
        "ListSnapshotJobsResponse",
        query=(
            _q("PageSize", type="integer", minimum=1, maximum=JOB_MAX_PAGE_SIZE, default=20),
            _q("NextPageToken", "The previous page's NextPageToken."),
            _q("Status", enum=_JOB_STATUSES),
            _q("OrderBy", enum=["CreateTimeDesc", "CreateTimeAsc"], default="CreateTimeDesc"),
            _q("StartOfCreateTime", "UTC, e.g. 2024-01-02T00:00:00Z.", type="string", format="date-time"),
            _q("EndOfCreateTime", "UTC, e.g. 2024-01-02T00:00:00Z.", type="string", format="date-time"),
            _q("JobId"),
        ),
        tag="Snapshot jobs",
    ),
    Route(
        "GET",
        "/v1/snapshot-jobs/{JobId}",
        "GetSnapshotJob",
        "Get a snapshot job",
        "GetSnapshotJobResponse",
        tag="Snapshot jobs",
    ),
    Route(
        "GET",
        "/v1/snapshot-jobs/{JobId}/urls",
        "GetSnapshotUrls",
        "Signed URLs of a finished job's images",
        "GetSnapshotUrlsResponse",
        # Bounds as `api/urls.py` enforces them (not imported: that module needs the storage wiring).
        query=(
            _q("OrderBy", enum=["Asc", "Desc"], default="Asc"),
            _q("PageNumber", type="integer", minimum=1, maximum=2**31 - 1, default=1),
            _q("PageSize", type="integer", minimum=1, maximum=30, default=10),
            _q("Timeout", "Seconds the URLs stay valid.", type="integer", minimum=1, maximum=129_600, default=3600),
        ),
        tag="Snapshot jobs",
    ),
    # --- custom templates
    Route(
        "POST",
        "/v1/templates",
        "CreateCustomTemplate",
        "Create a snapshot template",
        "CreateCustomTemplateResponse",
        body="CreateCustomTemplateRequest",
        body_required=True,
        defaults={"Type": SNAPSHOT_TEMPLATE_TYPE},
        tag="Templates",
    ),
    Route(
        "GET",
        "/v1/templates",
        "ListCustomTemplates",
        "List custom snapshot templates",
        "ListCustomTemplatesResponse",
        query=(*_TEMPLATE_FILTERS, _q("OrderBy", enum=list(ORDERS)), *_TEMPLATE_PAGING),
        defaults={"Type": SNAPSHOT_TEMPLATE_TYPE},
        tag="Templates",
    ),
    Route(
        "GET",
        "/v1/templates/{TemplateId}",
        "GetCustomTemplate",
        "Get a custom template",
        "GetCustomTemplateResponse",
        tag="Templates",
    ),
    Route(
        "PATCH",
        "/v1/templates/{TemplateId}",
        "UpdateCustomTemplate",
        "Rename a template and/or replace its TemplateConfig",
        "SuccessResponse",
        body="UpdateCustomTemplateRequest",
        tag="Templates",
    ),
    Route(
        "DELETE",
        "/v1/templates/{TemplateId}",
        "DeleteCustomTemplate",
        "Delete a custom template",
        "SuccessResponse",
        tag="Templates",
    ),
    Route(
        "POST",
        "/v1/templates/{TemplateId}/default",
        "SetDefaultCustomTemplate",
        "Make a template the default of its subtype",
        "SuccessResponse",
        tag="Templates",
    ),
    # --- system templates
    Route(
        "GET",
        "/v1/system-templates",
        "ListSystemTemplates",
        "List the preset snapshot templates",
        "ListSystemTemplatesResponse",
        query=(*_TEMPLATE_FILTERS, _q("Status", enum=list(SYSTEM_STATUSES), default="Normal"), *_TEMPLATE_PAGING),
        defaults={"Type": SNAPSHOT_TEMPLATE_TYPE},
        tag="Templates",
    ),
    Route(
        "GET",
        "/v1/system-templates/{TemplateId}",
        "GetSystemTemplate",
        "Get a preset template",
        "GetSystemTemplateResponse",
        tag="Templates",
    ),
    # --- pipelines
    Route(
        "POST",
        "/v1/pipelines",
        "CreatePipeline",
        "Create a pipeline",
        "PipelineResponse",
        body="CreatePipelineRequest",
        body_required=True,
        tag="Pipelines",
    ),
    Route(
        "GET",
        "/v1/pipelines",
        "ListPipelines",
        "List pipelines, oldest first",
        "ListPipelinesResponse",
        query=(_q("Speed", enum=list(SPEEDS)),),
        tag="Pipelines",
    ),
    Route("GET", "/v1/pipelines/{PipelineId}", "GetPipeline", "Get a pipeline", "PipelineResponse", tag="Pipelines"),
    Route(
        "PATCH",
        "/v1/pipelines/{PipelineId}",
        "UpdatePipeline",
        "Rename, reprioritise, pause or resume a pipeline",
        "SuccessResponse",
        body="UpdatePipelineRequest",
        tag="Pipelines",
    ),
    Route(
        "DELETE",
        "/v1/pipelines/{PipelineId}",
        "DeletePipeline",
        "Delete a pipeline without waiting or running jobs",
        "SuccessResponse",
        errors=_CONFLICT,
        tag="Pipelines",
    ),
    # --- event callback and its deliveries
    Route(
        "PUT",
        "/v1/event-callback",
        "SetEventCallback",
        "Replace the event-callback configuration",
        "SuccessResponse",
        body="SetEventCallbackRequest",
        body_required=True,
        tag="Event callback",
    ),
    Route(
        "GET",
        "/v1/event-callback",
        "GetEventCallback",
        "Get the event-callback configuration",
        "GetEventCallbackResponse",
        tag="Event callback",
    ),
    Route(
        "GET",
        "/v1/callback-deliveries",
        "ListCallbackDeliveries",
        "List HTTP callback deliveries (at most 100, oldest first)",
        "ListCallbackDeliveriesResponse",
        query=(_q("JobId"), _q("Status", enum=["Pending", "Delivered", "Failed"])),
        tag="Event callback",
    ),
    Route(
        "POST",
        "/v1/callback-deliveries/{DeliveryId}/replay",
        "ReplayCallbackDelivery",
        "Send a finished delivery again",
        "SuccessResponse",
        tag="Event callback",
    ),
)
