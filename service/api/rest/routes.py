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

from aiohttp import web

from service.api.actions import ACTIONS
from service.api.actions.params import Params, read_params
from service.domain import request_fields as rf
from service.domain.fields import Field

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: the only template type served; list and create default to it so curl users need not know ICE's ids
SNAPSHOT_TEMPLATE_TYPE = rf.TEMPLATE_TYPE.default
_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    #: aiohttp path template; each `{Name}` is passed to the action as the ICE parameter `Name`
    path: str
    action: str
    summary: str
    #: name of the JSON Schema component describing the 200 body (see `openapi.py`)
    response: str
    #: the documented query parameters (undocumented ICE parameters are passed through all the same)
    query: tuple[Field, ...] = ()
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
        return await ACTIONS.run(request, route.action, Params(values))

    return handle


def add_routes(router: web.UrlDispatcher) -> None:
    for route in ROUTES:
        router.add_route(route.method, route.path, handler_for(route))


# --- the table ------------------------------------------------------------------------------------


_TEMPLATE_PAGING = (rf.TEMPLATE_PAGE_NUMBER, rf.TEMPLATE_PAGE_SIZE)
_TEMPLATE_FILTERS = (rf.TEMPLATE_TYPE, rf.SUBTYPE, rf.TEMPLATE_ID_FILTER, rf.NAME_FILTER)
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
            rf.JOB_PAGE_SIZE,
            rf.PAGE_TOKEN,
            rf.JOB_STATUS,
            rf.JOB_ORDER,
            rf.START_OF_CREATE_TIME,
            rf.END_OF_CREATE_TIME,
            rf.JOB_ID_FILTER,
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
        query=(rf.URL_ORDER, rf.URL_PAGE_NUMBER, rf.URL_PAGE_SIZE, rf.URL_TIMEOUT),
        tag="Snapshot jobs",
    ),
    Route(
        "POST",
        "/v1/snapshot-jobs:plan",
        "PlanSnapshotJob",
        "What a snapshot job would produce and read, before any decode (extension)",
        "PlanSnapshotJobResponse",
        body="SubmitSnapshotJobRequest",
        body_required=True,
        tag="Snapshot jobs",
    ),
    # --- media assets
    Route(
        "POST",
        "/v1/media",
        "RegisterMediaInfo",
        "Register a file as a media asset; it is probed asynchronously",
        "MediaIdResponse",
        body="RegisterMediaInfoRequest",
        body_required=True,
        tag="Media",
    ),
    Route(
        "GET",
        "/v1/media",
        "ListMediaBasicInfos",
        "List media assets, newest first by default",
        "ListMediaBasicInfosResponse",
        query=(
            rf.MAX_RESULTS,
            rf.NEXT_TOKEN,
            rf.MEDIA_TYPE,
            rf.MEDIA_STATUS,
            rf.BUSINESS_TYPE,
            rf.MEDIA_START_TIME,
            rf.MEDIA_END_TIME,
            rf.MEDIA_SORT,
            rf.INCLUDE_FILE_BASIC_INFO,
            rf.MEDIA_ID,
        ),
        tag="Media",
    ),
    Route(
        "GET",
        "/v1/media:batch",
        "BatchGetMediaInfos",
        "Get several media assets",
        "BatchGetMediaInfosResponse",
        query=(rf.MEDIA_IDS,),
        tag="Media",
    ),
    Route("GET", "/v1/media/{MediaId}", "GetMediaInfo", "Get a media asset", "GetMediaInfoResponse", tag="Media"),
    Route(
        "PATCH",
        "/v1/media/{MediaId}",
        "UpdateMediaInfo",
        "Change a media asset's title, description, tags, cover, user data or reference id",
        "MediaIdResponse",
        body="UpdateMediaInfoRequest",
        tag="Media",
    ),
    Route(
        "DELETE",
        "/v1/media/{MediaIds}",
        "DeleteMediaInfos",
        "Delete media assets (comma-separated ids); their files are kept",
        "DeleteMediaInfosResponse",
        tag="Media",
    ),
    # --- probe jobs
    Route(
        "POST",
        "/v1/media-info-jobs",
        "SubmitMediaInfoJob",
        "Probe a file or a media asset's file",
        "MediaInfoJobResponse",
        body="SubmitMediaInfoJobRequest",
        body_required=True,
        tag="Media",
    ),
    Route(
        "GET",
        "/v1/media-info-jobs",
        "ListMediaInfoJobs",
        "List probe jobs, newest first by default",
        "ListMediaInfoJobsResponse",
        query=(
            rf.PROBE_PAGE_SIZE,
            rf.PAGE_TOKEN,
            rf.JOB_STATUS,
            rf.JOB_ORDER,
            rf.START_OF_CREATE_TIME,
            rf.END_OF_CREATE_TIME,
            rf.JOB_ID_FILTER,
        ),
        tag="Media",
    ),
    Route(
        "GET",
        "/v1/media-info-jobs/{JobId}",
        "GetMediaInfoJob",
        "Get a probe job",
        "MediaInfoJobResponse",
        tag="Media",
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
        query=(*_TEMPLATE_FILTERS, rf.TEMPLATE_ORDER, *_TEMPLATE_PAGING),
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
        query=(*_TEMPLATE_FILTERS, rf.SYSTEM_STATUS, *_TEMPLATE_PAGING),
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
        query=(rf.SPEED,),
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
        query=(rf.DELIVERY_JOB_FILTER, rf.DELIVERY_STATUS),
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
