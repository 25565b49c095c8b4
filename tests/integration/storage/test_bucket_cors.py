"""`snapshotd bucket-cors BUCKET`: a private bucket then answers browsers with the API's own CORS rules
(SNAPSHOTD_CORS_ORIGINS).

moto's server is loose about CORS: it answers a preflight on an object's path with 403 whatever the
rule, and its web framework echoes any Origin on a GET. So the stored rule is read back, the preflight
is sent to the bucket's path (where moto applies the rule), and the GET is checked for what only the
rule adds (the exposed headers). Against a MinIO (SNAPSHOTD_TEST_S3_ENDPOINT_URL) the same holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import aiohttp
import pytest

from service.__main__ import main
from service.domain.models import ObjectRef
from service.storage.s3 import S3Storage

pytestmark = pytest.mark.s3

PAGE = "https://site.example"


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """`main` sets up logging as a process would (root level and handler): later tests keep their own."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_bucket_cors_command_lets_listed_pages_load_presigned_objects(
    s3_env: dict[str, str],
    s3_endpoint_url: str,
    s3_storage: S3Storage,
    s3_bucket: str,
    blob_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**s3_env, "SNAPSHOTD_CORS_ORIGINS": PAGE, "SNAPSHOTD_LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(name, value)
    ref = ObjectRef(s3_bucket, f"{blob_prefix}/sheet.jpg")
    await s3_storage.put_bytes(ref, b"\xff\xd8 not much of a jpeg", "image/jpeg")

    # the command runs its own event loop, as it does from a shell
    assert await asyncio.to_thread(main, ["bucket-cors", s3_bucket]) == 0

    rules = (await s3_storage._client.get_bucket_cors(Bucket=s3_bucket))["CORSRules"]
    url = await s3_storage.presigned_url(ref, 60)
    preflight_headers = {
        "Origin": PAGE,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "range",
    }
    async with aiohttp.ClientSession() as session:
        async with session.options(f"{s3_endpoint_url}/{ref.bucket}", headers=preflight_headers) as preflight:
            assert preflight.status == 200
            assert preflight.headers["Access-Control-Allow-Origin"] == PAGE
            assert "Range" in preflight.headers["Access-Control-Allow-Headers"]
        async with session.get(url, headers={"Origin": PAGE}) as got:
            assert got.status == 200
            assert got.headers["Access-Control-Allow-Origin"] == PAGE
            assert "Content-Range" in got.headers["Access-Control-Expose-Headers"]

    assert [rule["AllowedOrigins"] for rule in rules] == [[PAGE]]
    assert rules[0]["AllowedMethods"] == ["GET", "HEAD"]


def test_bucket_cors_refuses_the_local_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPSHOTD_STORAGE_BACKEND", "local")
    monkeypatch.setenv("SNAPSHOTD_LOG_LEVEL", "ERROR")

    assert main(["bucket-cors", "thumbs"]) == 1
