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


def test_readme_tables_are_the_declarations() -> None:
    """Settings and snapshot fields are documented from their declarations: `python -m service.docs`."""
    from service.docs import TABLES, render

    text = README.read_text(encoding="utf-8")
    for name in TABLES:
        assert f"<!-- generated: {name} -->" in text, name
    assert render(text) == text, "README.md is behind the code: run `python -m service.docs README.md`"
