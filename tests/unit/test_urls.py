"""Media URL parsing: every accepted spelling and every rejection, one row each."""

from __future__ import annotations

import pytest

from service.domain.models import ObjectRef
from service.domain.urls import MAX_SEGMENT_BYTES, is_http_url, parse_media_url
from service.errors import InvalidParameter

#: the longest key: 1024 bytes in segments no longer than a file name
LONGEST_KEY = "/".join(["k" * 255] * 3 + ["k" * 254, "k"])  # 1020 bytes + 4 slashes

VALID: list[tuple[str, ObjectRef]] = [
    ("oss://my-bucket/video.mp4", ObjectRef("my-bucket", "video.mp4")),
    ("s3://my-bucket/a/b/c.mp4", ObjectRef("my-bucket", "a/b/c.mp4")),
    ("OSS://my-bucket/video.mp4", ObjectRef("my-bucket", "video.mp4")),
    ("oss://b.with.dots/k", ObjectRef("b.with.dots", "k")),
    ("oss://abc/" + LONGEST_KEY, ObjectRef("abc", LONGEST_KEY)),
    # oss:// keys are verbatim: no percent-decoding, '?' and '#' belong to the key
    ("oss://bkt/a%20b.mp4", ObjectRef("bkt", "a%20b.mp4")),
    ("oss://bkt/q?x=1#frag", ObjectRef("bkt", "q?x=1#frag")),
    ("oss://bkt/视频/片段 1.mp4", ObjectRef("bkt", "视频/片段 1.mp4")),
    ("oss://bkt/.hidden/..name", ObjectRef("bkt", ".hidden/..name")),
    ("https://my-bucket.oss-cn-hangzhou.aliyuncs.com/in/video.mp4", ObjectRef("my-bucket", "in/video.mp4")),
    ("http://my-bucket.oss-cn-shanghai.aliyuncs.com/video.mp4", ObjectRef("my-bucket", "video.mp4")),
    (
        "https://my-bucket.oss-cn-hangzhou-internal.aliyuncs.com/video.mp4",
        ObjectRef("my-bucket", "video.mp4"),
    ),
    ("https://MY-BUCKET.OSS-CN-HANGZHOU.ALIYUNCS.COM/Video.mp4", ObjectRef("my-bucket", "Video.mp4")),
    # the https form is browser-style: percent-decoded, query (e.g. an OSS signature) ignored
    ("https://bkt.oss-cn-beijing.aliyuncs.com/a%20b/%E8%A7%86.mp4", ObjectRef("bkt", "a b/视.mp4")),
    ("https://bkt.oss-cn-beijing.aliyuncs.com/v.mp4?Expires=1&Signature=x#t", ObjectRef("bkt", "v.mp4")),
    ("https://bkt.oss-cn-beijing.aliyuncs.com:443/v+1.mp4", ObjectRef("bkt", "v+1.mp4")),
]


@pytest.mark.parametrize(("url", "expected"), VALID, ids=[u[:60] for u, _ in VALID])
def test_parse_media_url_valid(url: str, expected: ObjectRef) -> None:
    assert parse_media_url(url, "Input.Media") == expected


INVALID: list[tuple[str, str]] = [
    ("", "oss://"),
    ("video.mp4", "oss://"),
    ("/local/path.mp4", "oss://"),
    ("ftp://bkt/key", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("oss://", "bucket name is missing"),
    ("oss:///key", "bucket name is missing"),
    ("oss://bkt", "key is missing"),
    ("oss://bkt/", "key is missing"),
    ("oss://bkt/dir/", "end with '/'"),
    ("oss://bkt//key", "empty path segment"),
    ("oss://bkt/a//b", "empty path segment"),
    ("oss://bkt/../etc/passwd", "'..'"),
    ("oss://bkt/a/../b", "'..'"),
    ("oss://bkt/a/./b", "'..'"),
    ("oss://bkt/..", "'..'"),
    ("oss://bkt/a\x00b", "control"),
    ("oss://bkt/a\nb", "control"),
    ("oss://bkt/a\x7fb", "control"),
    ("oss://bkt/" + LONGEST_KEY + "k", "1024 bytes"),
    ("oss://bkt/" + "/".join(["视" * 85] * 4) + "/视视", "1024 bytes"),  # 1026 bytes of UTF-8
    ("oss://bkt/" + "k" * (MAX_SEGMENT_BYTES + 1), "255 bytes"),
    ("oss://bkt/a/" + "视" * 86 + "/b", "255 bytes"),  # 258 bytes of UTF-8 in one segment
    ("oss://ab/key", "bucket name"),
    ("oss://" + "b" * 64 + "/key", "bucket name"),
    ("oss://My-Bucket/key", "bucket name"),
    ("oss://bkt_under/key", "bucket name"),
    ("oss://-bkt/key", "bucket name"),
    ("oss://bkt-/key", "bucket name"),
    ("oss://user@bkt/key", "bucket name"),
    ("oss://bkt:80/key", "bucket name"),
    ("https://example.com/video.mp4", "OSS-hosted"),
    ("https://bkt.s3.amazonaws.com/video.mp4", "OSS-hosted"),
    ("https://oss-cn-hangzhou.aliyuncs.com/bkt/video.mp4", "OSS-hosted"),
    ("https://bkt.oss-cn-hangzhou.aliyuncs.com.evil.com/v.mp4", "OSS-hosted"),
    ("https://bkt.oss-cn-hangzhou.aliyuncs.com/", "key is missing"),
    ("https://bkt.oss-cn-hangzhou.aliyuncs.com/a/%2E%2E/b", "'..'"),
    ("https://bkt.oss-cn-hangzhou.aliyuncs.com/a%2F%2Fb", "empty path segment"),
    ("https://bkt.oss-cn-hangzhou.aliyuncs.com/a%00b", "control"),
    ("https://bkt.oss-cn-hangzhou.aliyuncs.com/a%FFb", "UTF-8"),
    ("https://u:p@bkt.oss-cn-hangzhou.aliyuncs.com/v.mp4", "credentials"),
    ("https://b_b.oss-cn-hangzhou.aliyuncs.com/v.mp4", "bucket name"),
]


@pytest.mark.parametrize(("url", "why"), INVALID, ids=[u[:60].encode("unicode_escape").decode() for u, _ in INVALID])
def test_parse_media_url_invalid(url: str, why: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_media_url(url, "Input.Media")
    assert '"Input.Media"' in info.value.message
    assert why in info.value.message


HTTP: list[tuple[str, bool]] = [
    ("https://example.com/video.mp4", True),
    ("http://10.0.0.1:8080/v.mp4?x=1", True),
    ("HTTPS://cdn.example.com/v.mp4", True),
    ("https://bkt.s3.amazonaws.com/video.mp4", True),
    # OSS-hosted URLs name an object in the store: they are not "other" http URLs
    ("https://bkt.oss-cn-hangzhou.aliyuncs.com/video.mp4", False),
    ("http://bkt.oss-cn-hangzhou-internal.aliyuncs.com/video.mp4", False),
    ("oss://bkt/video.mp4", False),
    ("s3://bkt/video.mp4", False),
    ("ftp://example.com/v.mp4", False),
    ("https:///no-host", False),
    ("https://[::1/v.mp4", False),
    ("https://example.com/a\nb", False),
    ("", False),
]


@pytest.mark.parametrize(
    ("url", "expected"), HTTP, ids=[u.encode("unicode_escape").decode() or "empty" for u, _ in HTTP]
)
def test_is_http_url(url: str, expected: bool) -> None:
    assert is_http_url(url) is expected
