"""The BlobStorage contract, run against every backend (imgproxy's storage testsuite style).

The `storage` fixture is parametrised over the backends; the S3 run needs the test server (`-m s3`).
Backend-specific behaviour (local path safety, S3 presigning and connection failures) follows the suite.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from service.config import StorageSettings
from service.domain.models import ObjectRef
from service.errors import (
    InternalError,
    InvalidParameter,
    MediaNotFound,
    ServiceError,
    StorageAccessDenied,
    StorageUnavailable,
)
from service.storage import BlobStorage, LocalStorage, S3Credentials, S3Storage, open_storage
from service.storage import s3 as s3_module
from service.storage.local import _translate as _translate_local
from service.storage.s3 import _translate
from tests.s3server import TEST_URL_SIGNER

#: every byte value, so no backend can get away with text-mode or encoding mistakes
PAYLOAD = bytes(range(256)) * 4

RefFactory = Callable[[str], ObjectRef]


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage(request: pytest.FixtureRequest) -> BlobStorage:
    backend: BlobStorage = request.getfixturevalue(f"{request.param}_storage")
    return backend


@pytest.fixture
def ref(s3_bucket: str, blob_prefix: str) -> RefFactory:
    """ObjectRef under this test's own prefix."""
    return lambda name: ObjectRef(s3_bucket, f"{blob_prefix}/{name}")


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as response:
        return response.status, response.read()


# --- the shared suite -----------------------------------------------------------------------------


async def test_put_bytes_round_trip(storage: BlobStorage, ref: RefFactory) -> None:
    await storage.put_bytes(ref("a.bin"), PAYLOAD, "application/octet-stream")
    assert await storage.get_bytes(ref("a.bin")) == PAYLOAD
    assert await storage.size(ref("a.bin")) == len(PAYLOAD)


async def test_put_file_round_trip(storage: BlobStorage, ref: RefFactory, tmp_path: Path) -> None:
    path = tmp_path / "frame.jpg"
    path.write_bytes(PAYLOAD)
    await storage.put_file(ref("out/0001.jpg"), str(path), "image/jpeg")
    assert await storage.get_bytes(ref("out/0001.jpg")) == PAYLOAD


async def test_copy_is_inside_the_store_and_independent_of_its_source(storage: BlobStorage, ref: RefFactory) -> None:
    await storage.put_bytes(ref("scratch/a.jpg"), PAYLOAD, "application/octet-stream")
    await storage.put_bytes(ref("out/a.jpg"), b"an older object", "image/jpeg")
    await storage.copy(ref("scratch/a.jpg"), ref("out/a.jpg"), "image/jpeg")
    await storage.copy(ref("scratch/a.jpg"), ref("out/a.jpg"), "image/jpeg")  # idempotent
    await storage.delete(ref("scratch/a.jpg"))
    assert await storage.get_bytes(ref("out/a.jpg")) == PAYLOAD
    # writing the copy again leaves nothing shared behind
    await storage.put_bytes(ref("scratch/a.jpg"), b"new", "application/octet-stream")
    assert await storage.get_bytes(ref("out/a.jpg")) == PAYLOAD
    with pytest.raises(MediaNotFound):
        await storage.copy(ref("scratch/missing.jpg"), ref("out/b.jpg"), "image/jpeg")


async def test_unusual_keys_round_trip(storage: BlobStorage, ref: RefFactory) -> None:
    for name in ("视频/片段 1.jpg", "a+b=c&d?.jpg", "%41.jpg", ".hidden"):
        await storage.put_bytes(ref(name), name.encode(), "image/jpeg")
        assert await storage.get_bytes(ref(name)) == name.encode()


async def test_overwrite_is_idempotent(storage: BlobStorage, ref: RefFactory, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"second")
    await storage.put_bytes(ref("k"), b"first, and longer", "text/plain")
    await storage.put_file(ref("k"), str(path), "text/plain")
    await storage.put_file(ref("k"), str(path), "text/plain")
    assert await storage.get_bytes(ref("k")) == b"second"
    assert await storage.size(ref("k")) == len(b"second")


async def test_exists_size_delete(storage: BlobStorage, ref: RefFactory) -> None:
    assert not await storage.exists(ref("x"))
    await storage.put_bytes(ref("x"), b"12345", "text/plain")
    assert await storage.exists(ref("x"))
    assert await storage.size(ref("x")) == 5
    await storage.delete(ref("x"))
    assert not await storage.exists(ref("x"))
    await storage.delete(ref("x"))  # missing is fine


