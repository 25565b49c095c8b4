"""Storyboard delivery over HTTP, as a player on another origin meets it: a real WebVtt job runs, then its
`WebVTTUrl` is fetched the way browsers do (Origin header, preflight, Range, conditional requests).

- The served .vtt names every image by a signed (local) or presigned (S3) URL of the .vtt URL's own
  expiry, `#xywh` kept; the stored .vtt keeps its relative references.
- CORS on every answer (errors and 304s too), preflight with Range, Content-Range exposed;
  `SNAPSHOTD_CORS_ORIGINS` narrows who gets them.
- Cache-Control bounded by the expiry; ETag + If-None-Match → 304 for the .vtt and the images.
- Expired or tampered URLs → 403 with the ICE error body, readable cross-origin.
The players themselves are in tests/browser.
"""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import webvtt
from aiohttp.test_utils import TestClient
from yarl import URL

from service.api.keys import URL_SIGNER
from service.config import Settings
from service.domain.models import ObjectRef
from service.storage.s3 import S3Storage
from tests.e2e.conftest import Stack, running_api, running_stack
from tests.ice import call, submit_params
from tests.integration.api.test_snapshot_urls import ENVELOPE_KEYS, put_local, run_job, stored, with_query

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

PAGE = "http://site.example:3000"
TIMEOUT_S = 600
#: a key with a space and non-ASCII text: the references must be escaped in the file and resolved back
VTT_KEY = "my story/é board.vtt"
SHEET_KEY = "my story/é board/snapshot-tile-00001.jpg"
COUNT = 6


async def get(api: TestClient, url: str, **headers: str) -> aiohttp.ClientResponse:
    response = await api.session.get(URL(url, encoded=True), headers=headers)
    await response.read()
    return response


async def options(api: TestClient, url: str, **headers: str) -> aiohttp.ClientResponse:
    response = await api.session.options(URL(url, encoded=True), headers=headers)
    await response.read()
    return response


def expires_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["Expires"][0])


def max_age(response: aiohttp.ClientResponse) -> int:
    private, _, age = response.headers["Cache-Control"].partition(", max-age=")
    assert private == "private", response.headers["Cache-Control"]
    return int(age)


def cue_targets(text: str) -> list[tuple[float, float, str, str]]:
    """(start, end, url, fragment) of every cue, read by an independent parser."""
    out = []
    for cue in webvtt.from_buffer(io.StringIO(text)):
        url, _, fragment = cue.text.strip().partition("#")
        out.append((cue.start_in_seconds, cue.end_in_seconds, url, fragment))
    return out


@pytest.fixture
async def vtt_job(settings: Settings, clip: Path) -> AsyncIterator[tuple[Stack, str]]:
    """A finished WebVtt job with sprite cells on local storage, and its WebVTTUrl; the stack stays up."""
    put_local(settings, "media", "clip.mp4", clip)
    params = submit_params(
        output=f"oss://thumbs/{VTT_KEY}", Type="WebVtt", Count=COUNT, Interval=1, Width=160, IsSptFrag=True
    )
    async with running_stack(settings) as stack:
        job = await run_job(stack, **params)
        status, body = await call(stack.api, "GetSnapshotUrls", JobId=job["JobId"], Timeout=str(TIMEOUT_S))
        assert status == 200, body
        yield stack, body["WebVTTUrl"]


async def test_served_track_signs_every_image_with_its_own_expiry(
    vtt_job: tuple[Stack, str], settings: Settings
) -> None:
    stack, vtt_url = vtt_job
    response = await get(stack.api, vtt_url, Origin=PAGE)
    served = (await response.read()).decode()
    stored_text = stored(settings, "thumbs", VTT_KEY).decode()

    assert response.status == 200
    assert response.headers["Content-Type"] == "text/vtt; charset=utf-8"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert TIMEOUT_S - 5 <= max_age(response) <= TIMEOUT_S
    assert response.headers["ETag"].startswith('W/"')
    assert urlsplit(vtt_url).path == "/files/thumbs/my%20story/%C3%A9%20board.vtt"

    stored_cues, served_cues = cue_targets(stored_text), cue_targets(served)
    assert len(served_cues) == COUNT
    # same cues, same crops; only the references changed, from relative to signed
    assert [(s, e, f) for s, e, _, f in served_cues] == [(s, e, f) for s, e, _, f in stored_cues]
    assert {ref for _, _, ref, _ in stored_cues} == {"%C3%A9%20board/snapshot-tile-00001.jpg"}
    for _, _, url, _ in served_cues:
        assert url.startswith(f"http://127.0.0.1:{stack.api.port}/files/thumbs/my%20story/%C3%A9%20board/snapshot-tile")
        assert expires_of(url) == expires_of(vtt_url)
        image = await get(stack.api, url, Origin=PAGE)
        assert image.status == 200, await image.text()
        assert image.headers["Content-Type"] == "image/jpeg"
        assert image.headers["Access-Control-Allow-Origin"] == "*"
        assert max_age(image) <= TIMEOUT_S
        assert await image.read() == stored(settings, "thumbs", SHEET_KEY)


