"""S3-compatible backend (AWS S3, MinIO, Alibaba OSS's S3 endpoint) through aiobotocore.

One long-lived client per process (aiobotocore #806: a client per call leaks connectors and pays
the TLS handshake every time; thumbor-aws's client-per-call is the thing not to copy). Open it once with
`S3Storage.open(settings)` (or `async with`), close it with `aclose()` from the exit stack.

Credentials come from botocore's standard chain (AWS_* env vars, profile, web identity, IMDS) unless
explicit `S3Credentials` are passed: tests do that so they never touch `os.environ`.

Every botocore error is translated in `_translate`, once (see `storage/base.py` for the contract).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError

from service.domain import cors
from service.errors import InternalError, InvalidParameter, MediaNotFound, StorageAccessDenied, StorageUnavailable
from service.storage.base import DEFAULT_SOURCE_EXPIRES_S, folder_key, open_source

if TYPE_CHECKING:
    from types import TracebackType

    from service.config import StorageSettings
    from service.domain.models import ObjectRef

log = logging.getLogger(__name__)

#: SigV4 presigned URLs cannot outlive 7 days (AWS S3 docs, "Sharing objects with presigned URLs")
MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600
#: keys per ListObjectsV2 page: S3's own most (a fanned-out film's scratch folder holds thousands)
LIST_PAGE_KEYS = 1000
#: botocore's "standard" retry mode: 3 attempts with jittered backoff, retries 5xx/throttling/connection errors
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_CONNECT_TIMEOUT_S = 5.0
#: images are small; a read stalled this long is a sick endpoint, and the retry gets a fresh connection
DEFAULT_READ_TIMEOUT_S = 30.0

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})
_DENIED_CODES = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "AllAccessDisabled"}
)
#: the store will never take this key: a permanent failure of the job, not a retry
_REFUSED_NAME_CODES = frozenset({"KeyTooLongError", "InvalidObjectName"})
_UNAVAILABLE_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"})


@dataclass(frozen=True, slots=True)
class S3Credentials:
    """Explicit credentials; production leaves them None and uses botocore's chain."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> S3Credentials | None:
        """The standard AWS_* variables from a mapping (e.g. a test's env dict); None if absent."""
        key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
        if not key or not secret:
            return None
        return cls(key, secret, environ.get("AWS_SESSION_TOKEN") or None)

    def __repr__(self) -> str:  # never let the secret reach a log line
        return f"S3Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