async def test_empty_object(storage: BlobStorage, ref: RefFactory) -> None:
    await storage.put_bytes(ref("empty"), b"", "application/octet-stream")
    assert await storage.exists(ref("empty"))
    assert await storage.size(ref("empty")) == 0
    assert await storage.get_bytes(ref("empty")) == b""


async def test_missing_object_is_media_not_found(storage: BlobStorage, ref: RefFactory) -> None:
    missing = ref("nope.mp4")
    for call in (storage.size, storage.get_bytes, storage.readable_source):
        with pytest.raises(MediaNotFound) as info:
            await call(missing)
        assert missing.url() in info.value.message
    assert not await storage.exists(missing)


async def test_missing_bucket_is_media_not_found(storage: BlobStorage, blob_prefix: str) -> None:
    missing = ObjectRef(f"no-such-bucket-{blob_prefix[-12:]}", "video.mp4")
    assert not await storage.exists(missing)
    with pytest.raises(MediaNotFound):
        await storage.get_bytes(missing)
    with pytest.raises(MediaNotFound):
        await storage.readable_source(missing)
    await storage.delete(missing)  # missing is fine


async def test_prefix_is_not_an_object(storage: BlobStorage, ref: RefFactory) -> None:
    await storage.put_bytes(ref("dir/file"), b"x", "text/plain")
    # On the local backend `dir` is a directory; it must still read as "no such object".
    assert not await storage.exists(ref("dir"))
    with pytest.raises(MediaNotFound):
        await storage.size(ref("dir"))
    with pytest.raises(MediaNotFound):
        await storage.get_bytes(ref("dir"))


async def test_keys_under_a_folder_are_every_object_inside_it_and_nothing_beside_it(
    storage: BlobStorage, ref: RefFactory, blob_prefix: str, s3_bucket: str
) -> None:
    inside = [ref("job/a.jpg"), ref("job/shard-000/b.jpg"), ref("job/shard-000/deeper/c.jpg")]
    for item in [*inside, ref("job-2/d.jpg"), ref("jobs.jpg")]:
        await storage.put_bytes(item, b"x", "image/jpeg")
    keys = await storage.keys_under(s3_bucket, f"{blob_prefix}/job/")
    assert sorted(keys) == sorted(item.key for item in inside)
    for key in keys:
        await storage.delete(ObjectRef(s3_bucket, key))
    assert await storage.keys_under(s3_bucket, f"{blob_prefix}/job/") == []
    assert await storage.exists(ref("job-2/d.jpg"))
    # a folder or a bucket that does not exist holds nothing
    assert await storage.keys_under(s3_bucket, f"{blob_prefix}/never/") == []
    assert await storage.keys_under(f"no-such-bucket-{blob_prefix[-12:]}", "job/") == []
    for not_a_folder in ("job", "/job/", "a/../job/", ""):
        with pytest.raises(ValueError):
            await storage.keys_under(s3_bucket, not_a_folder)


async def test_unreadable_upload_source_is_internal_error(
    storage: BlobStorage, ref: RefFactory, tmp_path: Path
) -> None:
    # Our own scratch file vanishing is a bug, not "media not found" and not a storage outage.
    with pytest.raises(InternalError):
        await storage.put_file(ref("k"), str(tmp_path / "missing.jpg"), "image/jpeg")


async def test_readable_source_reads_the_object(storage: BlobStorage, ref: RefFactory) -> None:
    await storage.put_bytes(ref("in/视频 1.mp4"), PAYLOAD, "video/mp4")
    source = await storage.readable_source(ref("in/视频 1.mp4"))
    if isinstance(storage, LocalStorage):
        assert os.path.isabs(source)
        assert await asyncio.to_thread(Path(source).read_bytes) == PAYLOAD
        return
    status, body = await asyncio.to_thread(http_get, source)
    assert (status, body) == (200, PAYLOAD)
    # Capture processes read inputs with range requests.
    status, body = await asyncio.to_thread(http_get, source, {"Range": "bytes=2-5"})
    assert (status, body) == (206, PAYLOAD[2:6])


