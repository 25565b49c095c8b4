"""Snapshot template actions: Create/Get/List/Update/Delete/SetDefault CustomTemplate(s) and
Get/ListSystemTemplate(s).

Only snapshot templates exist here (ICE Type 2); any other ICE template type is answered with
400 `InvalidParameter.NotSupport`. The snapshot subtype (1 Normal, 2 Sprite, 3 WebVtt) is derived from
`TemplateConfig.Type` and, when the caller also sends `Subtype`, checked against it; a template's
subtype is fixed at creation, so UpdateCustomTemplate cannot turn a Normal template into a Sprite one.
TemplateConfig is validated by `parse_config`, the same rules a job's OverwriteParams pass, and stored
in its normalised `to_ice` form.

Response shapes follow the SDK models, quirks included: CreateCustomTemplate returns `Subtype` as the
subtype *name*, Get/List return it as an int plus `SubtypeName`; `TemplateConfig` is a JSON string.
System templates cannot be changed, deleted or made the default: 403 `Forbidden.SystemTemplate`.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from typing import Any

import orjson
from aiohttp import web

from service.api.actions.params import Params
from service.api.keys import SETTINGS, TEMPLATES
from service.domain.request_fields import NAME, SYSTEM_STATUS, TEMPLATE_ORDER, TEMPLATE_PAGE_NUMBER, TEMPLATE_PAGE_SIZE
from service.domain.snapshot_config import parse_config, to_ice
from service.domain.templates import (
    ICE_TYPE_IDS,
    ORDERS,
    SNAPSHOT_TYPE,
    SNAPSHOT_TYPE_NAME,
    SUBTYPE_IDS,
    SUBTYPE_NAMES,
    SYSTEM_STATUSES,
)
from service.errors import (
    InvalidParameter,
    MissingParameter,
    NotSupported,
    ResourceNotFound,
    ServiceError,
    SystemTemplateReadOnly,
)
from service.events.payloads import ice_time
from service.store.templates import Template, TemplateQuery, TemplateStore


def _store(request: web.Request) -> TemplateStore:
    return request.app[TEMPLATES]


# --- parameters -----------------------------------------------------------------------------------


def parse_type(value: str, field: str = "Type") -> int:
    """A template type as an id or a name; only the snapshot type is served."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        number = int(text)
        if number == SNAPSHOT_TYPE:
            return number
        if number not in ICE_TYPE_IDS:
            raise InvalidParameter.named(field, f'It must be {SNAPSHOT_TYPE} or "{SNAPSHOT_TYPE_NAME}".')
    elif text.lower() == SNAPSHOT_TYPE_NAME.lower():
        return SNAPSHOT_TYPE
    raise NotSupported(
        f'The specified parameter "{field}" is not supported: {text!r}. Only snapshot templates '
        f'(Type {SNAPSHOT_TYPE}, "{SNAPSHOT_TYPE_NAME}") are served here.'
    )


def parse_types(value: str, field: str = "Type") -> tuple[int, ...]:
    """A comma-separated list of types (ListSystemTemplates)."""
    items = [item for item in value.split(",") if item.strip()]
    if not items:
        raise MissingParameter.named(field)
    return tuple(dict.fromkeys(parse_type(item, field) for item in items))


def parse_subtype(value: str | None, field: str = "Subtype") -> int | None:
    """A snapshot subtype as 1..3 or Normal/Sprite/WebVtt; None when not given."""
    if value is None:
        return None
    text = value.strip()
    number = int(text) if text.isdigit() else SUBTYPE_IDS.get(text.lower())
    if number not in SUBTYPE_NAMES:
        raise InvalidParameter.named(field, "It must be 1 (Normal), 2 (Sprite) or 3 (WebVtt).")
    return number


