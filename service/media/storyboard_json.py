"""`x.json`: the storyboard as a JSON document, in the shape Mux serves its `storyboard.json`.

Mux's fields, as Mux spells them: `url` (the image; here the first one), `tile_width`, `tile_height`,
`duration` (s) and `tiles` with `start` (s), `x`, `y`. A storyboard may span several sheets, so ours adds
`images` (every image, in order) and, per tile, `end` (s) and `image` (its index in `images`). Times are
seconds with millisecond precision, the same instants as the .vtt's cues. References are relative to the
.json and URL-escaped, like the .vtt's; `references`/`rewrite_references` let the API serve them signed
(`api/files/delivery.py`). `SCHEMA` is the document's JSON Schema (the tests validate against it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from service.domain.models import Artifact
from service.media.storyboard import Storyboard, relative_reference

CONTENT_TYPE = "application/json"

_SECONDS = {"type": "number", "minimum": 0}
_PIXELS = {"type": "integer", "minimum": 0}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "snapshotd storyboard",
    "type": "object",
    "required": ["url", "images", "tile_width", "tile_height", "duration", "tiles"],
    "properties": {
        "url": {"type": "string", "minLength": 1, "description": "The first image (Mux's single-image field)."},
        "images": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1},
        "tile_width": {"type": "integer", "minimum": 1},
        "tile_height": {"type": "integer", "minimum": 1},
        "duration": {**_SECONDS, "description": "Where the last tile ends, s."},
        "tiles": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["start", "end", "x", "y", "image"],
                "properties": {
                    "start": _SECONDS,
                    "end": _SECONDS,
                    "x": _PIXELS,
                    "y": _PIXELS,
                    "image": {"type": "integer", "minimum": 0, "description": "Index into images."},
                },
                "additionalProperties": False,
            },
        },
    },
}


def _seconds(ms: int) -> float:
    return ms / 1000


def document(board: Storyboard, json_key: str) -> dict[str, Any]:
    images = [relative_reference(key, json_key) for key, _ in board.images]
    index = board.image_index()
    first = board.tiles[0]
    return {
        "url": images[0],
        "images": images,
        "tile_width": first.width,
        "tile_height": first.height,
        "duration": _seconds(board.end_ms),
        "tiles": [
            {"start": _seconds(t.start_ms), "end": _seconds(t.end_ms), "x": t.x, "y": t.y, "image": index[t.key]}
            for t in board.tiles
        ],
    }


def dumps(doc: Mapping[str, Any]) -> str:
    # Compact, and UTF-8 as it is: a storyboard of 10,000 tiles stays around half a megabyte.
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def write(board: Storyboard, json_key: str, scratch: str) -> Artifact:
    path = os.path.join(scratch, "storyboard.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps(document(board, json_key)))
    return Artifact(json_key, path, CONTENT_TYPE, os.path.getsize(path))


def _parsed(text: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def references(text: str) -> list[str]:
    """The image references of a stored document (`url`, then `images`); none when it is not one of ours."""
    doc = _parsed(text)
    if doc is None:
        return []
    found = [doc.get("url"), *(doc.get("images") or [])]
    return [ref for ref in found if isinstance(ref, str)]


def rewrite_references(text: str, urls: Mapping[str, str]) -> str:
    """The document with each reference found in `urls` replaced; anything that is not a document of
    ours comes back unchanged."""
    doc = _parsed(text)
    if doc is None:
        return text
    if isinstance(doc.get("url"), str):
        doc["url"] = urls.get(doc["url"], doc["url"])
    if isinstance(doc.get("images"), list):
        doc["images"] = [urls.get(ref, ref) if isinstance(ref, str) else ref for ref in doc["images"]]
    return dumps(doc)