class S3Storage:
    """BlobStorage on an S3-compatible endpoint, holding one aiobotocore client."""

    def __init__(self, client: Any, stack: contextlib.AsyncExitStack, location: str = "") -> None:
        # Use `S3Storage.open`; the constructor only takes ownership of an entered client.
        self._client = client
        self._stack = stack
        self.location = location

    @classmethod
    async def open(
        cls,
        settings: StorageSettings,
        *,
        credentials: S3Credentials | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> S3Storage:
        """Create the process's client. Nothing is sent until the first call: no network here."""
        config = AioConfig(
            region_name=settings.s3_region,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout_s,
            read_timeout=read_timeout_s,
            s3={"addressing_style": settings.s3_addressing_style},
            # Explicit SigV4: left alone, botocore presigns with SigV2, which AWS no longer accepts in newer
            # regions and which cannot express an expiry as a lifetime (X-Amz-Expires).
            signature_version="s3v4",
            # botocore >= 1.36 adds CRC32 checksum headers/trailers to every upload by default, which
            # several S3-compatibles (older MinIO, OSS, Ceph) reject (boto/boto3#4392, botocore#3352).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        explicit: dict[str, str] = {}
        if credentials is not None:
            explicit = {
                "aws_access_key_id": credentials.access_key_id,
                "aws_secret_access_key": credentials.secret_access_key,
            }
            if credentials.session_token:
                explicit["aws_session_token"] = credentials.session_token
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                region_name=settings.s3_region,
                endpoint_url=settings.s3_endpoint_url or None,
                config=config,
                **explicit,
            )
        )
        log.info(
            "s3 client ready",
            extra={"endpoint": settings.s3_endpoint_url or "(aws default)", "region": settings.s3_region},
        )
        return cls(client, stack, settings.s3_region)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        # AsyncExitStack.aclose is a no-op the second time, so this is idempotent.
        await self._stack.aclose()

    # --- BlobStorage ---------------------------------------------------------------------------

    async def put_file(self, ref: ObjectRef, path: str, content_type: str) -> None:
        # Opening a local scratch file is cheap enough to do inline. The open file is the Body, so
        # botocore streams it (and sizes it by seek/tell) instead of us loading it into memory.
        # NOTE: over plain http:// endpoints SigV4 hashes the payload in the event loop; images are
        # small, and https endpoints use UNSIGNED-PAYLOAD, so no hashing happens in production.
        with open_source(path) as body, _translate(ref):
            await self._client.put_object(Bucket=ref.bucket, Key=ref.key, Body=body, ContentType=content_type)

    async def copy(self, source: ObjectRef, target: ObjectRef, content_type: str) -> None:
        # server-side: the bytes never leave the store (objects up to 5 GB; images are far smaller)
        with _translate(source):
            await self._client.copy_object(
                Bucket=target.bucket,
                Key=target.key,
                CopySource={"Bucket": source.bucket, "Key": source.key},
                ContentType=content_type,
                MetadataDirective="REPLACE",
            )

    async def put_bytes(self, ref: ObjectRef, data: bytes, content_type: str) -> None:
        with _translate(ref):
            await self._client.put_object(Bucket=ref.bucket, Key=ref.key, Body=data, ContentType=content_type)

    async def exists(self, ref: ObjectRef) -> bool:
        try:
            await self._head(ref)
        except MediaNotFound:
            return False
        return True

    async def size(self, ref: ObjectRef) -> int:
        head = await self._head(ref)
        return int(head["ContentLength"])

    async def delete(self, ref: ObjectRef) -> None:
        # S3 answers 204 for a missing key; a missing bucket means the object is gone too.
        with contextlib.suppress(MediaNotFound), _translate(ref):
            await self._client.delete_object(Bucket=ref.bucket, Key=ref.key)

    async def keys_under(self, bucket: str, prefix: str) -> list[str]:
        folder_key(prefix)
        keys: list[str] = []
        with contextlib.suppress(MediaNotFound), _translate_bucket(bucket, f"oss://{bucket}/{prefix}"):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": LIST_PAGE_KEYS}
            )
            async for page in pages:
                keys.extend(item["Key"] for item in page.get("Contents", ()))
        return keys

    async def get_bytes(self, ref: ObjectRef) -> bytes:
        with _translate(ref):
            response = await self._client.get_object(Bucket=ref.bucket, Key=ref.key)
            async with response["Body"] as stream:
                data: bytes = await stream.read()
        return data

    async def readable_source(self, ref: ObjectRef, expires_s: int = DEFAULT_SOURCE_EXPIRES_S) -> str:
        # HEAD first: a presigned URL to a missing object would only fail later, inside the child process.
        await self._head(ref)
        return await self.presigned_url(ref, expires_s)

    async def download_url(self, ref: ObjectRef, expires: int, *, origin: str, cache_control: str | None = None) -> str:
        # The store signs with its own clock's second; from the same second, the lifetimes agree.
        lifetime = max(1, expires - math.floor(time.time()))
        return await self.presigned_url(ref, lifetime, cache_control=cache_control)

    async def local_path(self, ref: ObjectRef) -> None:
        """The store serves its objects itself."""
        return None

    async def presigned_url(self, ref: ObjectRef, expires_s: int, *, cache_control: str | None = None) -> str:
        if not 1 <= expires_s <= MAX_PRESIGN_EXPIRES_S:
            raise ValueError(f"expires_s must be 1..{MAX_PRESIGN_EXPIRES_S}, got {expires_s}")
        params = {"Bucket": ref.bucket, "Key": ref.key}
        if cache_control:
            # response-cache-control: the store answers with this Cache-Control (signed, so not forgeable).
            params["ResponseCacheControl"] = cache_control
        # Signing is local computation (credentials may be refreshed, hence the translation).
        with _translate(ref):
            url: str = await self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)
        return url

    # --- administration ------------------------------------------------------------------------

    async def ensure_bucket(self, name: str) -> None:
        """Create bucket `name` unless it exists (tests, local trial mode); safe to race."""
        with _translate_bucket(name):
            try:
                await self._client.head_bucket(Bucket=name)
                return
            except ClientError as exc:
                if _code(exc) not in _NOT_FOUND_CODES:
                    raise
            region = self._client.meta.region_name
            kwargs: dict[str, Any] = {"Bucket": name}
            # us-east-1 is the one region that must NOT be named as a location constraint.
            if region and region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                await self._client.create_bucket(**kwargs)
                log.info("created bucket %s", name)
            except ClientError as exc:
                if _code(exc) != "BucketAlreadyOwnedByYou":
                    raise

    async def put_bucket_cors(self, bucket: str, origins: frozenset[str] | None) -> None:
        """Let pages of `origins` (None: any) fetch the bucket's objects by presigned URL, as the API lets
        them fetch its own. This replaces the bucket's whole CORS configuration (S3 keeps one per bucket)."""
        with _translate_bucket(bucket):
            await self._client.put_bucket_cors(Bucket=bucket, CORSConfiguration=cors_configuration(origins))

    async def _head(self, ref: ObjectRef) -> dict[str, Any]:
        with _translate(ref):
            head: dict[str, Any] = await self._client.head_object(Bucket=ref.bucket, Key=ref.key)
        return head


