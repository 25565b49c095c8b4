"""Media URLs → object references. Pure: no I/O, no DNS.

Three spellings name an object in the configured store:

- `oss://bucket/key` and `s3://bucket/key`: the key is taken verbatim (no percent-decoding, and `?`/`#`
  are part of the key), because that is how ICE and the OSS console print them;
- `http(s)://bucket.oss-<region>[-internal].aliyuncs.com/key`: a browser-style URL, so the path is
  percent-decoded and any query (e.g. an OSS signature) is ignored: we read with our own credentials.

Every other `http(s)://` URL is not ours to map: `is_http_url` says so and the caller reads it with
range requests (behind the SSRF guard). Keys are checked strictly so that a key can be a file path
under the local backend's root without any way out of it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from service.domain.models import ObjectRef
from service.errors import InvalidParameter

#: S3 and OSS both cap object keys at 1024 bytes of UTF-8
MAX_KEY_BYTES = 1024
#: a key segment is a file name under the local backend: NAME_MAX of Linux file systems
MAX_SEGMENT_BYTES = 255

#: S3 bucket naming rules (OSS's are a subset): 3-63 chars of [a-z0-9.-], starting and ending alphanumeric
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: OSS public and intranet endpoints, e.g. `oss-cn-hangzhou.aliyuncs.com`, `oss-cn-hangzhou-internal...`
_OSS_HOST_RE = re.compile(r"(?P<bucket>[^/]+)\.oss-[a-z0-9-]+\.aliyuncs\.com")
#: C0 controls and DEL: never valid in a key (they break logs, headers and file names)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

_OBJECT_SCHEMES = ("oss", "s3")
_HTTP_SCHEMES = ("http", "https")


def parse_media_url(url: str, field: str) -> ObjectRef:
    """Map an `oss://`, `s3://` or OSS-hosted https URL to (bucket, key); InvalidParameter names `field`."""
    if _CONTROL_RE.search(url):
        raise InvalidParameter.named(field, "The URL contains control characters.")
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise InvalidParameter.named(field, "Expected an oss://, s3:// or http(s):// URL.")
    if scheme in _OBJECT_SCHEMES:
        # Split by hand rather than with urlsplit: `?` and `#` are ordinary key characters here.
        bucket, _, key = rest.partition("/")
        return object_ref(bucket, key, field)
    if scheme in _HTTP_SCHEMES:
        oss_bucket = _oss_bucket_of(url)
        if oss_bucket is None:
            raise InvalidParameter.named(field, "Only OSS-hosted http(s) URLs name an object in the store.")
        parts = urlsplit(url)
        if parts.username is not None or parts.password is not None:
            raise InvalidParameter.named(field, "The URL must not carry credentials.")
        try:
            key = unquote(parts.path.removeprefix("/"), errors="strict")
        except UnicodeDecodeError:
            raise InvalidParameter.named(field, "The URL path is not valid percent-encoded UTF-8.") from None
        return object_ref(oss_bucket, key, field)
    raise InvalidParameter.named(field, f"Unsupported URL scheme {scheme!r}.")


def is_http_url(url: str) -> bool:
    """True for an http(s) URL that is *not* an OSS object URL: it is read over HTTP, not from the store."""
    if _CONTROL_RE.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    if parts.scheme.lower() not in _HTTP_SCHEMES or not parts.hostname:
        return False
    return _oss_bucket_of(url) is None


def check_http_url(url: str, field: str) -> None:
    """An http(s) URL we would fetch: a host and, when given, a port that is a number in 1..65535."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidParameter.named(field, "The URL's port must be a number between 1 and 65535.") from None
    if not parts.hostname:
        raise InvalidParameter.named(field, "The URL has no host.")
    if port == 0:
        raise InvalidParameter.named(field, "The URL's port must be a number between 1 and 65535.")


def object_ref(bucket: str, key: str, field: str) -> ObjectRef:
    """Build an ObjectRef after checking bucket and key; InvalidParameter names `field`."""
    why = bucket_problem(bucket) or key_problem(key)
    if why:
        raise InvalidParameter.named(field, why)
    return ObjectRef(bucket, key)


def bucket_problem(bucket: str) -> str | None:
    """Why `bucket` is not a valid bucket name, or None."""
    if not bucket:
        return "The bucket name is missing."
    if not _BUCKET_RE.fullmatch(bucket):
        return "The bucket name must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending alphanumeric."
    return None


def key_problem(key: str) -> str | None:
    """Why `key` is not a valid object key, or None. Storage backends re-use this check."""
    if not key:
        return "The object key is missing."
    if key.endswith("/"):
        return "The object key must not end with '/'."
    if _CONTROL_RE.search(key):
        return "The object key contains control characters."
    if len(key.encode("utf-8", errors="surrogatepass")) > MAX_KEY_BYTES:
        return f"The object key is longer than {MAX_KEY_BYTES} bytes."
    for segment in key.split("/"):
        if not segment:
            return "The object key has an empty path segment."
        if len(segment.encode("utf-8", errors="surrogatepass")) > MAX_SEGMENT_BYTES:
            return f"Each part of the object key between '/' must be at most {MAX_SEGMENT_BYTES} bytes."
        # '.' and '..' mean something to every path normaliser between us and the store; refuse both.
        if segment in (".", ".."):
            return "The object key must not contain '.' or '..' segments."
    return None


def _oss_bucket_of(url: str) -> str | None:
    """The bucket of an OSS-hosted http(s) URL, or None when the host is not an OSS bucket endpoint."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = parts.hostname  # lower-cased, without userinfo and port
    if parts.scheme.lower() not in _HTTP_SCHEMES or host is None:
        return None
    match = _OSS_HOST_RE.fullmatch(host)
    return match["bucket"] if match else None
