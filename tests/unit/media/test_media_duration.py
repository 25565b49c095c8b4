"""A clip's duration: from the container's own record when it has one, measured at its end otherwise."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from service.media import source
from service.media.source import open_source
from tests import media_factory as mf


def test_matroska_duration_comes_from_the_track_tag(offset_mkv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # reading the last GOP to measure the end costs bytes (over HTTP): with the tag it is not needed
    monkeypatch.setattr(source, "_probe_end", lambda *_: pytest.fail("the end was probed"))
    with open_source(str(offset_mkv)) as src:
        # the tag is the end time of the last frame (13 s): the duration counts from the first frame (3 s)
        assert src.stream.metadata["DURATION"].startswith("00:00:13.")
        assert src.duration_ms == 10_000


def test_matroska_without_the_tag_is_measured_at_its_end(offset_mkv: Path, tmp_path: Path) -> None:
    # a live recording's muxer writes no DURATION tag (nor cues): the last packets are read instead
    live = mf.remux(offset_mkv, tmp_path / "live.mkv", {"live": "1"})
    with open_source(str(live)) as src:
        assert "DURATION" not in src.stream.metadata
        assert src.duration_ms == 10_000


def test_a_malformed_tag_is_not_trusted(offset_mkv: Path, tmp_path: Path) -> None:
    odd = mf.remux(offset_mkv, tmp_path / "odd.mkv", {})
    with av.open(str(odd)) as check:
        assert "DURATION" in check.streams.video[0].metadata
    # overwrite the tag's digits in place: "00:00:13.0…" becomes "00:00:1x.0…", not a time
    data = odd.read_bytes()
    at = data.index(b"00:00:1")
    odd.write_bytes(data[: at + 7] + b"x" + data[at + 8 :])
    with open_source(str(odd)) as src:
        assert "x" in src.stream.metadata["DURATION"]
        assert src.duration_ms == 10_000
