"""Helpers speaking ICE's wire shape: nested objects as JSON strings in the query, action in a header."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from alibabacloud_ice20201109.client import Client
from alibabacloud_tea_openapi.models import Config


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


def sdk_client(port: int, key_id: str = "LTAIany", secret: str = "any", *, v2: bool = False) -> Client:
    """The official ICE client pointed at a test server: only the endpoint (and protocol) change."""
    config = Config(
        access_key_id=key_id,
        access_key_secret=secret,
        region_id="cn-shanghai",
        endpoint=f"127.0.0.1:{port}",
        protocol="http",
    )
    if v2:
        config.signature_algorithm = "v2"
    return Client(config)
