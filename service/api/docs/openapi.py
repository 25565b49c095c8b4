"""The OpenAPI 3.1 document of the REST resources, built from `rest.ROUTES` and served at `/openapi.json`.

Paths, parameters and operations come from the route table, so the document cannot list a resource
the server does not serve. The JSON Schemas below describe what the actions accept and return; they
are documentation (and schemathesis' oracle), never used to validate requests: the actions do that.
Objects stay open (extra properties allowed) so that adding a response field is not a breaking
change, but every field the actions always return is required and typed.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from aiohttp import web

from service.api.actions.callbacks import CALLBACK_TYPES, MAX_AUTH_KEY_CHARS, MAX_URL_BYTES
from service.api.envelope import JSON
from service.api.keys import SETTINGS
from service.api.rest.routes import ROUTES, Route
from service.domain import request_fields as rf
from service.domain.fields import Field
from service.domain.models import DeliveryStatus, JobStatus, PipelineStatus, SnapshotType
from service.domain.snapshot_fields import (
    COUNT,
    MAX_COUNT,
    SNAPSHOT_FIELDS,
    SPRITE_FIELDS,
    SPRITE_OBJECT,
    STORYBOARD_CHOICES,
)
from service.domain.templates import SUBTYPE_NAMES

PATH = "/openapi.json"
OPENAPI_VERSION = "3.1.0"
#: statuses any route may answer: validation/signature (400), throttling or a read-only resource (403),
#: unknown resource, action or access key (404), body too large (413), bugs (500), database down (503)
COMMON_ERRORS = (400, 403, 404, 413, 500, 503)
ERROR_DESCRIPTIONS = {
    400: "Invalid or missing parameter, or a bad signature",
    403: "Throttled, or the resource cannot be changed",
    404: "Unknown resource, action or access key",
    409: "The resource is in use",
    413: "Request body too large",
    500: "Internal error",
    503: "A backing service is unavailable; retry",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Any], required: tuple[str, ...] | list[str] = (), **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def envelope(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A success body: the action's fields next to RequestId."""
    return obj({"RequestId": ref("RequestId"), **properties}, ("RequestId", *required))


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}


def given(field: Field) -> dict[str, Any]:
    """A field's schema where it is required: an empty value counts as missing, so it needs one character."""
    schema = field.json_schema()
    if schema.get("type") == "string":
        schema["minLength"] = 1
    return schema


NAME = given(rf.NAME)
#: ICE timestamps: `yyyy-MM-ddTHH:mm:ssZ`, UTC
TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"}
SUCCESS_FIELDS = {"Success": BOOLEAN}


# --- snapshot configuration ------------------------------------------------------------------------


def snapshot_config_schema(max_count: int) -> dict[str, Any]:
    """ICE's snapshot TemplateConfig, from the field declarations `parse_config` validates with."""
    sprite = obj({field.name: field.json_schema() for field in SPRITE_FIELDS})
    fields = {field.name: field.json_schema(high=max_count if field is COUNT else None) for field in SNAPSHOT_FIELDS}
    return obj(
        {**fields, SPRITE_OBJECT: sprite},
        description="ICE's snapshot TemplateConfig; numbers may also be sent as strings.",
    )


# --- requests --------------------------------------------------------------------------------------

