"""Alibaba Cloud request signatures: V3 (ACS3-HMAC-SHA256 and ACS3-HMAC-SM3) and RPC v1 HMAC-SHA1.

Pure functions over a `SignedRequest`, so they are tested against the SDK's captured test vectors
without a server. The one V3 canonicalisation serves both sides: `verify_v3` (the API) and `sign_v3`
(the tests' and benchmarks' clients), so they cannot drift apart. Rules (the SDK's own code, mirrored):

- The query is decoded with form semantics (`+` is a space) and re-encoded RFC 3986 style
  (`quote(v, safe="~")`); the raw query text is never signed as received.
- V3 signs the request path as sent (`/` for ICE actions, the resource path for REST), every header
  named in `SignedHeaders` (host, user-agent and accept included), values trimmed; the body is bound
  only through `x-acs-content-sha256`, which we recompute with the algorithm's hash (SM3 for SM3).
- RPC v1 signs every query parameter (and form-body parameter) except `Signature`, with the key
  `secret + "&"`; it does not cover the path, which is why the action it names must be the route's.
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
V3_SM3_ALGORITHM = "ACS3-HMAC-SM3"
#: V3 algorithm → hashlib name of its digest (OpenSSL provides SM3; hashlib.new("sm3") uses it)
V3_DIGESTS = {V3_ALGORITHM: "sha256", V3_SM3_ALGORITHM: "sm3"}
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


def payload_hash(body: bytes, algorithm: str = V3_ALGORITHM) -> str:
    """The `x-acs-content-sha256` value: the body's hex digest under the algorithm's hash."""
    return hashlib.new(V3_DIGESTS[algorithm], body).hexdigest()


def v3_string_to_sign(
    algorithm: str,
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    body_hash: str,
) -> str:
    """The V3 string to sign; `headers` are looked up by lower-case name."""
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in sorted(signed_headers))
    canonical_request = "\n".join(
        [method.upper(), path or "/", canonical_query(query), canonical_headers, ";".join(signed_headers), body_hash]
    )
    digest = hashlib.new(V3_DIGESTS[algorithm], canonical_request.encode()).hexdigest()
    return f"{algorithm}\n{digest}"


def _v3_signature(algorithm: str, secret: str, string_to_sign: str) -> str:
    return hmac.new(secret.encode(), string_to_sign.encode(), V3_DIGESTS[algorithm]).hexdigest()


def sign_v3(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    access_key_id: str,
    secret: str,
    algorithm: str = V3_ALGORITHM,
) -> dict[str, str]:
    """Sign like the SDK: return `headers` plus `x-acs-content-sha256` and `Authorization`.

    Every header given is signed; pass at least those of REQUIRED_SIGNED_HEADERS but the hash.
    """
    signed = {name.lower(): value for name, value in headers.items()}
    signed["x-acs-content-sha256"] = payload_hash(body, algorithm)
    names = sorted(signed)
    to_sign = v3_string_to_sign(algorithm, method, path, query, signed, names, signed["x-acs-content-sha256"])
    authorization = (
        f"{algorithm} Credential={access_key_id},SignedHeaders={';'.join(names)},"
        f"Signature={_v3_signature(algorithm, secret, to_sign)}"
    )
    return {**signed, "Authorization": authorization}


def verify_v3(request: SignedRequest, secret_for: SecretLookup) -> Verified:
    """Check a V3 (ACS3-HMAC-SHA256 or -SM3) request over its real path; return who signed it."""
    algorithm, access_key_id, signed_headers, signature = parse_authorization(request.headers["authorization"])
    if algorithm not in V3_DIGESTS:
        raise AuthError(f"Signature algorithm {algorithm!r} is not supported; use {' or '.join(V3_DIGESTS)}.")
    missing = REQUIRED_SIGNED_HEADERS - set(signed_headers)
    if missing:
        raise AuthError(f"SignedHeaders must include {', '.join(sorted(missing))}.")
    secret = secret_for(access_key_id)
    if secret is None:
        raise AccessKeyNotFound(f"Specified access key is not found: {access_key_id}")
    body_hash = payload_hash(request.body, algorithm)
    if not hmac.compare_digest(body_hash, request.headers.get("x-acs-content-sha256", "")):
        raise SignatureMismatch(
            "The x-acs-content-sha256 header does not match the request body: the body was altered."
        )
    string_to_sign = v3_string_to_sign(
        algorithm, request.method, request.path, request.query, request.headers, signed_headers, body_hash
    )
    if not hmac.compare_digest(_v3_signature(algorithm, secret, string_to_sign), signature.lower()):
        raise SignatureMismatch.with_string_to_sign(string_to_sign)
    return Verified(
        access_key_id,
        request.headers["x-acs-date"],
        request.headers["x-acs-signature-nonce"],
        request.headers["x-acs-action"],
    )


def rpc_v1_string_to_sign(method: str, params: Sequence[tuple[str, str]]) -> str:
    signed = canonical_query([(k, v) for k, v in params if k != "Signature"])
    return f"{method.upper()}&{rfc3986('/')}&{rfc3986(signed)}"


def sign_rpc_v1(method: str, params: Sequence[tuple[str, str]], secret: str) -> str:
    """The RPC v1 `Signature` of every parameter given (all but `Signature` itself)."""
    string_to_sign = rpc_v1_string_to_sign(method, params)
    return base64.b64encode(hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()).decode()


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
    if not hmac.compare_digest(sign_rpc_v1(request.method, params, secret), values["Signature"]):
        raise SignatureMismatch.with_string_to_sign(rpc_v1_string_to_sign(request.method, params))
    return Verified(values["AccessKeyId"], values["Timestamp"], values["SignatureNonce"], values.get("Action"))
