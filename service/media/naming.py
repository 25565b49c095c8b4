"""Object keys of the engine's outputs: ICE placeholders and the WebVTT image folder."""

from __future__ import annotations

import posixpath

#: ICE/MPS expand placeholders to a 5-digit, zero-padded, 1-based index (`{Count}.jpg` → `00001.jpg`)
INDEX_WIDTH = 5
COUNT = "{Count}"
TILE_COUNT = "{TileCount}"


def _index(n: int) -> str:
    return f"{n:0{INDEX_WIDTH}d}"


def _with_suffix(key: str, n: int) -> str:
    # Submission validation requires the placeholder for multi-file outputs; if it is missing anyway we
    # number the files rather than overwrite one object N times.
    root, ext = posixpath.splitext(key)
    return f"{root}-{_index(n)}{ext}"


def expand(key: str, placeholder: str, n: int, total: int) -> str:
    """The key of file `n` (1-based) of `total` for an output key holding `placeholder`."""
    if placeholder in key:
        return key.replace(placeholder, _index(n))
    if total <= 1:
        # one file and no placeholder: the key is used as given
        return key
    return _with_suffix(key, n)


def vtt_image_key(vtt_key: str, n: int, *, sheet: bool) -> tuple[str, str]:
    """(object key, path relative to the .vtt) of image/sheet `n` of a WebVTT output.

    ICE puts them in a folder named after the vtt's base name, beside it: `dir/x.vtt` →
    `dir/x/snapshot-00001.jpg` (single images) or `dir/x/snapshot-tile-00001.jpg` (sprite sheets).
    """
    folder, name = posixpath.split(vtt_key)
    base = posixpath.splitext(name)[0]
    stem = "snapshot-tile" if sheet else "snapshot"
    rel = f"{base}/{stem}-{_index(n)}.jpg"
    return posixpath.join(folder, rel), rel


#: storyboard format → the extension of its file beside the .vtt
STORYBOARD_SUFFIXES = {"vtt": ".vtt", "json": ".json", "hls": ".m3u8", "bif": ".bif"}


def storyboard_key(vtt_key: str, storyboard_format: str) -> str:
    """The object key of a storyboard format's file: beside the .vtt, same base name (`x.vtt` → `x.m3u8`)."""
    return posixpath.splitext(vtt_key)[0] + STORYBOARD_SUFFIXES[storyboard_format]