MEDIA_IN = obj(
    {
        "Type": {"enum": ["OSS", "Media"], "default": "OSS", "description": "OSS: an object URL; Media: a MediaId."},
        "Media": {
            "type": "string",
            "minLength": 1,
            "description": "oss://bucket/key or an http(s) URL (Type OSS), or a media asset's MediaId (Type Media).",
        },
    },
    ("Media",),
)
MEDIA_OUT = obj(
    {
        "Type": {"enum": ["OSS"], "default": "OSS", "description": "Media (a new media asset) is not supported."},
        "Media": {"type": "string", "minLength": 1, "description": "oss://bucket/key of the images."},
    },
    ("Media",),
)
SUBMIT_REQUEST = obj(
    {
        "Input": MEDIA_IN,
        "Output": MEDIA_OUT,
        "TemplateConfig": obj(
            {"TemplateId": {"type": "string", "minLength": 1}, "OverwriteParams": ref("SnapshotConfig")},
            ("TemplateId",),
        ),
        "ScheduleConfig": obj({"PipelineId": STRING}),
        "Name": rf.NAME.json_schema(),
        "UserData": {"type": "string", "description": 'JSON text; {"NotifyAddress": url} adds a callback.'},
    },
    ("Input", "Output", "TemplateConfig"),
)
CREATE_TEMPLATE_REQUEST = obj(
    {
        "Name": NAME,
        "Type": rf.TEMPLATE_TYPE.json_schema(),
        "Subtype": rf.SUBTYPE.json_schema(),
        "TemplateConfig": ref("SnapshotConfig"),
    },
    ("Name", "TemplateConfig"),
)
UPDATE_TEMPLATE_REQUEST = obj({"Name": NAME, "TemplateConfig": ref("SnapshotConfig")})
CREATE_PIPELINE_REQUEST = obj(
    {"Name": NAME, "Speed": rf.SPEED.json_schema(), "Priority": rf.PRIORITY.json_schema()}, ("Name", "Speed")
)
UPDATE_PIPELINE_REQUEST = obj(
    {"Name": NAME, "Priority": rf.PRIORITY.json_schema(), "Status": rf.PIPELINE_STATUS.json_schema()}
)
REGISTER_MEDIA_REQUEST = obj(
    {
        "InputURL": given(rf.INPUT_URL),
        "MediaType": rf.MEDIA_TYPE.json_schema(),
        "Title": rf.MEDIA_TITLE.json_schema(),
        "Description": rf.MEDIA_DESCRIPTION.json_schema(),
        "CoverURL": rf.COVER_URL.json_schema(),
        "MediaTags": rf.MEDIA_TAGS.json_schema(),
        "UserData": {"type": "string", "description": "Your data, kept with the asset (JSON text)."},
        "BusinessType": rf.BUSINESS_TYPE.json_schema(),
        "ReferenceId": {**rf.REFERENCE_ID.json_schema(), "pattern": "^[A-Za-z0-9_-]{6,64}$"},
        "Overwrite": rf.OVERWRITE.json_schema(),
        "ClientToken": rf.CLIENT_TOKEN.json_schema(),
    },
    ("InputURL",),
)
UPDATE_MEDIA_REQUEST = obj(
    {
        "Title": rf.MEDIA_TITLE.json_schema(),
        "Description": rf.MEDIA_DESCRIPTION.json_schema(),
        "CoverURL": rf.COVER_URL.json_schema(),
        "MediaTags": rf.MEDIA_TAGS.json_schema(),
        "AppendTags": rf.APPEND_TAGS.json_schema(),
        "UserData": STRING,
        "ReferenceId": {**rf.REFERENCE_ID.json_schema(), "pattern": "^[A-Za-z0-9_-]{6,64}$"},
        "BusinessType": rf.BUSINESS_TYPE.json_schema(),
        "Category": rf.CATEGORY.json_schema(),
    }
)
SUBMIT_MEDIA_INFO_JOB_REQUEST = obj(
    {
        "Input": MEDIA_IN,
        "ScheduleConfig": obj({"PipelineId": STRING, "Priority": rf.PROBE_PRIORITY.json_schema()}),
        "Name": rf.NAME.json_schema(),
        "UserData": {"type": "string", "description": 'JSON text; {"NotifyAddress": url} adds a callback.'},
    },
    ("Input",),
)
SET_CALLBACK_REQUEST = obj(
    {
        "CallbackType": {"enum": list(CALLBACK_TYPES), "description": "Implied by CallbackURL or CallbackQueueName."},
        "CallbackURL": {"type": "string", "maxLength": MAX_URL_BYTES, "description": "One http(s) URL."},
        "CallbackQueueName": {"type": "string", "pattern": "^ice-callback-[A-Za-z0-9-]{1,107}$"},
        "EventTypeList": {"type": "string", "description": "Comma-separated event names, e.g. SnapshotComplete."},
        "AuthSwitch": {"enum": ["on", "off"], "default": "off"},
        "AuthKey": {"type": "string", "maxLength": MAX_AUTH_KEY_CHARS},
    }
)