def cors_configuration(origins: frozenset[str] | None) -> dict[str, Any]:
    """The bucket CORS rule for pages of `origins` (None: any), the API's own rules in S3's terms."""
    if origins is not None and not origins:
        raise ValueError("no origin to allow: SNAPSHOTD_CORS_ORIGINS is empty")
    rule = {
        "AllowedOrigins": ["*"] if origins is None else sorted(origins),
        "AllowedMethods": list(cors.ALLOWED_METHODS),
        "AllowedHeaders": list(cors.ALLOWED_HEADERS),
        "ExposeHeaders": list(cors.EXPOSED_HEADERS),
        "MaxAgeSeconds": cors.PREFLIGHT_MAX_AGE_S,
    }
    return {"CORSRules": [rule]}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


@contextlib.contextmanager
def _translate(ref: ObjectRef) -> Iterator[None]:
    """botocore errors → the service's storage errors, once, here."""
    with _translate_bucket(ref.bucket, ref.url()):
        yield


@contextlib.contextmanager
def _translate_bucket(bucket: str, what: str | None = None) -> Iterator[None]:
    what = what or f"oss://{bucket}"
    try:
        yield
    except ClientError as exc:
        code, status = _code(exc), _status(exc)
        if code in _NOT_FOUND_CODES or status == 404:
            raise MediaNotFound(f"The input media file does not exist: {what}") from exc
        if code in _DENIED_CODES or status == 403:
            raise StorageAccessDenied(f"Object storage refused access to {what} ({code or status})") from exc
        if code in _REFUSED_NAME_CODES:
            raise InvalidParameter(f"Object storage refuses the name {what}: {code}") from exc
        if code in _UNAVAILABLE_CODES or status >= 500:
            log.warning("object storage error on %s: %s %s", what, status, code)
            raise StorageUnavailable(f"Object storage answered {status} {code} for {what}") from exc
        # Any other 4xx is a request we should not have made: a bug, not worth retrying.
        raise InternalError(f"Object storage rejected the request for {what}: {status} {code}") from exc
    except NoCredentialsError as exc:
        raise StorageAccessDenied(f"No object storage credentials are configured (accessing {what})") from exc
    except (TimeoutError, BotoConnectionError, HTTPClientError) as exc:
        # Connection refused/reset, DNS failure, connect/read timeouts: only after botocore's own retries.
        log.warning("object storage unreachable for %s: %s", what, exc)
        raise StorageUnavailable(f"Object storage is unreachable ({what}): {exc}") from exc
    except BotoCoreError as exc:
        raise InternalError(f"Object storage client error for {what}: {exc}") from exc
