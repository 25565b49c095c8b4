"""Helpers speaking ICE's wire shape: nested objects as JSON strings in the query, action in a header."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi import utils_models as open_api_util_models
from alibabacloud_tea_openapi.models import Config
from darabonba.runtime import RuntimeOptions


def encode_params(params: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in params.items()}


async def call(client: TestClient | ClientSession, action: str, **params: Any) -> tuple[int, dict[str, Any]]:
    """POST / with the action in `x-acs-action` and every parameter in the query, as the SDK does (to a
    test server, or to a real process through a session with its `base_url`)."""
    response = await client.post("/", params=encode_params(params), headers={"x-acs-action": action})
    return response.status, await response.json(content_type=None)


def submit_params(
    media: str = "oss://media/clip.mp4",
    output: str = "oss://thumbs/out/{Count}.jpg",
    template_id: str = "S00000002-000001",
    **overrides: Any,
) -> dict[str, Any]:
    return {
        "Input": {"Type": "OSS", "Media": media},
        "Output": {"Type": "OSS", "Media": output},
        "TemplateConfig": {"TemplateId": template_id, "OverwriteParams": overrides},
    }


def sdk_client(
    port: int, key_id: str = "LTAIany", secret: str = "any", *, v2: bool = False, algorithm: str | None = None
) -> Client:
    """The official ICE client pointed at a test server: only the endpoint (and protocol) change.

    `v2` signs RPC v1 (HMAC-SHA1); `algorithm` picks a V3 variant (e.g. "ACS3-HMAC-SM3")."""
    config = Config(
        access_key_id=key_id,
        access_key_secret=secret,
        region_id="cn-shanghai",
        endpoint=f"127.0.0.1:{port}",
        protocol="http",
    )
    if v2:
        config.signature_algorithm = "v2"
    elif algorithm:
        config.signature_algorithm = algorithm
    return Client(config)


def sdk_call(
    client: Client,
    action: str,
    pathname: str = "/",
    method: str = "POST",
    *,
    query: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The SDK's generic `call_api`, as a user reaches an API its generated methods do not cover:
    signed (V3) over `pathname`, with a JSON body when one is given. Returns the response body."""
    params = open_api_util_models.Params(
        action=action,
        version="2020-11-09",
        protocol="HTTP",
        pathname=pathname,
        method=method,
        auth_type="AK",
        style="ROA" if pathname != "/" else "RPC",
        req_body_type="json",
        body_type="json",
    )
    request = open_api_util_models.OpenApiRequest(query=query, body=body)
    response: dict[str, Any] = client.call_api(params, request, RuntimeOptions())
    return response["body"]  # type: ignore[no-any-return]