async def test_factory_opens_the_configured_backend(
    storage: BlobStorage, s3_settings: StorageSettings, s3_credentials: S3Credentials, tmp_path: Path
) -> None:
    settings = (
        StorageSettings(backend="local", root=str(tmp_path)) if isinstance(storage, LocalStorage) else s3_settings
    )
    opened = await open_storage(settings, credentials=s3_credentials)
    try:
        assert type(opened) is type(storage)
    finally:
        await opened.aclose()
        await opened.aclose()  # idempotent


# --- local backend ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        ObjectRef("bkt", "../escape"),
        ObjectRef("bkt", "a/../../escape"),
        ObjectRef("bkt", "/etc/passwd"),
        ObjectRef("bkt", "a//b"),
        ObjectRef("bkt", "dir/"),
        ObjectRef("..", "escape"),
        ObjectRef("bkt/../..", "escape"),
        ObjectRef("bkt", "a\x00b"),
    ],
)
async def test_local_refuses_keys_outside_the_bucket(local_storage: LocalStorage, bad: ObjectRef) -> None:
    with pytest.raises(InvalidParameter):
        await local_storage.put_bytes(bad, b"x", "text/plain")
    with pytest.raises(InvalidParameter):
        await local_storage.readable_source(bad)
    assert not (local_storage.root.parent / "escape").exists()