def parse_template_config(
    raw: dict[str, Any], subtype: int | None, field: str, max_count: int
) -> tuple[dict[str, Any], int]:
    """Validate a TemplateConfig; (normalised config, its subtype). A given `subtype` must agree."""
    if subtype is not None and raw.get("Type") in (None, ""):
        # Subtype alone says which kind of snapshot; without this the config would default to Normal.
        raw = {**raw, "Type": SUBTYPE_NAMES[subtype]}
    config = parse_config(raw, field, max_count=max_count)
    derived = SUBTYPE_IDS[config.type.value.lower()]
    if subtype is not None and subtype != derived:
        raise InvalidParameter.named(
            "Subtype", f"It is {SUBTYPE_NAMES[subtype]} but {field}.Type is {config.type.value}."
        )
    return to_ice(config), derived


def _page(params: Params) -> tuple[int, int]:
    return (
        params.field(TEMPLATE_PAGE_NUMBER),
        params.field(TEMPLATE_PAGE_SIZE),
    )


# --- views ----------------------------------------------------------------------------------------


def config_json(config: dict[str, Any]) -> str:
    """TemplateConfig as the JSON string the SDK expects, in `to_ice` key order.

    jsonb does not keep key order, so the stored object is normalised again on the way out. A stored
    config that no longer validates (rules tightened since) is shown as stored rather than failing a read.
    """
    with contextlib.suppress(ServiceError):
        config = to_ice(parse_config(config, "TemplateConfig", max_count=sys.maxsize))
    return orjson.dumps(config).decode()


def system_view(template: Template) -> dict[str, Any]:
    """The SystemTemplate object of Get/ListSystemTemplate(s)."""
    return {
        "TemplateId": template.template_id,
        "TemplateName": template.name,
        "Type": template.type,
        "TypeName": SNAPSHOT_TYPE_NAME,
        "Subtype": template.subtype,
        "SubtypeName": SUBTYPE_NAMES[template.subtype],
        "Status": template.status,
        "TemplateConfig": config_json(template.config),
    }


def custom_view(template: Template, *, subtype_as_name: bool = False) -> dict[str, Any]:
    """The CustomTemplate object; CreateCustomTemplate's model types Subtype as the name (ICE quirk)."""
    view = {
        **system_view(template),
        "IsDefault": template.is_default,
        "CreateTime": ice_time(template.create_time),
        "ModifiedTime": ice_time(template.modified_time),
    }
    if subtype_as_name:
        view["Subtype"] = view.pop("SubtypeName")
    return view


async def _custom(store: TemplateStore, template_id: str) -> Template:
    """A custom template that callers may change: 404 if unknown, 403 if it is a system preset."""
    template = await store.get(template_id)
    if template is None:
        raise ResourceNotFound.of("Template", template_id)
    if template.is_system:
        raise SystemTemplateReadOnly(f"The template {template_id} is a system template and cannot be changed.")
    return template


# --- custom templates -----------------------------------------------------------------------------


async def create_custom_template(request: web.Request, params: Params) -> dict[str, Any]:
    name: str = params.field(NAME, required=True)
    type_ = parse_type(params.string("Type", required=True) or "")
    subtype = parse_subtype(params.string("Subtype"))
    raw = params.object("TemplateConfig", required=True) or {}
    max_count = request.app[SETTINGS].limits.max_count
    config, subtype = parse_template_config(raw, subtype, "TemplateConfig", max_count)
    template = await _store(request).create(uuid.uuid4().hex, name, type_, subtype, config)
    return {"CustomTemplate": custom_view(template, subtype_as_name=True)}


async def get_custom_template(request: web.Request, params: Params) -> dict[str, Any]:
    """By TemplateId; without one, the default custom template of Type (and Subtype)."""
    store = _store(request)
    template_id = params.string("TemplateId")
    if template_id is not None:
        template = await store.get(template_id)
        if template is None or template.is_system:
            raise ResourceNotFound.of("Template", template_id)
        return {"CustomTemplate": custom_view(template)}
    type_value = params.string("Type")
    if type_value is None:
        raise MissingParameter.named("TemplateId")
    type_ = parse_type(type_value)
    subtype = parse_subtype(params.string("Subtype"))
    template = await store.default(type_, subtype)
    if template is None:
        wanted = f"default of Type {type_}" + (f", Subtype {subtype}" if subtype else "")
        raise ResourceNotFound.of("Template", wanted)
    return {"CustomTemplate": custom_view(template)}


