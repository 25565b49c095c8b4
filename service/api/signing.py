"""Verification of Alibaba Cloud request signatures: ACS3-HMAC-SHA256 (V3) and RPC v1 HMAC-SHA1.

Pure functions over a `SignedRequest`, so they are tested against the SDK's captured test vectors
without a server. Rules (the SDK's own signing code, mirrored):

- The query is decoded with form semantics (`+` is a space) and re-encoded RFC 3986 style
  (`quote(v, safe="~")`); the raw query text is never signed as received.
- V3 signs every header named in `SignedHeaders` (host, user-agent and accept included), values
  trimmed; the body is bound only through `x-acs-content-sha256`, which we recompute.
- RPC v1 signs every query parameter (and form-body parameter) except `Signature`, with the key
  `secret + "&"`.
Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from service.errors import AccessKeyNotFound, AuthError, SignatureMismatch

V3_ALGORITHM = "ACS3-HMAC-SHA256"
#: headers a V3 signature must cover for the request to be bound to its action, time and body
REQUIRED_SIGNED_HEADERS = frozenset(
    {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"}
)


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    #: decoded query parameters in arrival order
    query: Sequence[tuple[str, str]]
    #: header name (lower case) → value
    headers: Mapping[str, str]
    body: bytes
    #: decoded form-body parameters (RPC v1 signs them); empty for other bodies
    form: Sequence[tuple[str, str]] = ()
    #: the request path as sent: "/" for ICE actions, the resource path for REST
    path: str = "/"


@dataclass(frozen=True, slots=True)
class Verified:
    access_key_id: str
    #: when the client says it signed the request (x-acs-date or Timestamp), as sent
    timestamp: str
    nonce: str
    #: the action the signature covers
    action: str | None


SecretLookup = Callable[[str], str | None]


def rfc3986(value: str) -> str:
    return quote(value, safe="~")


def canonical_query(pairs: Sequence[tuple[str, str]]) -> str:
    return "&".join(f"{rfc3986(k)}={rfc3986(v)}" for k, v in sorted(pairs))


def parse_authorization(header: str) -> tuple[str, str, list[str], str]:
    """`ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=a;b,Signature=hex` → (algorithm, ak, headers, sig)."""
    algorithm, _, rest = header.strip().partition(" ")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key] = value
    try:
        return algorithm, fields["Credential"], fields["SignedHeaders"].split(";"), fields["Signature"]
    except KeyError as missing:
        raise AuthError(f"The Authorization header lacks {missing.args[0]}.") from None


def verify_v3(request: SignedRequest, secret_for: SecretLookup) -> Verified:
    """Check an ACS3-HMAC-SHA256 request; return who signed it."""
    algorithm, access_key_id, signed_headers, signature = parse_authorization(request.headers["authorization"])
    if algorithm != V3_ALGORITHM:
        raise AuthError(f"Signature algorithm {algorithm!r} is not supported; use {V3_ALGORITHM}.")
    missing = REQUIRED_SIGNED_HEADERS - set(signed_headers)
    if missing:
        raise AuthError(f"SignedHeaders must include {', '.join(sorted(missing))}.")
    secret = secret_for(access_key_id)
    if secret is None:
        raise AccessKeyNotFound(f"Specified access key is not found: {access_key_id}")
    body_hash = hashlib.sha256(request.body).hexdigest()
    if not hmac.compare_digest(body_hash, request.headers.get("x-acs-content-sha256", "")):
        raise SignatureMismatch(
            "The x-acs-content-sha256 header does not match the request body: the body was altered."
        )
    canonical_headers = "".join(f"{name}:{request.headers.get(name, '').strip()}\n" for name in sorted(signed_headers))
    canonical_request = "\n".join(
        [
            request.method.upper(),
            "/",
            canonical_query(request.query),
            canonical_headers,
            ";".join(signed_headers),
            body_hash,
        ]
    )
    string_to_sign = f"{V3_ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    expected = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureMismatch.with_string_to_sign(string_to_sign)
    return Verified(
        access_key_id,
        request.headers["x-acs-date"],
        request.headers["x-acs-signature-nonce"],
        request.headers.get("x-acs-action"),
    )


def verify_rpc_v1(request: SignedRequest, secret_for: SecretLookup) -> Verified:
    """Check an RPC v1 (HMAC-SHA1, `Signature` in the query) request; return who signed it."""
    params = [*request.query, *request.form]
    values = dict(params)
    for required in ("AccessKeyId", "Signature", "Timestamp", "SignatureNonce"):
        if not values.get(required):
            raise AuthError(f'The signed request lacks the "{required}" parameter.')
    if values.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1":
        raise AuthError(f"SignatureMethod {values['SignatureMethod']!r} is not supported; use HMAC-SHA1.")
    secret = secret_for(values["AccessKeyId"])
    if secret is None:
        raise AccessKeyNotFound(f"Specified access key is not found: {values['AccessKeyId']}")
    signed = canonical_query([(k, v) for k, v in params if k != "Signature"])
    string_to_sign = f"{request.method.upper()}&{rfc3986('/')}&{rfc3986(signed)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    expected = base64.b64encode(digest).decode()
    if not hmac.compare_digest(expected, values["Signature"]):
        raise SignatureMismatch.with_string_to_sign(string_to_sign)
    return Verified(values["AccessKeyId"], values["Timestamp"], values["SignatureNonce"], values.get("Action"))