async def test_local_refuses_symlink_escape(local_storage: LocalStorage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    bucket = local_storage.root / "bkt"
    bucket.mkdir(parents=True)
    (bucket / "link").symlink_to(outside)
    with pytest.raises(InvalidParameter):
        await local_storage.get_bytes(ObjectRef("bkt", "link/secret"))
    with pytest.raises(InvalidParameter):
        await local_storage.put_bytes(ObjectRef("bkt", "link/new"), b"x", "text/plain")
    assert not (outside / "new").exists()


async def test_local_keys_under_a_folder_leave_out_links_and_writes_in_flight(
    local_storage: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    folder = local_storage.root / "bkt" / "job"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(b"x")
    (folder / "linked-dir").symlink_to(outside)
    (folder / "linked-file").symlink_to(outside / "secret")
    (folder / ".tmp-0123").write_bytes(b"a write in flight")
    assert await local_storage.keys_under("bkt", "job/") == ["job/a.jpg"]
    # a folder that is itself a link out of the bucket is refused, as any key through it is
    (local_storage.root / "bkt" / "away").symlink_to(outside)
    with pytest.raises(InvalidParameter):
        await local_storage.keys_under("bkt", "away/")


async def test_local_delete_takes_the_directories_its_last_object_made(local_storage: LocalStorage) -> None:
    bucket = local_storage.root / "bkt"
    for key in ("job/shard-000/a.jpg", "job/shard-001/b.jpg"):
        await local_storage.put_bytes(ObjectRef("bkt", key), b"x", "image/jpeg")
    await local_storage.delete(ObjectRef("bkt", "job/shard-000/a.jpg"))
    assert not (bucket / "job" / "shard-000").exists() and (bucket / "job" / "shard-001" / "b.jpg").exists()
    await local_storage.delete(ObjectRef("bkt", "job/shard-001/b.jpg"))
    assert not (bucket / "job").exists() and bucket.is_dir()
    await local_storage.delete(ObjectRef("bkt", "job/shard-001/b.jpg"))  # gone already: still fine


async def test_local_writes_into_a_directory_its_last_object_leaves_at_once_all_land(
    local_storage: LocalStorage,
) -> None:
    # each delete empties its folder and takes it (and the one above) while a write beside it makes
    # them again: every write lands, and every copy
    def ref(folder: int, name: str) -> ObjectRef:
        return ObjectRef("bkt", f"job/shard-{folder}/{name}")

    source = ObjectRef("bkt", "kept/source.jpg")
    await local_storage.put_bytes(source, b"copied", "image/jpeg")
    for n in range(150):
        await asyncio.gather(*(local_storage.put_bytes(ref(f, "old.jpg"), b"old", "image/jpeg") for f in range(4)))
        await asyncio.gather(
            *(local_storage.delete(ref(f, "old.jpg")) for f in range(4)),
            *(local_storage.put_bytes(ref(f, f"new-{n}.jpg"), b"new", "image/jpeg") for f in (0, 1)),
            *(local_storage.copy(source, ref(f, f"copy-{n}.jpg"), "image/jpeg") for f in (2, 3)),
        )
        for f, name, data in ((0, "new", b"new"), (1, "new", b"new"), (2, "copy", b"copied"), (3, "copy", b"copied")):
            assert await local_storage.get_bytes(ref(f, f"{name}-{n}.jpg")) == data
            await local_storage.delete(ref(f, f"{name}-{n}.jpg"))


async def test_local_write_leaves_no_temp_files(local_storage: LocalStorage, ref: RefFactory) -> None:
    await local_storage.put_bytes(ref("a/b.jpg"), b"x", "image/jpeg")
    await local_storage.put_bytes(ref("a/b.jpg"), b"y", "image/jpeg")
    written = [p for p in local_storage.root.rglob("*") if p.is_file()]
    assert [p.name for p in written] == ["b.jpg"]


async def test_local_key_colliding_with_a_directory(local_storage: LocalStorage, ref: RefFactory) -> None:
    await local_storage.put_bytes(ref("dir/file"), b"x", "text/plain")
    with pytest.raises(InvalidParameter):
        await local_storage.put_bytes(ref("dir"), b"x", "text/plain")


async def test_download_urls_fetch_the_object_until_they_expire(storage: BlobStorage, ref: RefFactory) -> None:
    """Both backends implement the port's `download_url`: the store's presigned URL, or the API's signed
    /files/ URL (fetched here the way the API checks it)."""
    target = ref("dl/a.jpg")
    await storage.put_file(target, str(Path(__file__)), "image/jpeg")
    expires = int(time.time()) + 60

    url = await storage.download_url(target, expires, origin="http://ignored", cache_control="private, max-age=60")

    if isinstance(storage, LocalStorage):
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert url.startswith("http://api.test/files/")
        assert (
            TEST_URL_SIGNER.verify(target.bucket, target.key, query["Expires"], query["Signature"], time.time()).value
            == "valid"
        )
        assert await storage.local_path(target) == str(storage.root / target.bucket / target.key)
    else:
        status, body = http_get(url)
        assert (status, body) == (200, Path(__file__).read_bytes())
        assert await storage.local_path(target) is None


async def test_a_local_store_without_a_signer_hands_out_no_urls(tmp_path: Path, ref: RefFactory) -> None:
    with pytest.raises(InternalError):
        await LocalStorage(tmp_path).download_url(ref("k"), int(time.time()) + 60, origin="")


# --- s3 backend ------------------------------------------------------------------------------------


@pytest.mark.s3
async def test_s3_presigned_url_expires(s3_storage: S3Storage, ref: RefFactory, s3_is_moto: bool) -> None:
    await s3_storage.put_bytes(ref("k"), b"data", "text/plain")
    url = await s3_storage.presigned_url(ref("k"), expires_s=1)
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["1"]
    assert await asyncio.to_thread(http_get, url) == (200, b"data")
    if s3_is_moto:
        pytest.skip("moto does not enforce presigned URL expiry; run with SNAPSHOTD_TEST_S3_ENDPOINT_URL (MinIO)")
    await asyncio.sleep(2)
    with pytest.raises(urllib.error.HTTPError) as info:
        await asyncio.to_thread(http_get, url)
    assert info.value.code == 403


@pytest.mark.s3
async def test_s3_keys_under_a_folder_come_from_every_page(
    s3_storage: S3Storage, ref: RefFactory, blob_prefix: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a page of two keys stands for S3's thousand: five objects take three ListObjectsV2 pages
    monkeypatch.setattr(s3_module, "LIST_PAGE_KEYS", 2)
    inside = [ref(f"job/{n}.jpg") for n in range(5)]
    await asyncio.gather(*(s3_storage.put_bytes(item, b"x", "image/jpeg") for item in inside))
    assert sorted(await s3_storage.keys_under(s3_bucket, f"{blob_prefix}/job/")) == sorted(i.key for i in inside)


@pytest.mark.s3
async def test_s3_presigned_url_rejects_bad_lifetimes(s3_storage: S3Storage, ref: RefFactory) -> None:
    for expires_s in (0, -1, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError):
            await s3_storage.presigned_url(ref("k"), expires_s)


@pytest.mark.s3
async def test_s3_stores_the_content_type(s3_storage: S3Storage, ref: RefFactory) -> None:
    await s3_storage.put_bytes(ref("a.jpg"), b"x", "image/jpeg")
    url = await s3_storage.presigned_url(ref("a.jpg"), 60)

    def content_type() -> str | None:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.headers["Content-Type"]

    assert await asyncio.to_thread(content_type) == "image/jpeg"


@pytest.mark.s3
async def test_s3_copy_stores_the_new_content_type(s3_storage: S3Storage, ref: RefFactory) -> None:
    await s3_storage.put_bytes(ref("scratch/a"), b"x", "application/octet-stream")
    await s3_storage.copy(ref("scratch/a"), ref("a.jpg"), "image/jpeg")
    head = await s3_storage._head(ref("a.jpg"))
    assert head["ContentType"] == "image/jpeg"


@pytest.mark.s3
async def test_s3_ensure_bucket_is_idempotent(s3_storage: S3Storage, blob_prefix: str) -> None:
    name = f"fresh-{blob_prefix[-20:]}"
    await s3_storage.ensure_bucket(name)
    await s3_storage.ensure_bucket(name)
    await s3_storage.put_bytes(ObjectRef(name, "k"), b"x", "text/plain")
    assert await s3_storage.exists(ObjectRef(name, "k"))


def _closed_port() -> int:
    # Bind to get a free port, then close it: nothing listens there for the rest of the test.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_s3_unreachable_endpoint_is_storage_unavailable(s3_credentials: S3Credentials) -> None:
    # No server needed, so not marked s3: this runs everywhere.
    settings = StorageSettings(backend="s3", s3_endpoint_url=f"http://127.0.0.1:{_closed_port()}")
    async with await S3Storage.open(
        settings, credentials=s3_credentials, connect_timeout_s=0.5, read_timeout_s=0.5, max_attempts=1
    ) as storage:
        started = time.monotonic()
        ref = ObjectRef("bkt", "k")
        calls = (
            lambda: storage.put_bytes(ref, b"x", "text/plain"),
            lambda: storage.get_bytes(ref),
            lambda: storage.exists(ref),
            lambda: storage.size(ref),
            lambda: storage.readable_source(ref),
            lambda: storage.delete(ref),
        )
        for call in calls:
            with pytest.raises(StorageUnavailable) as info:
                await call()
            assert info.value.retryable
        # refused at once, one attempt each: seconds on a loaded machine, where botocore's defaults (a
        # 60 s connect timeout, 3 attempts) would take minutes
        assert time.monotonic() - started < 15


def _client_error(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (_client_error(404, "NoSuchKey"), MediaNotFound),
        (_client_error(404, "404"), MediaNotFound),  # HEAD: no body, so the code is the status
        (_client_error(404, "NoSuchBucket"), MediaNotFound),
        (_client_error(403, "AccessDenied"), StorageAccessDenied),
        (_client_error(403, "403"), StorageAccessDenied),
        (_client_error(403, "SignatureDoesNotMatch"), StorageAccessDenied),
        (_client_error(500, "InternalError"), StorageUnavailable),
        (_client_error(503, "SlowDown"), StorageUnavailable),
        (_client_error(502, ""), StorageUnavailable),
        (_client_error(400, "InvalidArgument"), InternalError),
        # a name the store will never take: the job fails for good instead of retrying
        (_client_error(400, "KeyTooLongError"), InvalidParameter),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), StorageUnavailable),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), StorageUnavailable),
        (TimeoutError(), StorageUnavailable),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, type) else str(v)[:40],
)
def test_s3_error_translation(raised: Exception, expected: type[ServiceError]) -> None:
    with pytest.raises(ServiceError) as info, _translate(ObjectRef("bkt", "k")):
        raise raised
    assert type(info.value) is expected
    assert info.value.__cause__ is raised


@pytest.mark.parametrize(
    ("number", "expected"), [(errno.ENAMETOOLONG, InvalidParameter), (errno.EIO, StorageUnavailable)]
)
def test_local_error_translation(number: int, expected: type[ServiceError]) -> None:
    with pytest.raises(ServiceError) as info, _translate_local(ObjectRef("bkt", "k"), True):
        raise OSError(number, os.strerror(number))
    assert type(info.value) is expected
    assert info.value.retryable is (expected is StorageUnavailable)


async def test_local_objects_get_the_umask_mode_not_0600(local_storage: LocalStorage, ref: RefFactory) -> None:
    """A web server or another user serving the directory must be able to read what was stored."""
    target = ref("mode.jpg")
    await local_storage.put_bytes(target, b"x", "image/jpeg")
    mode = (local_storage.root / target.bucket / target.key).stat().st_mode & 0o777
    umask = os.umask(0o022)
    os.umask(umask)
    assert mode == 0o666 & ~umask