async def test_conditional_requests_get_304_with_cors(vtt_job: tuple[Stack, str]) -> None:
    stack, vtt_url = vtt_job
    first = await get(stack.api, vtt_url)
    etag = first.headers["ETag"]
    image_url = cue_targets((await first.read()).decode())[0][2]
    image = await get(stack.api, image_url)

    again = await get(stack.api, vtt_url, Origin=PAGE, **{"If-None-Match": etag})
    other = await get(stack.api, vtt_url, **{"If-None-Match": 'W/"something-else"'})
    image_again = await get(stack.api, image_url, Origin=PAGE, **{"If-None-Match": image.headers["ETag"]})

    assert (again.status, await again.read(), again.headers["ETag"]) == (304, b"", etag)
    assert again.headers["Access-Control-Allow-Origin"] == "*"
    assert max_age(again) <= TIMEOUT_S
    assert other.status == 200 and other.headers["ETag"] == etag
    assert image_again.status == 304
    assert image_again.headers["Access-Control-Allow-Origin"] == "*"


async def test_preflight_allows_range_and_the_answer_exposes_content_range(vtt_job: tuple[Stack, str]) -> None:
    stack, vtt_url = vtt_job
    image_url = cue_targets((await (await get(stack.api, vtt_url)).read()).decode())[0][2]

    preflight = await options(
        stack.api,
        image_url,
        Origin=PAGE,
        **{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"},
    )
    ranged = await get(stack.api, image_url, Origin=PAGE, Range="bytes=0-99")
    plain = await options(stack.api, image_url)

    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "range" in preflight.headers["Access-Control-Allow-Headers"].lower()
    assert int(preflight.headers["Access-Control-Max-Age"]) > 0
    assert ranged.status == 206
    assert len(await ranged.read()) == 100
    assert ranged.headers["Content-Range"].startswith("bytes 0-99/")
    exposed = {h.strip().lower() for h in ranged.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"content-range", "content-length"} <= exposed
    assert (plain.status, plain.headers["Allow"]) == (204, "GET, HEAD, OPTIONS")


async def test_expired_and_tampered_urls_are_403_with_a_readable_body(vtt_job: tuple[Stack, str]) -> None:
    stack, vtt_url = vtt_job
    image_url = cue_targets((await (await get(stack.api, vtt_url)).read()).decode())[0][2]
    signature = parse_qs(urlsplit(vtt_url).query)["Signature"][0]
    signer = stack.api.app[URL_SIGNER]
    past = signer.url("thumbs", VTT_KEY, int(time.time()) - 1, origin=f"http://127.0.0.1:{stack.api.port}")

    cases = {
        with_query(vtt_url, Signature=signature[::-1]): "AccessDenied.SignatureInvalid",
        with_query(vtt_url, Expires=str(expires_of(vtt_url) + 1)): "AccessDenied.SignatureInvalid",
        # the .vtt's signature does not open its images: each URL is signed for its own object
        with_query(image_url, Signature=signature): "AccessDenied.SignatureInvalid",
        past: "AccessDenied.Expired",
    }
    for url, code in cases.items():
        response = await get(stack.api, url, Origin=PAGE)
        body = await response.json()
        assert (response.status, body["Code"]) == (403, code), url
        assert set(body) == ENVELOPE_KEYS
        assert response.headers["Access-Control-Allow-Origin"] == "*"


async def test_listed_origins_alone_get_cors(base_env: dict[str, str], tmp_path: Path) -> None:
    settings = Settings.from_env({**base_env, "SNAPSHOTD_CORS_ORIGINS": f"{PAGE}, https://other.example"})
    source = tmp_path / "board.vtt"
    source.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nboard/x.jpg#xywh=0,0,1,1\n")
    put_local(settings, "thumbs", "s/board.vtt", source)
    async with running_api(settings) as (api, _):
        url = api.app[URL_SIGNER].url("thumbs", "s/board.vtt", int(time.time()) + 60, origin=str(api.make_url("")))
        listed = await get(api, url, Origin=PAGE)
        unlisted = await get(api, url, Origin="https://evil.example")
        allowed = await options(api, url, Origin=PAGE, **{"Access-Control-Request-Method": "GET"})
        refused = await options(api, url, Origin="https://evil.example", **{"Access-Control-Request-Method": "GET"})

    assert listed.status == unlisted.status == 200
    assert listed.headers["Access-Control-Allow-Origin"] == PAGE
    assert "Origin" in listed.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in unlisted.headers
    assert "Origin" in unlisted.headers["Vary"]
    assert (allowed.status, allowed.headers["Access-Control-Allow-Origin"]) == (204, PAGE)
    assert "Origin" in allowed.headers["Vary"]
    assert (refused.status, (await refused.json())["Code"]) == (403, "AccessDenied.OriginNotAllowed")


@pytest.mark.s3
async def test_s3_track_is_served_by_the_api_with_presigned_images(
    s3_service_env: dict[str, str], s3_storage: S3Storage, s3_bucket: str, blob_prefix: str, clip: Path
) -> None:
    settings = Settings.from_env(s3_service_env)
    await s3_storage.put_file(ObjectRef(s3_bucket, f"{blob_prefix}/in.mp4"), str(clip), "video/mp4")
    await s3_storage.put_bucket_cors(s3_bucket, None)
    params = submit_params(
        media=f"oss://{s3_bucket}/{blob_prefix}/in.mp4",
        output=f"oss://{s3_bucket}/{blob_prefix}/board.vtt",
        Type="WebVtt",
        Count=COUNT,
        Interval=1,
        Width=160,
        IsSptFrag=True,
    )
    async with running_stack(settings) as stack:
        job = await run_job(stack, **params)
        _, body = await call(stack.api, "GetSnapshotUrls", JobId=job["JobId"], Timeout=str(TIMEOUT_S))
        vtt_url = body["WebVTTUrl"]
        first = await get(stack.api, vtt_url, Origin=PAGE)
        second = await get(stack.api, vtt_url, **{"If-None-Match": first.headers["ETag"]})
        served = (await first.read()).decode()

    stored_text = (await s3_storage.get_bytes(ObjectRef(s3_bucket, f"{blob_prefix}/board.vtt"))).decode()
    assert urlsplit(vtt_url).path == f"/files/{s3_bucket}/{blob_prefix}/board.vtt"
    assert first.status == 200 and first.headers["Access-Control-Allow-Origin"] == "*"
    # the presigned URLs differ by their signing second; the answer grants the same, so 304
    assert second.status == 304
    assert "snapshot-tile-00001.jpg#xywh=" in stored_text and "X-Amz" not in stored_text
    cues = cue_targets(served)
    assert [(s, e, f) for s, e, _, f in cues] == [(s, e, f) for s, e, _, f in cue_targets(stored_text)]
    async with aiohttp.ClientSession() as session:
        for _, _, url, _ in cues[:2]:
            query: dict[str, Any] = parse_qs(urlsplit(url).query)
            assert urlsplit(url).path == f"/{s3_bucket}/{blob_prefix}/board/snapshot-tile-00001.jpg"
            assert 0 < int(query["X-Amz-Expires"][0]) <= TIMEOUT_S
            async with session.get(URL(url, encoded=True), headers={"Origin": PAGE}) as image:
                assert image.status == 200, await image.text()
                assert await image.read() == await s3_storage.get_bytes(
                    ObjectRef(s3_bucket, f"{blob_prefix}/board/snapshot-tile-00001.jpg")
                )
                # the store itself answers with the API's rules: CORS from the bucket rule, bounded caching
                assert image.headers["Access-Control-Allow-Origin"] == PAGE
                assert image.headers["Cache-Control"].startswith("private, max-age=")
                assert int(image.headers["Cache-Control"].rpartition("=")[2]) <= TIMEOUT_S


async def test_only_the_tracks_own_folder_is_signed(base_env: dict[str, str], tmp_path: Path) -> None:
    settings = Settings.from_env(base_env)
    source = tmp_path / "board.vtt"
    source.write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nboard/x.jpg#xywh=0,0,1,1\n\n"
        "00:00:01.000 --> 00:00:02.000\n../other/secret.jpg#xywh=0,0,1,1\n"
    )
    put_local(settings, "thumbs", "s/board.vtt", source)
    async with running_api(settings) as (api, _):
        url = api.app[URL_SIGNER].url("thumbs", "s/board.vtt", int(time.time()) + 60, origin=str(api.make_url("")))
        served = (await (await get(api, url)).read()).decode()

    own, other = (ref for _, _, ref, _ in cue_targets(served))
    assert urlsplit(own).path == "/files/thumbs/s/board/x.jpg" and "Signature=" in own
    # left relative: it resolves to an unsigned URL, refused like any other
    assert other == "../other/secret.jpg"