# --- responses -------------------------------------------------------------------------------------

OSS_FILE = obj({"Bucket": STRING, "Location": STRING, "Object": STRING}, ("Bucket", "Location", "Object"))
MEDIA_VIEW = obj({"Type": STRING, "Media": STRING, "OssFile": OSS_FILE}, ("Type", "Media"))
JOB_FIELDS = {
    "JobId": STRING,
    "Name": STRING,
    "Status": {"enum": [s.value for s in JobStatus]},
    "Count": {"type": "integer", "minimum": 0},
    "Type": {"enum": [t.value for t in SnapshotType]},
    "Input": ref("MediaView"),
    "Output": ref("MediaView"),
    "TemplateId": STRING,
    "PipelineId": STRING,
    "TriggerSource": STRING,
    "Async": BOOLEAN,
    "CreateTime": TIME,
    "SubmitTime": TIME,
    "ModifiedTime": TIME,
    "FinishTime": TIME,
}
JOB_REQUIRED = tuple(name for name in JOB_FIELDS if name != "FinishTime")
ARTIFACT = obj(
    {
        "Key": STRING,
        "ContentType": STRING,
        "Bytes": {"type": "integer", "minimum": 0},
        "StreamInf": {
            "type": "string",
            "description": "HLS image playlists only: the #EXT-X-IMAGE-STREAM-INF line of a master playlist.",
        },
    },
    ("Key", "ContentType", "Bytes"),
    description="A file the job wrote: an image, a sprite sheet, or a storyboard.",
)
#: what only GetSnapshotJob returns; Images … Stats are extensions the SDK ignores
JOB_DETAIL_FIELDS = {
    "Code": STRING,
    "Message": STRING,
    "TemplateConfig": {"type": "string", "description": "The effective config, as JSON text."},
    "UserData": STRING,
    "Images": {"type": "array", "items": {"type": "object"}},
    "DroppedSlots": {"type": "array", "items": {"type": "object"}},
    "Artifacts": {"type": "array", "items": ref("Artifact")},
    "Attempts": {"type": "integer", "minimum": 0},
    "Stats": {"type": "object"},
}
#: what GetSnapshotJob returns only for some jobs
JOB_DETAIL_OPTIONAL_FIELDS = {
    "Progress": obj(
        {"Done": {"type": "integer", "minimum": 0}, "Total": {"type": "integer", "minimum": 2}},
        ("Done", "Total"),
        description="A job fanned out across workers: its shards finished so far (Done) of how many (Total).",
    ),
}
SYSTEM_TEMPLATE_FIELDS = {
    "TemplateId": STRING,
    "TemplateName": STRING,
    "Type": INTEGER,
    "TypeName": STRING,
    "Subtype": {"enum": list(SUBTYPE_NAMES)},
    "SubtypeName": {"enum": list(SUBTYPE_NAMES.values())},
    "Status": STRING,
    "TemplateConfig": {"type": "string", "description": "JSON text."},
}
CUSTOM_TEMPLATE_FIELDS = {
    **SYSTEM_TEMPLATE_FIELDS,
    "IsDefault": BOOLEAN,
    "CreateTime": TIME,
    "ModifiedTime": TIME,
}
#: CreateCustomTemplate types Subtype as the subtype's name and has no SubtypeName (SDK model quirk)
CREATED_TEMPLATE_FIELDS = {
    **{k: v for k, v in CUSTOM_TEMPLATE_FIELDS.items() if k != "SubtypeName"},
    "Subtype": {"enum": list(SUBTYPE_NAMES.values())},
}
PIPELINE_FIELDS = {
    "PipelineId": STRING,
    "Name": STRING,
    "Speed": {"enum": list(rf.SPEED.choices)},
    "Priority": {"type": "integer", "minimum": rf.PRIORITY.low, "maximum": rf.PRIORITY.high},
    "Status": {"enum": [s.value for s in PipelineStatus]},
    "CreateTime": TIME,
    "ModifiedTime": TIME,
}
DELIVERY_FIELDS = {
    "DeliveryId": STRING,
    "JobId": STRING,
    "MessageId": STRING,
    "Url": STRING,
    "Status": {"enum": [s.value for s in DeliveryStatus]},
    "Attempts": {"type": "integer", "minimum": 0},
    "LastError": STRING,
}
CALLBACK_FIELDS = {
    "CallbackType": {"enum": ["", *CALLBACK_TYPES], "description": "'' until one is set."},
    "CallbackURL": STRING,
    "CallbackQueueName": STRING,
    "EventTypeList": STRING,
    "AuthSwitch": {"enum": ["", "on", "off"]},
    "AuthKey": STRING,
}


