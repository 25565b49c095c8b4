"""Expiring, HMAC-signed URLs for objects of the local backend, which has no presigned URLs of its own.

A URL looks like `{base}/files/{bucket}/{key}?Expires=<unix seconds>&Signature=<hex>`, where the
signature is `HMAC-SHA256(server key, "{bucket}\\n{key}\\n{Expires}")` in lower-case hex. The signed
string is unambiguous: bucket names and keys never contain a newline (`domain/urls.py` refuses control
characters), so no two (bucket, key, expires) triples share one.

Pages (the preview page of a job, `api/files/preview.py`) are signed the same way over
`"\n{path}\n{Expires}"`: its empty first line is a bucket no object has, so a page's signature is never an
object's, nor the other way round.

`Expires` is signed exactly as it travels: only plain decimal digits without a leading zero are
accepted, so one signature cannot be replayed under several spellings of the same time.

Pure: no I/O, no clock (callers pass `now`), no randomness (callers pass the key).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, urlencode

#: the path prefix of the file-serving route (`api/files/serve.py`)
FILES_PREFIX = "/files/"
EXPIRES_PARAM = "Expires"
SIGNATURE_PARAM = "Signature"
#: a canonical unix time: digits only, no sign, no leading zero (a 0 expiry is long past anyway)
_EXPIRES_RE = re.compile(r"[1-9][0-9]{0,11}")
#: characters of a key left unescaped in the URL path: the separators and RFC 3986 unreserved marks
_PATH_SAFE = "/-._~"


class Verdict(StrEnum):
    VALID = "valid"
    #: the signature does not match (tampered bucket, key or expiry, or another server's key)
    BAD_SIGNATURE = "bad_signature"
    #: the signature matches but its time has passed
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class UrlSigner:
    """Signs and verifies local object URLs with one server key.

    `base_url` is where clients reach the API (scheme, host, optional path prefix); empty means each
    caller supplies the request's own origin.
    """

    key: bytes
    base_url: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("the URL signing key must not be empty")

    def signature(self, bucket: str, key: str, expires: int) -> str:
        return self._sign(bucket, key, str(expires))

    def url(self, bucket: str, key: str, expires: int, *, origin: str = "") -> str:
        """The signed URL of (bucket, key) valid until the unix time `expires`.

        The configured `base_url` wins over `origin` (the request's own scheme and host), because behind
        a proxy or ingress the request's host is not what clients outside can reach.
        """
        base = (self.base_url or origin).rstrip("/")
        # Keys may hold spaces, '?', '#', '%' and non-ASCII text: escape all but the '/' separators.
        path = FILES_PREFIX + quote(bucket, safe="") + "/" + quote(key, safe=_PATH_SAFE)
        query = urlencode({EXPIRES_PARAM: str(expires), SIGNATURE_PARAM: self.signature(bucket, key, expires)})
        return f"{base}{path}?{query}"

    def page_url(self, path: str, expires: int, *, origin: str = "") -> str:
        """The signed URL of one of the API's pages (`path` as it is routed, already escaped)."""
        base = (self.base_url or origin).rstrip("/")
        query = urlencode({EXPIRES_PARAM: str(expires), SIGNATURE_PARAM: self._sign("", path, str(expires))})
        return f"{base}{path}?{query}"

    def verify_page(self, path: str, expires: str, signature: str, now: float) -> Verdict:
        return self.verify("", path, expires, signature, now)

    def verify(self, bucket: str, key: str, expires: str, signature: str, now: float) -> Verdict:
        """Check a URL's decoded parts. The signature is checked first, in constant time, so a
        tampered expiry reports BAD_SIGNATURE, and EXPIRED means an authentic URL that ran out."""
        if not _EXPIRES_RE.fullmatch(expires):
            return Verdict.BAD_SIGNATURE
        expected = self._sign(bucket, key, expires).encode("ascii")
        # compare_digest on str refuses non-ASCII text; bytes compare anything in constant time.
        if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass")):
            return Verdict.BAD_SIGNATURE
        if int(expires) < now:
            return Verdict.EXPIRED
        return Verdict.VALID

    def _sign(self, bucket: str, key: str, expires: str) -> str:
        # surrogatepass: a decoded URL path may carry lone surrogates; they must not crash the check.
        message = f"{bucket}\n{key}\n{expires}".encode("utf-8", "surrogatepass")
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()
