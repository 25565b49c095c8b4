"""The ICE calls the benchmark sends, signed as the official SDK signs them.

Signing is the service's own `sign_v3` (service/api/auth/signing.py), the code the API verifies with and the
tests sign with: one canonicalisation, so a benchmark cannot measure requests the service would refuse
for another reason. Every request gets a fresh nonce and `x-acs-date`; the query goes on the wire in its
canonical form, so the text sent is the text signed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from yarl import URL

from service.api.auth.signing import canonical_query, sign_v3

KEY_ID, SECRET = "benchid", "benchsecret"
TEMPLATE_ID = "S00000002-000001"
INPUT_MEDIA = "oss://media/clip.mp4"
OUTPUT_MEDIA = "oss://thumbs/bench/{Count}.jpg"
#: what the SDK sends as x-acs-version for ICE
API_VERSION = "2020-11-09"
USER_AGENT = "snapshotd-bench/1 (api_throughput)"

Query = Sequence[tuple[str, str]]


def submit_query(output: str = OUTPUT_MEDIA, *, input_media: str = INPUT_MEDIA, **overrides: Any) -> Query:
    """SubmitSnapshotJob's parameters as the SDK sends them: nested objects as JSON strings in the query."""
    params: dict[str, Any] = {
        "Input": {"Type": "OSS", "Media": input_media},
        "Output": {"Type": "OSS", "Media": output},
        "TemplateConfig": {"TemplateId": TEMPLATE_ID, "OverwriteParams": overrides},
    }
    return [(k, v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in params.items()]


@dataclass(frozen=True)
class Signer:
    """ACS3-HMAC-SHA256 over every header the SDK's V3 path sends (host, user-agent, x-acs-*)."""

    host: str
    key_id: str = KEY_ID
    secret: str = SECRET

    def headers(self, action: str, query: Query) -> dict[str, str]:
        headers = {
            "host": self.host,
            "user-agent": USER_AGENT,
            "x-acs-action": action,
            "x-acs-version": API_VERSION,
            "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "x-acs-signature-nonce": uuid.uuid4().hex,
        }
        return sign_v3("POST", "/", query, headers, b"", self.key_id, self.secret)


def action_url(host: str, query: Query) -> URL:
    """`POST /` with the query in its canonical (signed) form, sent as is."""
    return URL(f"http://{host}/?{canonical_query(query)}", encoded=True)


async def call(session: aiohttp.ClientSession, port: int, action: str, query: Query) -> tuple[int, dict[str, Any]]:
    """One signed ICE call (POST /, empty body); returns (status, JSON body)."""
    host = f"127.0.0.1:{port}"
    async with session.post(action_url(host, query), headers=Signer(host).headers(action, query)) as response:
        return response.status, orjson.loads(await response.read())