#: the SDK maps every probe figure as a string
FILE_BASIC_INFO_FIELDS = {
    name: STRING
    for name in (
        "FileName",
        "FileSize",
        "FileStatus",
        "FileType",
        "FileUrl",
        "FormatName",
        "Duration",
        "Bitrate",
        "Width",
        "Height",
        "Region",
        "CreateTime",
        "ModifiedTime",
        "MediaId",
    )
}
FILE_BASIC_INFO = obj(
    FILE_BASIC_INFO_FIELDS,
    ("FileName", "FileSize", "FileStatus", "FileType", "FileUrl", "FormatName", "Duration", "Region"),
    description="The source file, as its probe found it; figures are strings, as the SDK maps them.",
)
STREAM_INFO = {"type": "object", "additionalProperties": STRING, "description": "A stream's figures, as strings."}
MEDIA_BASIC_INFO_FIELDS = {
    "MediaId": STRING,
    "InputURL": STRING,
    "MediaType": {"enum": list(rf.MEDIA_TYPE_CHOICES)},
    "BusinessType": STRING,
    "Source": {"enum": ["oss", "general"]},
    "Title": STRING,
    "Description": STRING,
    "Category": STRING,
    "MediaTags": STRING,
    "CoverURL": STRING,
    "UserData": STRING,
    "ReferenceId": STRING,
    "Status": {"enum": list(rf.MEDIA_STATUS.choices)},
    "Snapshots": {"type": "string", "description": "JSON text: the Normal snapshot jobs made of the asset."},
    "SpriteImages": {"type": "string", "description": "JSON text: the sprite-sheet jobs made of the asset."},
    "CreateTime": TIME,
    "ModifiedTime": TIME,
    "DeletedTime": TIME,
    "Code": STRING,
    "Message": STRING,
}
FILE_INFO = obj(
    {
        "FileBasicInfo": ref("FileBasicInfo"),
        "VideoStreamInfoList": {"type": "array", "items": STREAM_INFO},
        "AudioStreamInfoList": {"type": "array", "items": STREAM_INFO},
        "SubtitleStreamInfoList": {"type": "array", "items": STREAM_INFO},
    },
    ("FileBasicInfo",),
)
MEDIA_INFO = obj(
    {
        "MediaId": STRING,
        "MediaBasicInfo": ref("MediaBasicInfo"),
        "FileInfoList": {"type": "array", "items": ref("FileInfo")},
    },
    ("MediaId", "MediaBasicInfo"),
)
MEDIA_INFO_JOB_FIELDS = {
    "JobId": STRING,
    "Name": STRING,
    "Status": {"enum": [s.value for s in JobStatus]},
    "Async": BOOLEAN,
    "Input": obj({"Type": {"enum": ["OSS", "Media"]}, "Media": STRING}, ("Type", "Media")),
    "ScheduleConfig": obj({"PipelineId": STRING, "Priority": INTEGER}, ("PipelineId", "Priority")),
    "TriggerSource": STRING,
    "UserData": STRING,
    "SubmitTime": TIME,
    "FinishTime": TIME,
    "Code": STRING,
    "Message": STRING,
    "MediaId": STRING,
    "MediaInfoProperty": obj(
        {
            "FileBasicInfo": ref("FileBasicInfo"),
            "VideoStreamInfoList": {"type": "array", "items": STREAM_INFO},
            "AudioStreamInfoList": {"type": "array", "items": STREAM_INFO},
        },
        ("FileBasicInfo", "VideoStreamInfoList", "AudioStreamInfoList"),
    ),
}
NULLABLE_COUNT = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}
PLAN_FIELDS = {
    "Type": {"enum": [t.value for t in SnapshotType]},
    "FrameType": STRING,
    "TemplateConfig": {"type": "string", "description": "The effective config, as JSON text."},
    "DurationMs": {"type": "integer", "minimum": 0},
    "Width": INTEGER,
    "Height": INTEGER,
    "Count": {"type": "integer", "minimum": 0},
    "Images": {"type": "array", "items": {"type": "object"}, "description": "As GetSnapshotJob's Images."},
    "DroppedSlots": {"type": "array", "items": {"type": "object"}},
    "Files": {"type": "array", "items": {"type": "object"}, "description": "Images or sheets: Key, size, Images."},
    "Storyboards": {"type": "array", "items": STRING},
    "InputBytes": {"type": "integer", "minimum": 0},
    "BytesExpected": {**NULLABLE_COUNT, "description": "Bytes read through the range reader; null: unknown."},
    "BytesRead": {"type": "integer", "minimum": 0},
    "FramesExpected": {
        **NULLABLE_COUNT,
        "description": "The keyframe-to-target decode: the most frames the job decodes (decoded + skipped stay within it).",
    },
    "Basis": {"enum": ["index", "keyframes"]},
    "Notes": {"type": "array", "items": STRING},
}


