"""Every storyboard format of a real WebVtt job through the API: GetSnapshotUrls' `StoryboardUrls`, the
master line and `PreviewUrl`, GetSnapshotJob's `Artifacts`, and each format delivered under the rules of the
.vtt (signed, expiring with the answer, CORS on every answer and preflight, ETag and 304), the JSON and the
HLS playlist with their images signed, the stored files keeping relative references. Local and S3."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jsonschema
import m3u8
import pytest
from yarl import URL

from service.config import Settings
from service.domain.models import ObjectRef
from service.media import storyboard_json
from service.storage.s3 import S3Storage
from tests.e2e.conftest import Stack, running_stack
from tests.ice import call, submit_params
from tests.integration.api.test_snapshot_urls import ENVELOPE_KEYS, put_local, run_job, stored, with_query
from tests.integration.api.test_storyboard_delivery import PAGE, expires_of, get, max_age, options

pytestmark = [pytest.mark.pg, pytest.mark.amqp]

TIMEOUT_S = 600
COUNT = 6
CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "hls": "application/vnd.apple.mpegurl",
    "bif": "application/octet-stream",
}


def board_params(media: str, output: str) -> dict[str, Any]:
    return submit_params(
        media=media,
        output=output,
        Type="WebVtt",
        Count=COUNT,
        Interval=1,
        Width=96,
        FrameType="normal",
        IsSptFrag=True,
        StoryboardFormats=["json", "hls", "bif"],
    )


@pytest.fixture
async def board(settings: Settings, clip: Path) -> AsyncIterator[tuple[Stack, dict[str, Any], dict[str, Any]]]:
    """A finished WebVtt job writing every format on local storage, its GetSnapshotJob and GetSnapshotUrls."""
    put_local(settings, "media", "clip.mp4", clip)
    async with running_stack(settings) as stack:
        job = await run_job(stack, **board_params("oss://media/clip.mp4", "oss://thumbs/sb/board.vtt"))
        status, urls = await call(stack.api, "GetSnapshotUrls", JobId=job["JobId"], Timeout=str(TIMEOUT_S))
        assert status == 200, urls
        yield stack, job, urls


async def test_urls_and_artifacts_name_every_format(board: tuple[Stack, dict[str, Any], dict[str, Any]]) -> None:
    stack, job, urls = board
    artifacts = {a["Key"]: a for a in job["Artifacts"]}

    assert set(urls["StoryboardUrls"]) == {"json", "hls", "bif"}
    assert {urlsplit(u).path for u in urls["StoryboardUrls"].values()} == {
        "/files/thumbs/sb/board.json",
        "/files/thumbs/sb/board.m3u8",
        "/files/thumbs/sb/board.bif",
    }
    assert {expires_of(u) for u in urls["StoryboardUrls"].values()} == {expires_of(urls["WebVTTUrl"])}
    # the storyboards are not images: SnapshotUrls still lists the one sheet
    assert urls["Total"] == 1 and urlsplit(urls["SnapshotUrls"][0]).path.endswith("snapshot-tile-00001.jpg")
    assert set(artifacts) == {
        "sb/board.vtt",
        "sb/board.json",
        "sb/board.m3u8",
        "sb/board.bif",
        "sb/board/snapshot-tile-00001.jpg",
    }
    assert artifacts["sb/board.bif"]["ContentType"] == "application/octet-stream"
    assert artifacts["sb/board/snapshot-tile-00001.jpg"]["ContentType"] == "image/jpeg"
    assert json.loads(job["TemplateConfig"])["StoryboardFormats"] == ["vtt", "json", "hls", "bif"]

    # the master playlist's line, relative in Artifacts, the signed playlist in GetSnapshotUrls
    stored_line = artifacts["sb/board.m3u8"]["StreamInf"]
    (relative,) = m3u8.loads(f"#EXTM3U\n{stored_line}\n").image_playlists
    (signed,) = m3u8.loads(f"#EXTM3U\n{urls['HlsImageStreamInf']}\n").image_playlists
    assert relative.uri == "board.m3u8" and signed.uri == urls["StoryboardUrls"]["hls"]
    assert signed.image_stream_info.resolution == (96, 54)
    assert urls["PreviewUrl"].startswith(f"http://127.0.0.1:{stack.api.port}/v1/snapshot-jobs/{job['JobId']}/preview?")
    assert expires_of(urls["PreviewUrl"]) == expires_of(urls["WebVTTUrl"])


async def test_each_format_is_delivered_like_the_track(
    board: tuple[Stack, dict[str, Any], dict[str, Any]], settings: Settings
) -> None:
    stack, _, urls = board
    sheet = stored(settings, "thumbs", "sb/board/snapshot-tile-00001.jpg")
    served: dict[str, bytes] = {}
    for name, url in urls["StoryboardUrls"].items():
        response = await get(stack.api, url, Origin=PAGE)
        served[name] = await response.read()
        assert response.status == 200, served[name]
        assert response.headers["Content-Type"] == CONTENT_TYPES[name]
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert TIMEOUT_S - 5 <= max_age(response) <= TIMEOUT_S
        etag = response.headers["ETag"]
        again = await get(stack.api, url, Origin=PAGE, **{"If-None-Match": etag})
        assert (again.status, await again.read()) == (304, b""), name
        assert again.headers["Access-Control-Allow-Origin"] == "*"
        preflight = await options(
            stack.api,
            url,
            Origin=PAGE,
            **{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"},
        )
        assert preflight.status == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"

    # the BIF carries its images: served as stored
    assert served["bif"] == stored(settings, "thumbs", "sb/board.bif")

    # the JSON names its sheet by a signed URL of the same expiry; the stored one keeps the relative name
    doc = json.loads(served["json"])
    jsonschema.validate(doc, storyboard_json.SCHEMA)
    stored_doc = json.loads(stored(settings, "thumbs", "sb/board.json"))
    assert stored_doc["images"] == ["board/snapshot-tile-00001.jpg"] and stored_doc["url"] == stored_doc["images"][0]
    assert {k: v for k, v in doc.items() if k not in ("url", "images")} == {
        k: v for k, v in stored_doc.items() if k not in ("url", "images")
    }
    playlist = m3u8.loads(served["hls"].decode())
    stored_playlist = m3u8.loads(stored(settings, "thumbs", "sb/board.m3u8").decode())
    assert [s.uri for s in stored_playlist.segments] == ["board/snapshot-tile-00001.jpg"]
    assert [s.duration for s in playlist.segments] == [s.duration for s in stored_playlist.segments]
    for url in [doc["url"], *doc["images"], *(s.uri for s in playlist.segments)]:
        assert urlsplit(url).path == "/files/thumbs/sb/board/snapshot-tile-00001.jpg"
        assert expires_of(url) == expires_of(urls["WebVTTUrl"])
        image = await get(stack.api, url, Origin=PAGE)
        assert image.status == 200 and await image.read() == sheet


async def test_tampered_and_expired_storyboard_urls_are_403(
    board: tuple[Stack, dict[str, Any], dict[str, Any]],
) -> None:
    stack, _, urls = board
    for url in urls["StoryboardUrls"].values():
        signature = parse_qs(urlsplit(url).query)["Signature"][0]
        for bad, code in (
            (with_query(url, Signature=signature[::-1]), "AccessDenied.SignatureInvalid"),
            (with_query(url, Expires=str(int(time.time()) - 5)), "AccessDenied.SignatureInvalid"),
        ):
            response = await get(stack.api, bad, Origin=PAGE)
            body = await response.json()
            assert (response.status, body["Code"]) == (403, code)
            assert set(body) == ENVELOPE_KEYS and response.headers["Access-Control-Allow-Origin"] == "*"


async def test_submission_refuses_what_a_format_cannot_state(settings: Settings) -> None:
    async with running_stack(settings) as stack:
        cases = {
            "hls with Time": dict(Type="WebVtt", Time=1000, StoryboardFormats=["hls"]),
            "not WebVtt": dict(Type="Sprite", StoryboardFormats=["json"]),
            "unknown format": dict(Type="WebVtt", StoryboardFormats=["vtt", "dash"]),
        }
        for name, overrides in cases.items():
            output = "oss://thumbs/x.vtt" if overrides["Type"] == "WebVtt" else "oss://thumbs/s-{TileCount}.jpg"
            status, body = await call(stack.api, "SubmitSnapshotJob", **submit_params(output=output, **overrides))
            assert (status, body["Code"]) == (400, "InvalidParameter"), name
            assert "OverwriteParams.StoryboardFormats" in body["Message"], (name, body["Message"])


@pytest.mark.s3
async def test_s3_manifests_come_from_the_api_and_the_bif_from_the_store(
    s3_service_env: dict[str, str], s3_storage: S3Storage, s3_bucket: str, blob_prefix: str, clip: Path
) -> None:
    settings = Settings.from_env(s3_service_env)
    await s3_storage.put_file(ObjectRef(s3_bucket, f"{blob_prefix}/in.mp4"), str(clip), "video/mp4")
    await s3_storage.put_bucket_cors(s3_bucket, None)
    params = board_params(f"oss://{s3_bucket}/{blob_prefix}/in.mp4", f"oss://{s3_bucket}/{blob_prefix}/b.vtt")
    async with running_stack(settings) as stack:
        job = await run_job(stack, **params)
        _, urls = await call(stack.api, "GetSnapshotUrls", JobId=job["JobId"], Timeout=str(TIMEOUT_S))
        playlist = await get(stack.api, urls["StoryboardUrls"]["hls"], Origin=PAGE)
        served = (await playlist.read()).decode()

    bif_url = urls["StoryboardUrls"]["bif"]
    assert urlsplit(urls["StoryboardUrls"]["hls"]).path == f"/files/{s3_bucket}/{blob_prefix}/b.m3u8"
    assert urlsplit(urls["StoryboardUrls"]["json"]).path == f"/files/{s3_bucket}/{blob_prefix}/b.json"
    assert urlsplit(bif_url).path == f"/{s3_bucket}/{blob_prefix}/b.bif" and "X-Amz-Signature" in bif_url
    (segment,) = m3u8.loads(served).segments
    assert urlsplit(segment.uri).path == f"/{s3_bucket}/{blob_prefix}/b/snapshot-tile-00001.jpg"
    async with aiohttp.ClientSession() as session:
        for url, key, content_type in (
            (bif_url, "b.bif", "application/octet-stream"),
            (segment.uri, "b/snapshot-tile-00001.jpg", "image/jpeg"),
        ):
            async with session.get(URL(url, encoded=True), headers={"Origin": PAGE}) as response:
                assert response.status == 200, await response.text()
                assert response.headers["Content-Type"] == content_type
                assert response.headers["Access-Control-Allow-Origin"] == PAGE
                assert await response.read() == await s3_storage.get_bytes(ObjectRef(s3_bucket, f"{blob_prefix}/{key}"))
