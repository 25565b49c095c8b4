"""Local file URLs: HMAC-SHA256 over bucket, key and expiry; any change, or time running out, fails."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from service.storage.signed_urls import UrlSigner, Verdict

KEY = b"test-signing-key"
NOW = 1_700_000_000
EXPIRES = NOW + 3600
BUCKET, OBJECT = "thumbs", "out/00001.jpg"


@pytest.fixture
def signer() -> UrlSigner:
    return UrlSigner(KEY)


def test_signature_is_hex_hmac_sha256_of_the_documented_string(signer: UrlSigner) -> None:
    expected = hmac.new(KEY, f"{BUCKET}\n{OBJECT}\n{EXPIRES}".encode(), hashlib.sha256).hexdigest()
    assert signer.signature(BUCKET, OBJECT, EXPIRES) == expected


def test_a_fresh_signature_verifies(signer: UrlSigner) -> None:
    signature = signer.signature(BUCKET, OBJECT, EXPIRES)
    assert signer.verify(BUCKET, OBJECT, str(EXPIRES), signature, NOW) is Verdict.VALID
    # valid up to and including the expiry second
    assert signer.verify(BUCKET, OBJECT, str(EXPIRES), signature, EXPIRES) is Verdict.VALID


@pytest.mark.parametrize(
    ("bucket", "key", "expires"),
    [
        ("thumbz", OBJECT, str(EXPIRES)),
        (BUCKET, "out/00002.jpg", str(EXPIRES)),
        (BUCKET, "out/00001.jpg ", str(EXPIRES)),
        (BUCKET, OBJECT, str(EXPIRES + 1)),
        # the same instant spelled differently is still a different signed string
        (BUCKET, OBJECT, f"0{EXPIRES}"),
        (BUCKET, OBJECT, f"+{EXPIRES}"),
        (BUCKET, OBJECT, ""),
        (BUCKET, OBJECT, "soon"),
        # moving a separator between the fields must not keep the signature valid
        (f"{BUCKET}\nout", "00001.jpg", str(EXPIRES)),
    ],
    ids=["bucket", "key", "key-suffix", "expires", "leading-zero", "plus-sign", "no-expires", "word", "shifted"],
)
def test_tampering_with_any_part_is_a_bad_signature(signer: UrlSigner, bucket: str, key: str, expires: str) -> None:
    signature = signer.signature(BUCKET, OBJECT, EXPIRES)
    assert signer.verify(bucket, key, expires, signature, NOW) is Verdict.BAD_SIGNATURE


@pytest.mark.parametrize(
    "signature",
    ["", "00" * 32, "not-hex", "é" * 64, "\udcff"],
    ids=["empty", "zeros", "garbage", "non-ascii", "lone-surrogate"],
)
def test_wrong_signatures_are_refused_without_raising(signer: UrlSigner, signature: str) -> None:
    assert signer.verify(BUCKET, OBJECT, str(EXPIRES), signature, NOW) is Verdict.BAD_SIGNATURE


def test_upper_case_hex_is_refused(signer: UrlSigner) -> None:
    # one canonical spelling, like Expires: the URLs we hand out are lower-case
    signature = signer.signature(BUCKET, OBJECT, EXPIRES).upper()
    assert signer.verify(BUCKET, OBJECT, str(EXPIRES), signature, NOW) is Verdict.BAD_SIGNATURE


def test_another_servers_key_is_a_bad_signature(signer: UrlSigner) -> None:
    signature = UrlSigner(b"other-key").signature(BUCKET, OBJECT, EXPIRES)
    assert signer.verify(BUCKET, OBJECT, str(EXPIRES), signature, NOW) is Verdict.BAD_SIGNATURE


def test_an_authentic_url_past_its_expiry_is_expired(signer: UrlSigner) -> None:
    signature = signer.signature(BUCKET, OBJECT, EXPIRES)
    assert signer.verify(BUCKET, OBJECT, str(EXPIRES), signature, EXPIRES + 1) is Verdict.EXPIRED


def test_a_tampered_expired_url_reports_the_signature_not_the_expiry(signer: UrlSigner) -> None:
    signature = signer.signature(BUCKET, OBJECT, NOW - 10)
    assert signer.verify(BUCKET, "other.jpg", str(NOW - 10), signature, NOW) is Verdict.BAD_SIGNATURE


def test_url_escapes_the_key_and_round_trips(signer: UrlSigner) -> None:
    key = "my out/a b?c#d%e+中.jpg"
    url = signer.url(BUCKET, key, EXPIRES, origin="http://127.0.0.1:8080")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("http", "127.0.0.1:8080")
    assert parts.path == "/files/thumbs/my%20out/a%20b%3Fc%23d%25e%2B%E4%B8%AD.jpg"
    query = parse_qs(parts.query)
    assert query["Expires"] == [str(EXPIRES)]
    bucket, _, decoded_key = unquote(parts.path).removeprefix("/files/").partition("/")
    assert (bucket, decoded_key) == (BUCKET, key)
    assert signer.verify(bucket, decoded_key, query["Expires"][0], query["Signature"][0], NOW) is Verdict.VALID


def test_configured_base_url_wins_over_the_request_origin() -> None:
    signer = UrlSigner(KEY, base_url="https://cdn.example.com/snap/")
    url = signer.url(BUCKET, OBJECT, EXPIRES, origin="http://10.0.0.7:8080")
    assert url.startswith("https://cdn.example.com/snap/files/thumbs/out/00001.jpg?Expires=")


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        UrlSigner(b"")