def _all(fields: dict[str, Any], *, but: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(name for name in fields if name not in but)


SCHEMAS: dict[str, dict[str, Any]] = {
    "RequestId": {"type": "string", "minLength": 1},
    "Error": obj(
        {"RequestId": ref("RequestId"), "HostId": STRING, "Code": STRING, "Message": STRING, "Recommend": STRING},
        ("RequestId", "HostId", "Code", "Message", "Recommend"),
        description="ICE's error envelope; the HTTP status carries the error's class.",
    ),
    "MediaView": MEDIA_VIEW,
    "Artifact": ARTIFACT,
    "SnapshotJob": obj(JOB_FIELDS, JOB_REQUIRED),
    "SnapshotJobDetail": obj(
        {**JOB_FIELDS, **JOB_DETAIL_FIELDS, **JOB_DETAIL_OPTIONAL_FIELDS}, (*JOB_REQUIRED, *JOB_DETAIL_FIELDS)
    ),
    "CustomTemplate": obj(CUSTOM_TEMPLATE_FIELDS, _all(CUSTOM_TEMPLATE_FIELDS)),
    "SystemTemplate": obj(SYSTEM_TEMPLATE_FIELDS, _all(SYSTEM_TEMPLATE_FIELDS)),
    "Pipeline": obj(PIPELINE_FIELDS, _all(PIPELINE_FIELDS)),
    "CallbackDelivery": obj(DELIVERY_FIELDS, _all(DELIVERY_FIELDS)),
    "FileBasicInfo": FILE_BASIC_INFO,
    "FileInfo": FILE_INFO,
    "MediaBasicInfo": obj(MEDIA_BASIC_INFO_FIELDS, _all(MEDIA_BASIC_INFO_FIELDS, but=("DeletedTime",))),
    "MediaInfo": MEDIA_INFO,
    "MediaInfoJob": obj(MEDIA_INFO_JOB_FIELDS, _all(MEDIA_INFO_JOB_FIELDS, but=("FinishTime", "MediaInfoProperty"))),
    "RegisterMediaInfoRequest": REGISTER_MEDIA_REQUEST,
    "UpdateMediaInfoRequest": UPDATE_MEDIA_REQUEST,
    "SubmitMediaInfoJobRequest": SUBMIT_MEDIA_INFO_JOB_REQUEST,
    "MediaIdResponse": envelope({"MediaId": {"type": "string", "minLength": 1}}, ("MediaId",)),
    "GetMediaInfoResponse": envelope({"MediaInfo": ref("MediaInfo")}, ("MediaInfo",)),
    "BatchGetMediaInfosResponse": envelope(
        {"MediaInfos": {"type": "array", "items": ref("MediaInfo")}, "IgnoredList": {"type": "array", "items": STRING}},
        ("MediaInfos", "IgnoredList"),
    ),
    "ListMediaBasicInfosResponse": envelope(
        {
            "MediaInfos": {"type": "array", "items": ref("MediaInfo")},
            "TotalCount": {"type": "integer", "minimum": 0},
            "NextToken": STRING,
        },
        ("MediaInfos", "TotalCount", "NextToken"),
    ),
    "DeleteMediaInfosResponse": envelope(
        {"IgnoredList": {"type": "array", "items": STRING}, "ForbiddenList": {"type": "array", "items": STRING}},
        ("IgnoredList", "ForbiddenList"),
    ),
    "MediaInfoJobResponse": envelope({"MediaInfoJob": ref("MediaInfoJob")}, ("MediaInfoJob",)),
    "ListMediaInfoJobsResponse": envelope(
        {"Jobs": {"type": "array", "items": ref("MediaInfoJob")}, "NextPageToken": STRING}, ("Jobs", "NextPageToken")
    ),
    "PlanSnapshotJobResponse": envelope({"Plan": obj(PLAN_FIELDS, _all(PLAN_FIELDS))}, ("Plan",)),
    # requests
    "SubmitSnapshotJobRequest": SUBMIT_REQUEST,
    "CreateCustomTemplateRequest": CREATE_TEMPLATE_REQUEST,
    "UpdateCustomTemplateRequest": UPDATE_TEMPLATE_REQUEST,
    "CreatePipelineRequest": CREATE_PIPELINE_REQUEST,
    "UpdatePipelineRequest": UPDATE_PIPELINE_REQUEST,
    "SetEventCallbackRequest": SET_CALLBACK_REQUEST,
    # responses
    "SuccessResponse": envelope(SUCCESS_FIELDS, ("Success",)),
    "SubmitSnapshotJobResponse": envelope({"JobId": {"type": "string", "minLength": 1}}, ("JobId",)),
    "GetSnapshotJobResponse": envelope({"SnapshotJob": ref("SnapshotJobDetail")}, ("SnapshotJob",)),
    "ListSnapshotJobsResponse": envelope(
        {"Jobs": {"type": "array", "items": ref("SnapshotJob")}, "NextPageToken": STRING}, ("Jobs", "NextPageToken")
    ),
    "GetSnapshotUrlsResponse": envelope(
        {
            "SnapshotUrls": {"type": "array", "items": STRING},
            "Total": {"type": "integer", "minimum": 0},
            "WebVTTUrl": {"type": "string", "description": "The WebVtt track's URL; '' for other job types."},
            "StoryboardUrls": obj(
                {name: STRING for name in STORYBOARD_CHOICES if name != "vtt"},
                description="Extension: the URLs of the storyboards StoryboardFormats asked for, by format.",
                additionalProperties=False,
            ),
            "HlsImageStreamInf": {
                "type": "string",
                "description": "Extension: the master playlist's line for the HLS image playlist, with its URL; "
                "'' without one.",
            },
            "PreviewUrl": {
                "type": "string",
                "description": "Extension: a page showing the job, valid for as long as the other URLs.",
            },
        },
        ("SnapshotUrls", "Total", "WebVTTUrl", "StoryboardUrls", "HlsImageStreamInf", "PreviewUrl"),
    ),
    "CreateCustomTemplateResponse": envelope(
        {"CustomTemplate": obj(CREATED_TEMPLATE_FIELDS, _all(CREATED_TEMPLATE_FIELDS))}, ("CustomTemplate",)
    ),
    "GetCustomTemplateResponse": envelope({"CustomTemplate": ref("CustomTemplate")}, ("CustomTemplate",)),
    "ListCustomTemplatesResponse": envelope(
        {
            "Total": {"type": "integer", "minimum": 0},
            "CustomTemplateList": {"type": "array", "items": ref("CustomTemplate")},
        },
        ("Total", "CustomTemplateList"),
    ),
    "GetSystemTemplateResponse": envelope({"SystemTemplate": ref("SystemTemplate")}, ("SystemTemplate",)),
    "ListSystemTemplatesResponse": envelope(
        {
            "Total": {"type": "integer", "minimum": 0},
            "SystemTemplateList": {"type": "array", "items": ref("SystemTemplate")},
        },
        ("Total", "SystemTemplateList"),
    ),
    "PipelineResponse": envelope({"Pipeline": ref("Pipeline")}, ("Pipeline",)),
    "ListPipelinesResponse": envelope({"PipelineList": {"type": "array", "items": ref("Pipeline")}}, ("PipelineList",)),
    "GetEventCallbackResponse": envelope(CALLBACK_FIELDS, _all(CALLBACK_FIELDS)),
    "ListCallbackDeliveriesResponse": envelope(
        {"Deliveries": {"type": "array", "items": ref("CallbackDelivery")}}, ("Deliveries",)
    ),
}


# --- the document ----------------------------------------------------------------------------------


def _json(schema_name: str) -> dict[str, Any]:
    return {JSON: {"schema": ref(schema_name)}}


def operation(route: Route) -> dict[str, Any]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in route.path_params
    ]
    for param in route.query:
        schema = param.json_schema()
        if param.name in route.defaults:
            schema.setdefault("default", route.defaults[param.name])
        description = schema.pop("description", "")
        parameters.append(
            {"name": param.name, "in": "query", "required": False, "schema": schema, "description": description}
        )
    responses: dict[str, Any] = {"200": {"description": "OK", "content": _json(route.response)}}
    for status in sorted({*COMMON_ERRORS, *route.errors}):
        responses[str(status)] = {"description": ERROR_DESCRIPTIONS[status], "content": _json("Error")}
    op: dict[str, Any] = {
        "operationId": route.action,
        "summary": route.summary,
        "description": f"The ICE action `{route.action}` as a resource; the body is the action's response.",
        "tags": [route.tag] if route.tag else [],
        "parameters": parameters,
        "responses": responses,
    }
    if route.body is not None:
        op["requestBody"] = {"required": route.body_required, "content": _json(route.body)}
    return op


