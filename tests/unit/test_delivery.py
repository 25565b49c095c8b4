"""The pure parts of delivery: which object a storyboard reference names, how a .vtt's references are
found and replaced, the CORS answers, and the bucket CORS rule that mirrors them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import unquote, urljoin

import pytest
import webvtt

from service.api.files.cors import CorsPolicy
from service.api.files.delivery import cache_control, content_type, is_manifest, referenced_key
from service.domain.models import ImageRecord
from service.media import hls, storyboard_json
from service.media.outputs import write_vtt
from service.media.storyboard import Storyboard
from service.media.webvtt import references, rewrite_references
from service.storage.s3 import cors_configuration

TRACK = (
    "WEBVTT\r\nKind: metadata\r\n\r\n"
    "NOTE made by a test\r\nit has two lines\r\n\r\n"
    "STYLE\r\n::cue { color: red }\r\n\r\n"
    "cue-1\r\n00:00:00.000 --> 00:00:01.000\r\nboard/tile-00001.jpg#xywh=0,0,160,90\r\n\r\n"
    "00:00:01.000 --> 00:00:02.000 align:start\r\nboard/tile-00001.jpg#xywh=160,0,160,90\r\n\r\n"
    "00:00:02.000 --> 00:00:03.000\r\nhttps://cdn.example/elsewhere.jpg\r\n"
)


@pytest.mark.parametrize(
    ("reference", "key"),
    [
        ("board/tile-00001.jpg", "dir/board/tile-00001.jpg"),
        ("%C3%A9%20board/tile.jpg", "dir/é board/tile.jpg"),
        ("./board/../board/tile.jpg", "dir/board/tile.jpg"),
        # nothing of this bucket, outside the .vtt's folder, or nothing to sign: left as it is
        ("../up.jpg", None),
        ("../dir2/x.jpg", None),
        ("../../out.jpg", None),
        ("https://cdn.example/x.jpg", None),
        ("//cdn.example/x.jpg", None),
        ("/root.jpg", None),
        ("tile.jpg?v=1", None),
        ("data:image/png;base64,AAAA", None),
        ("", None),
    ],
)
def test_referenced_key(reference: str, key: str | None) -> None:
    assert referenced_key("dir/track.vtt", reference) == key


@pytest.mark.parametrize(
    ("reference", "key"), [("a/b.jpg", "a/b.jpg"), ("./b.jpg", "b.jpg"), ("..", None), ("../x.jpg", None), (".", None)]
)
def test_referenced_key_at_the_bucket_root(reference: str, key: str | None) -> None:
    assert referenced_key("track.vtt", reference) == key


def test_references_are_the_cue_payloads_only() -> None:
    assert references(TRACK) == [
        "board/tile-00001.jpg",
        "board/tile-00001.jpg",
        "https://cdn.example/elsewhere.jpg",
    ]


def test_rewrite_keeps_fragments_line_endings_and_everything_else() -> None:
    signed = "https://api.example/files/b/dir/board/tile-00001.jpg?Expires=9&Signature=ab"
    out = rewrite_references(TRACK, {"board/tile-00001.jpg": signed})

    assert out == TRACK.replace("board/tile-00001.jpg#", signed + "#")
    cues = list(webvtt.from_buffer(io.StringIO(out)))
    assert [cue.text for cue in cues] == [
        signed + "#xywh=0,0,160,90",
        signed + "#xywh=160,0,160,90",
        "https://cdn.example/elsewhere.jpg",
    ]


def test_stored_references_resolve_from_a_public_base(tmp_path: Path) -> None:
    """The stored .vtt works as it is behind a public bucket or a CDN: each reference, resolved the way a
    browser resolves it against the .vtt's URL, names the sheet's key, spaces and non-ASCII text included."""
    sheet = "my story/é board/snapshot-tile-00001.jpg"
    records = [ImageRecord(i, i * 1000, i * 1000, True, sheet, 160, 90, 100, i * 160, 0) for i in range(3)]
    artifact = write_vtt("my story/é board.vtt", str(tmp_path), Storyboard.of(records, 1000, 3000, grid=(10, 10)))
    text = Path(artifact.path).read_text()
    base = "https://cdn.example/bucket/my%20story/%C3%A9%20board.vtt"

    refs = references(text)
    assert refs == ["%C3%A9%20board/snapshot-tile-00001.jpg"] * 3
    assert {unquote(urljoin(base, ref)) for ref in refs} == {f"https://cdn.example/bucket/{sheet}"}
    assert {referenced_key("my story/é board.vtt", ref) for ref in refs} == {sheet}


def test_manifests_content_types_and_cache_control() -> None:
    assert is_manifest("a/b.VTT") and not is_manifest("a/b.jpg")
    assert content_type("x.vtt") == "text/vtt; charset=utf-8"
    assert content_type("x.jpg") == "image/jpeg"
    assert content_type("x.bin") == "application/octet-stream"
    assert cache_control(1000, 400.2) == "private, max-age=599"
    assert cache_control(1000, 2000) == "private, max-age=0"


def test_any_origin_gets_a_star_without_vary() -> None:
    headers = CorsPolicy(None).headers("https://site.example")

    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Range" in headers["Access-Control-Expose-Headers"]
    assert "Vary" not in headers
    assert CorsPolicy(None).headers(None)["Access-Control-Allow-Origin"] == "*"


def test_listed_origins_are_echoed_and_others_get_only_vary() -> None:
    policy = CorsPolicy(frozenset({"https://site.example"}))

    assert policy.headers("https://site.example")["Access-Control-Allow-Origin"] == "https://site.example"
    assert policy.headers("https://site.example")["Vary"] == "Origin"
    assert policy.headers("https://evil.example") == {"Vary": "Origin"}
    assert policy.headers(None) == {"Vary": "Origin"}
    assert not policy.allows("https://evil.example") and policy.allows("https://site.example")


def test_bucket_rule_mirrors_the_apis_own() -> None:
    rule = cors_configuration(frozenset({"https://b.example", "https://a.example"}))["CORSRules"][0]

    assert rule["AllowedOrigins"] == ["https://a.example", "https://b.example"]
    assert rule["AllowedMethods"] == ["GET", "HEAD"]
    assert "Range" in rule["AllowedHeaders"] and "Content-Range" in rule["ExposeHeaders"]
    assert cors_configuration(None)["CORSRules"][0]["AllowedOrigins"] == ["*"]
    with pytest.raises(ValueError, match="empty"):
        cors_configuration(frozenset())


def test_every_storyboard_that_names_images_is_a_manifest() -> None:
    assert is_manifest("a/b.json") and is_manifest("a/b.M3U8") and not is_manifest("a/b.bif")
    assert content_type("x.json") == "application/json; charset=utf-8"
    assert content_type("x.m3u8") == "application/vnd.apple.mpegurl"
    assert content_type("x.bif") == "application/octet-stream"
    assert [content_type(f"x.{e}") for e in ("png", "webp", "avif", "JPEG")] == [
        "image/png",
        "image/webp",
        "image/avif",
        "image/jpeg",
    ]


def test_playlist_uris_are_found_and_replaced_tags_untouched() -> None:
    text = (
        "#EXTM3U\r\n#EXT-X-IMAGES-ONLY\r\n#EXTINF:10,\r\n#EXT-X-TILES:RESOLUTION=64x36,LAYOUT=10x10,DURATION=1\r\n"
        "b/s-1.jpg\r\n\r\n#EXTINF:5,\r\nhttps://cdn.example/other.jpg\r\n#EXT-X-ENDLIST\r\n"
    )
    assert hls.references(text) == ["b/s-1.jpg", "https://cdn.example/other.jpg"]
    rewritten = hls.rewrite_references(text, {"b/s-1.jpg": "https://api/files/t/b/s-1.jpg?Expires=1"})
    assert rewritten == text.replace("\r\nb/s-1.jpg\r\n", "\r\nhttps://api/files/t/b/s-1.jpg?Expires=1\r\n")


def test_json_references_and_what_is_not_a_storyboard() -> None:
    doc = '{"url":"b/1.jpg","images":["b/1.jpg","b/2.jpg"],"tiles":[{"start":0.0}]}'
    assert storyboard_json.references(doc) == ["b/1.jpg", "b/1.jpg", "b/2.jpg"]
    out = json.loads(storyboard_json.rewrite_references(doc, {"b/1.jpg": "U1", "b/2.jpg": "U2"}))
    assert (out["url"], out["images"], out["tiles"]) == ("U1", ["U1", "U2"], [{"start": 0.0}])
    for other in ("not json", "[1, 2]", '{"url": 5}'):
        assert storyboard_json.references(other) == []
        assert storyboard_json.rewrite_references(other, {"x": "y"}) in (other, '{"url":5}')
