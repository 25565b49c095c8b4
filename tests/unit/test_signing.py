"""Signature verification against requests the official SDK produced, and tampered copies of them."""

from __future__ import annotations

import calendar
import json
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from service.api.auth.authenticator import parse_signing_time
from service.api.auth.signing import SignedRequest, sign_v3, verify_rpc_v1, verify_v3
from service.errors import AccessKeyNotFound, AuthError, SignatureMismatch, TimestampExpired

#: requests captured from the official Python SDK (6.20.2), signed with the fake key below
VECTORS = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-signature-testvectors.jsonl"
ACCESS_KEY_ID = "LTAI5tFAKEACCESSKEYID"
SECRET = "fakeSecret/with+special=chars~"


def secrets(key: str) -> str | None:
    return SECRET if key == ACCESS_KEY_ID else None


def load(seq: int) -> SignedRequest:
    for line in VECTORS.read_text().splitlines():
        capture = json.loads(line)
        if capture["seq"] == seq:
            headers = {name.lower(): value for name, value in capture["headers"]}
            body = capture["body"].encode()
            form = (
                parse_qsl(capture["body"], keep_blank_values=True)
                if "form-urlencoded" in headers.get("content-type", "")
                else []
            )
            return SignedRequest(
                method=capture["method"],
                query=parse_qsl(capture["raw_query"], keep_blank_values=True),
                headers=headers,
                body=body,
                form=form,
            )
    raise LookupError(seq)


@pytest.mark.parametrize("seq", [2, 14])
def test_v3_vectors_verify(seq: int) -> None:
    verified = verify_v3(load(seq), secrets)

    assert verified.access_key_id == ACCESS_KEY_ID
    assert verified.timestamp == "2026-11-24T14:33:26Z"


def test_rpc_v1_vector_verifies() -> None:
    verified = verify_rpc_v1(load(22), secrets)

    assert (verified.access_key_id, verified.action) == (ACCESS_KEY_ID, "GetSnapshotJob")


def with_header(request: SignedRequest, name: str, value: str) -> SignedRequest:
    return replace(request, headers={**request.headers, name: value})


V3_TAMPERS = {
    "query value": lambda r: replace(r, query=[("JobId", "job-0002")]),
    "added query": lambda r: replace(r, query=[*r.query, ("PageSize", "5")]),
    "action header": lambda r: with_header(r, "x-acs-action", "DeleteCustomTemplate"),
    "host": lambda r: with_header(r, "host", "evil.example:80"),
    "method": lambda r: replace(r, method="GET"),
    "body": lambda r: replace(r, body=b"JobId=x"),
    "body and its hash": lambda r: with_header(
        replace(r, body=b"x"),
        "x-acs-content-sha256",
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881",
    ),
}


@pytest.mark.parametrize("tamper", V3_TAMPERS.values(), ids=V3_TAMPERS.keys())
def test_v3_tampering_fails(tamper) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignatureMismatch) as caught:
        verify_v3(tamper(load(2)), secrets)

    assert caught.value.code == "SignatureDoesNotMatch"
    assert ":" in caught.value.message  # the old core SDK splits on it


def test_v3_unsigned_header_may_change() -> None:
    verified = verify_v3(with_header(load(2), "accept-encoding", "gzip"), secrets)

    assert (verified.access_key_id, verified.action) == (ACCESS_KEY_ID, "GetSnapshotJob")


def test_v3_signs_the_path() -> None:
    """The captured request was signed for `/`: the same bytes at a REST path do not verify."""
    with pytest.raises(SignatureMismatch):
        verify_v3(replace(load(2), path="/v1/snapshot-jobs/job-0001"), secrets)


def test_sign_v3_is_what_verify_v3_checks() -> None:
    captured = load(2)
    headers = {k: v for k, v in captured.headers.items() if k not in ("authorization", "x-acs-content-sha256")}
    for algorithm in ("ACS3-HMAC-SHA256", "ACS3-HMAC-SM3"):
        signed = sign_v3("POST", "/v1/x", captured.query, headers, b"{}", ACCESS_KEY_ID, SECRET, algorithm)
        request = replace(captured, headers={k.lower(): v for k, v in signed.items()}, body=b"{}", path="/v1/x")
        assert verify_v3(request, secrets).access_key_id == ACCESS_KEY_ID
        with pytest.raises(SignatureMismatch):
            verify_v3(replace(request, body=b"{ }"), secrets)


def test_the_captured_signature_is_the_one_sign_v3_makes() -> None:
    """Our signer reproduces the official SDK's signature of capture #2 exactly."""
    captured = load(2)
    names = captured.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {name: captured.headers[name] for name in names if name != "x-acs-content-sha256"}
    signed = sign_v3(captured.method, "/", captured.query, headers, captured.body, ACCESS_KEY_ID, SECRET)
    assert signed["Authorization"] == captured.headers["authorization"]


def test_v3_unknown_key() -> None:
    with pytest.raises(AccessKeyNotFound):
        verify_v3(load(2), lambda key: None)


def test_v3_wrong_secret() -> None:
    with pytest.raises(SignatureMismatch):
        verify_v3(load(2), lambda key: "other")


def test_v3_must_sign_the_action() -> None:
    request = load(2)
    authorization = request.headers["authorization"].replace("x-acs-action;", "")

    with pytest.raises(AuthError, match="x-acs-action"):
        verify_v3(with_header(request, "authorization", authorization), secrets)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: replace(r, query=[(k, "job-9" if k == "JobId" else v) for k, v in r.query]),
        lambda r: replace(r, query=[(k, "DeletePipeline" if k == "Action" else v) for k, v in r.query]),
        lambda r: replace(r, method="GET"),
    ],
    ids=["query value", "action", "method"],
)
def test_rpc_v1_tampering_fails(tamper) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignatureMismatch):
        verify_rpc_v1(tamper(load(22)), secrets)


def test_a_signing_time_is_read_in_utc() -> None:
    assert parse_signing_time("2026-12-03T09:30:05Z") == calendar.timegm((2026, 12, 3, 9, 30, 5))


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-03T09:30:05.5Z",  # ISO 8601, but not the form the signers send
        "2026-12-03T09:30:05+00:00",
        "2026-12-03 09:30:05Z",
        "2026-W49-4T09:30:05Z",  # a week date: fromisoformat alone would take it
        "2026-13-03T09:30:05Z",  # the right shape, no such month
        "",
    ],
)
def test_any_other_signing_time_is_refused_by_name(value: str) -> None:
    with pytest.raises(TimestampExpired, match="yyyy-MM-ddTHH:mm:ssZ"):
        parse_signing_time(value)