def build_document(routes: tuple[Route, ...] = ROUTES, *, max_count: int = MAX_COUNT) -> dict[str, Any]:
    """The document; `max_count` is the running service's SNAPSHOTD_MAX_COUNT (Count's real maximum)."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = operation(route)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "snapshotd",
            "version": "1",
            "description": (
                "Snapshot jobs, templates, pipelines and event callbacks as plain JSON resources. Each "
                "operation is the Alibaba Cloud ICE action named by its operationId (also served ICE-style "
                "on `POST /` with `x-acs-action`); bodies and errors are that action's, RequestId included."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {**SCHEMAS, "SnapshotConfig": snapshot_config_schema(max_count)},
            "securitySchemes": {
                "acs3": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": (
                        "ACS3-HMAC-SHA256 request signature, required when the service runs with access "
                        "keys (SNAPSHOTD_AUTH); RPC v1 `Signature` parameters are accepted too."
                    ),
                }
            },
        },
        # `{}` first: unsigned requests are fine when authentication is off.
        "security": [{}, {"acs3": []}],
    }


@functools.cache
def document_bytes(max_count: int) -> bytes:
    """The document never changes while the process runs: serialise it once."""
    return orjson.dumps(build_document(max_count=max_count))


async def openapi_json(request: web.Request) -> web.Response:
    body = document_bytes(request.app[SETTINGS].limits.max_count)
    return web.Response(body=body, content_type=JSON, charset="utf-8")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(PATH, openapi_json)