async def list_custom_templates(request: web.Request, params: Params) -> dict[str, Any]:
    order = params.field(TEMPLATE_ORDER)
    page_number, page_size = _page(params)
    query = TemplateQuery(
        system=False,
        types=(parse_type(params.string("Type", required=True) or ""),),
        subtype=parse_subtype(params.string("Subtype")),
        template_id=params.string("TemplateId"),
        name=params.string("Name"),
        descending=ORDERS[order],
        page_number=page_number,
        page_size=page_size,
    )
    total, templates = await _store(request).list(query)
    return {"Total": total, "CustomTemplateList": [custom_view(t) for t in templates]}


async def update_custom_template(request: web.Request, params: Params) -> dict[str, Any]:
    """Rename and/or replace the TemplateConfig (a replacement, not a merge); the subtype is kept."""
    store = _store(request)
    template = await _custom(store, params.string("TemplateId", required=True) or "")
    name = params.field(NAME)
    raw = params.object("TemplateConfig")
    config = None
    if raw is not None:
        max_count = request.app[SETTINGS].limits.max_count
        config = _keep_subtype(raw, template, max_count)
    if await store.update(template.template_id, name, config) is None:
        raise ResourceNotFound.of("Template", template.template_id)
    return {"Success": True}


def _keep_subtype(raw: dict[str, Any], template: Template, max_count: int) -> dict[str, Any]:
    """The new config, which must be of the template's subtype (its Type defaults to that)."""
    if raw.get("Type") in (None, ""):
        raw = {**raw, "Type": SUBTYPE_NAMES[template.subtype]}
    config, subtype = parse_template_config(raw, None, "TemplateConfig", max_count)
    if subtype != template.subtype:
        raise InvalidParameter.named(
            "TemplateConfig.Type",
            f"The template is a {SUBTYPE_NAMES[template.subtype]} template; its subtype cannot change.",
        )
    return config


async def delete_custom_template(request: web.Request, params: Params) -> dict[str, Any]:
    store = _store(request)
    template = await _custom(store, params.string("TemplateId", required=True) or "")
    if not await store.delete(template.template_id):
        raise ResourceNotFound.of("Template", template.template_id)
    return {"Success": True}


async def set_default_custom_template(request: web.Request, params: Params) -> dict[str, Any]:
    """Make the template the default of its Type + Subtype; the previous default stops being one."""
    store = _store(request)
    template = await _custom(store, params.string("TemplateId", required=True) or "")
    if await store.set_default(template) is None:
        raise ResourceNotFound.of("Template", template.template_id)
    return {"Success": True}


# --- system templates -----------------------------------------------------------------------------


async def list_system_templates(request: web.Request, params: Params) -> dict[str, Any]:
    status = params.field(SYSTEM_STATUS)
    page_number, page_size = _page(params)
    query = TemplateQuery(
        system=True,
        types=parse_types(params.string("Type", required=True) or ""),
        subtype=parse_subtype(params.string("Subtype")),
        template_id=params.string("TemplateId"),
        name=params.string("Name"),
        statuses=SYSTEM_STATUSES[status],
        # presets are seeded in one transaction (same create_time), so the id tie-break orders them
        descending=False,
        page_number=page_number,
        page_size=page_size,
    )
    total, templates = await _store(request).list(query)
    return {"Total": total, "SystemTemplateList": [system_view(t) for t in templates]}


async def get_system_template(request: web.Request, params: Params) -> dict[str, Any]:
    template_id = params.string("TemplateId", required=True) or ""
    template = await _store(request).get(template_id)
    if template is None or not template.is_system:
        raise ResourceNotFound.of("SystemTemplate", template_id)
    return {"SystemTemplate": system_view(template)}
