"""pytest plugin: an S3-compatible test server and ready-made storage fixtures.

Load with `-p tests.s3server` or `pytest_plugins = ["tests.s3server"]` in the root conftest.

- `s3_endpoint_url` (session): `SNAPSHOTD_TEST_S3_ENDPOINT_URL` when set (e.g. a MinIO), otherwise a moto
  server started on 127.0.0.1 and a free port, a real HTTP S3 endpoint, stopped at session end.
- `s3_env` (session): the environment a service process would get (`SNAPSHOTD_*` + fake `AWS_*`) as a
  dict. Nothing here touches `os.environ`: S3 storage is opened with the credentials read from this dict.
- `s3_settings`, `s3_credentials`, `s3_bucket` (session) and `blob_prefix` (a fresh uuid per test).
- `s3_storage` / `local_storage` (per test): an opened backend, closed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from service.config import Settings, StorageSettings
from service.storage.local import LocalStorage
from service.storage.s3 import S3Credentials, S3Storage
from service.storage.signed_urls import UrlSigner

#: the bucket every storage test writes into, each test under its own `blob_prefix`
TEST_BUCKET = os.environ.get("SNAPSHOTD_TEST_S3_BUCKET", "snapshotd-test")


@pytest.fixture(scope="session")
def s3_endpoint_url() -> Iterator[str]:
    """URL of a real HTTP S3 endpoint for the whole session."""
    external = os.environ.get("SNAPSHOTD_TEST_S3_ENDPOINT_URL")
    if external:
        yield external
        return
    # Imported here so that sessions which never touch S3 do not pay for importing moto.
    from moto.server import ThreadedMotoServer

    # Port 0: the OS picks a free port, so parallel sessions never collide.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_is_moto() -> bool:
    """Whether the endpoint is the built-in moto server (which does not enforce presigned URL expiry)."""
    return not os.environ.get("SNAPSHOTD_TEST_S3_ENDPOINT_URL")


@pytest.fixture(scope="session")
def s3_env(s3_endpoint_url: str) -> dict[str, str]:
    """Environment of a service process pointed at the test endpoint; pass it to `Settings.from_env`."""
    return {
        "SNAPSHOTD_STORAGE_BACKEND": "s3",
        "SNAPSHOTD_S3_ENDPOINT_URL": s3_endpoint_url,
        "SNAPSHOTD_S3_REGION": "us-east-1",
        "SNAPSHOTD_S3_ADDRESSING_STYLE": "path",
        # moto accepts any credentials; a MinIO needs its own, taken from the real env when given.
        "AWS_ACCESS_KEY_ID": os.environ.get("SNAPSHOTD_TEST_S3_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("SNAPSHOTD_TEST_S3_SECRET_ACCESS_KEY", "testing"),
    }


@pytest.fixture(scope="session")
def s3_settings(s3_env: dict[str, str]) -> StorageSettings:
    return Settings.from_env(s3_env).storage


@pytest.fixture(scope="session")
def s3_credentials(s3_env: dict[str, str]) -> S3Credentials:
    credentials = S3Credentials.from_environ(s3_env)
    assert credentials is not None
    return credentials


@pytest.fixture(scope="session")
def s3_bucket() -> str:
    return TEST_BUCKET


@pytest.fixture
def blob_prefix() -> str:
    """A key prefix no other test uses, so tests share one bucket without seeing each other's objects."""
    return f"test-{uuid.uuid4().hex}"


@pytest.fixture
async def s3_storage(
    s3_settings: StorageSettings, s3_credentials: S3Credentials, s3_bucket: str
) -> AsyncIterator[S3Storage]:
    """An S3Storage on the test endpoint with `s3_bucket` present."""
    async with await S3Storage.open(
        s3_settings, credentials=s3_credentials, connect_timeout_s=2.0, read_timeout_s=10.0
    ) as storage:
        # Per test rather than once per session: a session-scoped async fixture would need its own event
        # loop, and one HEAD against a loopback server costs about a millisecond.
        await storage.ensure_bucket(s3_bucket)
        yield storage


#: the local backend's /files/ URLs are signed by the API's signer; tests give it this one
TEST_URL_SIGNER = UrlSigner(key=b"test-url-signing-key", base_url="http://api.test")


@pytest.fixture
async def local_storage(tmp_path: Path) -> AsyncIterator[LocalStorage]:
    """A LocalStorage rooted in the test's tmp_path."""
    storage = LocalStorage(tmp_path / "storage", TEST_URL_SIGNER)
    try:
        yield storage
    finally:
        await storage.aclose()


@contextlib.contextmanager
def moto_enforcing_iam(bucket: str, allowed: list[str]) -> Iterator[tuple[str, S3Credentials, S3Credentials]]:
    """A moto server of its own that enforces IAM (the shared one allows everything), with `bucket`: its
    endpoint, the keys of a user allowed only the `allowed` S3 actions on the bucket's objects, and those
    of an inspector allowed everything on the bucket (without s3:ListBucket, S3 answers a HEAD of a
    missing object 403, not 404: only the inspector can tell that an object is gone).

    moto enforces IAM after its first INITIAL_NO_AUTH_ACTION_COUNT actions, read once at import, hence a
    process of its own; the set-up below takes those first seven actions."""
    import boto3

    from tests.conftest import free_port  # here: the root conftest loads this module as a plugin

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "7"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the IAM-enforcing moto server did not start") from None
                time.sleep(0.05)
        admin = {
            "endpoint_url": url,
            "region_name": "us-east-1",
            "aws_access_key_id": "a",
            "aws_secret_access_key": "b",
        }
        boto3.client("s3", **admin).create_bucket(Bucket=bucket)
        iam = boto3.client("iam", **admin)
        users = {
            "worker": {"Action": allowed, "Resource": f"arn:aws:s3:::{bucket}/*"},
            "inspector": {"Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]},
        }
        keys = []
        for name, grant in users.items():
            iam.create_user(UserName=name)
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **grant}]}
            iam.put_user_policy(UserName=name, PolicyName="grant", PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            keys.append(S3Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
        yield url, keys[0], keys[1]
    finally:
        server.terminate()
        server.wait(10)
