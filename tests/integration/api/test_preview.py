"""Who may open a job's preview page: with access keys set, a V3-signed REST call or the PreviewUrl link
from GetSnapshotUrls, nobody else; a tampered, expired or another job's link is a 403 like a /files/ URL's.
The page's assets are public, and the vendored Plyr is the pinned npm package's, byte for byte."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from service.api.auth.signing import sign_v3
from service.api.files import preview
from service.api.keys import URL_SIGNER
from service.config import Settings
from tests.e2e.conftest import running_api, running_stack
from tests.ice import call, submit_params
from tests.integration.api.test_snapshot_urls import ENVELOPE_KEYS, put_local, run_job, with_query

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

KEY_ID, SECRET = "LTAIpreview", "preview-secret"
ASSETS = Path(preview.__file__).parent / "assets"
NPM_PLYR = Path(__file__).parents[2] / "browser" / "node_modules" / "plyr"


def signed_get(port: int, path: str, query: dict[str, str]) -> dict[str, str]:
    headers = {
        "host": f"127.0.0.1:{port}",
        "x-acs-action": "GetSnapshotJob",
        "x-acs-version": "2020-11-09",
        "x-acs-date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": uuid.uuid4().hex,
    }
    return sign_v3("GET", path, list(query.items()), headers, b"", KEY_ID, SECRET)


async def page(api: TestClient, url: str, headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    parts = urlsplit(url)
    response = await api.get(parts.path, params={k: v[0] for k, v in parse_qs(parts.query).items()}, headers=headers)
    return response.status, await response.text(), response.headers


async def test_the_link_or_a_signature_opens_the_page(base_env: dict[str, str], clip: Path) -> None:
    env = {**base_env, "SNAPSHOTD_URL_SIGNING_KEY": "one key for both"}
    open_settings = Settings.from_env(env)
    put_local(open_settings, "media", "clip.mp4", clip)
    async with running_stack(open_settings) as stack:
        job = await run_job(stack, **submit_params(output="oss://thumbs/pp/{Count}.webp", Count=3, Interval=2))
        other = await run_job(stack, **submit_params(output="oss://thumbs/pq/{Count}.jpg", Count=1))
        _, urls = await call(stack.api, "GetSnapshotUrls", JobId=job["JobId"], Timeout="300")

    link = urls["PreviewUrl"]
    expires = parse_qs(urlsplit(link).query)["Expires"][0]
    locked = Settings.from_env({**env, "SNAPSHOTD_ACCESS_KEYS": f"{KEY_ID}:{SECRET}"})
    async with running_api(locked) as (api, _):
        by_link = await page(api, link)
        path = preview.path_of(job["JobId"])
        signed = await page(api, path, signed_get(api.port, path, {}))
        unsigned = await page(api, path)
        other_job = await page(api, link.replace(job["JobId"], other["JobId"]))
        tampered = await page(api, with_query(link, Signature="0" * 64))
        later = await page(api, with_query(link, Expires=str(int(expires) + 60)))
        expired_link = api.app[URL_SIGNER].page_url(path, int(time.time()) - 1)
        expired = await page(api, expired_link)
        script = await api.get("/assets/plyr-3.8.4/plyr.min.js")
        unknown = await api.get("/assets/plyr-3.8.4/plyr.min.js.map")

    status, html, headers = by_link
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert html.count("<img ") == 3 and html.count(f"Expires={expires}&") >= 3
    assert "00001.webp" in html and "<video" not in html
    assert signed[0] == 200 and signed[1].count("<img ") == 3
    assert unsigned[0] in (400, 403) and "RequestId" in unsigned[1]
    for refused, code in ((other_job, "SignatureInvalid"), (tampered, "SignatureInvalid"), (later, "SignatureInvalid")):
        assert refused[0] == 403 and f'"AccessDenied.{code}"' in refused[1], refused[1]
    assert expired[0] == 403 and '"AccessDenied.Expired"' in expired[1]
    assert set(json.loads(expired[1])) == ENVELOPE_KEYS
    assert script.status == 200 and script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "immutable" in script.headers["Cache-Control"]
    assert unknown.status == 404


@pytest.mark.skipif(not NPM_PLYR.is_dir() and not os.environ.get("CI"), reason="npm ci --prefix tests/browser")
def test_the_vendored_plyr_is_the_pinned_npm_package() -> None:
    vendored = ASSETS / preview.PLYR
    assert (NPM_PLYR / "package.json").read_text().count('"version": "3.8.4"') == 1
    for name in ("plyr.min.js", "plyr.css", "plyr.svg"):
        assert (vendored / name).read_bytes() == (NPM_PLYR / "dist" / name).read_bytes(), name
    assert (vendored / "LICENSE.md").read_bytes() == (NPM_PLYR / "LICENSE.md").read_bytes()
