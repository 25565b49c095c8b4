"""The README stays true: every setting the code reads is documented there."""

from __future__ import annotations

from pathlib import Path

from service.config import describe

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [variable for variable, _, _ in describe() if f"`{variable}`" not in text]
    assert missing == []


def test_readme_quick_start_names_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make up" in text and "make test" in text


def test_readme_lists_every_input_demuxer() -> None:
    from service.media.source import SUPPORTED_DEMUXERS

    text = README.read_text(encoding="utf-8")
    assert [name for name in SUPPORTED_DEMUXERS if f"`{name}`" not in text] == []
