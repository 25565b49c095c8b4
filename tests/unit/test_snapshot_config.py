"""The ICE config rules: merge, parse, validate, and the ICE JSON form round trip."""

from __future__ import annotations

from typing import Any

import pytest

from service.domain.models import FrameType, SnapshotType
from service.domain.snapshot_config import (
    check_output_naming,
    drop_unset,
    merge_overrides,
    parse_config,
    sheet_size,
    to_ice,
)
from service.errors import InvalidParameter, NotSupported


def test_defaults_follow_ice() -> None:
    config = parse_config({}, "TemplateConfig")

    assert (config.type, config.frame_type, config.time_ms, config.count) == (
        SnapshotType.NORMAL,
        FrameType.INTRA,
        0,
        1,
    )


def test_overrides_win_and_sprite_config_merges_per_key() -> None:
    template = {
        "Type": "Sprite",
        "Count": 100,
        "SpriteSnapshotConfig": {"Columns": 10, "Lines": 10, "Color": "#FF0000"},
    }
    merged = merge_overrides(template, {"Count": 4, "SpriteSnapshotConfig": {"Columns": 2}})

    assert merged == {
        "Type": "Sprite",
        "Count": 4,
        "SpriteSnapshotConfig": {"Columns": 2, "Lines": 10, "Color": "#FF0000"},
    }


def test_strings_from_dotted_keys_are_accepted() -> None:
    raw = drop_unset(
        {"Count": "5", "Interval": "0", "Width": "320", "Type": "Normal", "Height": "", "IsSptFrag": "false"}
    )
    config = parse_config(raw, "TemplateConfig")

    assert (config.count, config.interval_s, config.width, config.height) == (5, None, 320, None)


def test_round_trip_through_ice_json() -> None:
    raw: dict[str, Any] = {
        "Type": "Sprite",
        "FrameType": "normal",
        "Time": 1000,
        "Count": 8,
        "Interval": 2,
        "Width": 160,
        "SpriteSnapshotConfig": {"Columns": 4, "Lines": 2, "Padding": 2, "Margin": 3, "Color": "white"},
    }
    config = parse_config(raw, "T")

    assert parse_config(to_ice(config), "T") == config
    assert to_ice(config)["SpriteSnapshotConfig"]["Color"] == "#FFFFFF"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"Count": 0}, "T.Count"),
        ({"Count": 1.5}, "T.Count"),
        ({"Count": True}, "T.Count"),
        ({"Time": -1}, "T.Time"),
        ({"Width": 7}, "T.Width"),
        ({"Height": 4097}, "T.Height"),
        ({"PixelBlackThreshold": 256}, "T.PixelBlackThreshold"),
        ({"FrameType": "INTRA!"}, "T.FrameType"),
        ({"IsSptFrag": "maybe"}, "T.IsSptFrag"),
        ({"Type": "Sprite", "SpriteSnapshotConfig": {"Color": "not-a-colour"}}, "T.SpriteSnapshotConfig.Color"),
        ({"Type": "Sprite", "SpriteSnapshotConfig": {"Columns": 0}}, "T.SpriteSnapshotConfig.Columns"),
        ({"Type": "Sprite", "SpriteSnapshotConfig": "grid"}, "T.SpriteSnapshotConfig"),
    ],
)
def test_invalid_fields_are_named(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        parse_config(raw, "T")

    assert f'"{field}"' in caught.value.message


def test_sheet_over_16384_px_is_refused() -> None:
    raw = {"Type": "Sprite", "Width": 4096, "SpriteSnapshotConfig": {"Columns": 5, "Lines": 1}}

    with pytest.raises(InvalidParameter, match="16384"):
        parse_config(raw, "T")


def test_sheet_size_arithmetic() -> None:
    # ICE's measured example: 8 columns of 135 px, padding 4, margin 8 → 1124 px wide
    assert sheet_size(8, 5, 4, 8, (135, 240)) == (1124, 5 * 240 + 4 * 4 + 16)


def test_webvtt_refuses_sprite_config() -> None:
    with pytest.raises(NotSupported, match="SpriteSnapshotConfig"):
        parse_config({"Type": "WebVtt", "SpriteSnapshotConfig": {"Columns": 2}}, "T")


@pytest.mark.parametrize(
    ("raw", "key", "ok"),
    [
        ({"Count": 3}, "out/{Count}.jpg", True),
        ({"Count": 3}, "out/a.jpg", False),
        ({"Count": 1}, "out/a.jpg", True),
        ({"Type": "Sprite", "Count": 100}, "s.jpg", True),
        ({"Type": "Sprite", "Count": 101}, "s.jpg", False),
        ({"Type": "Sprite", "Count": 101}, "s-{TileCount}.jpg", True),
        ({"Type": "WebVtt", "Count": 5}, "v/index.vtt", True),
        ({"Type": "WebVtt", "Count": 5}, "v/index.txt", False),
    ],
)
def test_output_naming(raw: dict[str, Any], key: str, ok: bool) -> None:
    config = parse_config(raw, "T")
    if ok:
        check_output_naming(config, key, "Output.Media")
    else:
        with pytest.raises(InvalidParameter, match=r"Output\.Media"):
            check_output_naming(config, key, "Output.Media")


def test_storyboard_formats_always_hold_the_vtt_in_declared_order() -> None:
    def formats(raw: dict[str, Any]) -> tuple[str, ...]:
        return parse_config({"Type": "WebVtt", **raw}, "TemplateConfig").storyboard_formats

    assert formats({}) == ("vtt",)
    assert formats({"StoryboardFormats": []}) == ("vtt",)
    assert formats({"StoryboardFormats": ["BIF", "json", "bif"]}) == ("vtt", "json", "bif")
    # a comma-separated string too: `snapshotd run --storyboard-formats json,hls`
    assert formats({"StoryboardFormats": "hls,json"}) == ("vtt", "json", "hls")
    config = parse_config({"Type": "WebVtt", "StoryboardFormats": ["hls"], "Quality": 70}, "TemplateConfig")
    assert to_ice(config)["StoryboardFormats"] == ["vtt", "hls"] and to_ice(config)["Quality"] == 70
    assert parse_config(to_ice(config), "TemplateConfig") == config
    assert "StoryboardFormats" not in to_ice(parse_config({"Type": "WebVtt"}, "TemplateConfig"))


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"Type": "Normal", "StoryboardFormats": ["json"]}, "Only WebVtt jobs"),
        ({"Type": "WebVtt", "StoryboardFormats": ["dash"]}, "must be one of vtt, json, hls, bif"),
        ({"Type": "WebVtt", "StoryboardFormats": {"a": 1}}, "must be a list"),
        ({"Type": "WebVtt", "Time": 500, "StoryboardFormats": ["hls"]}, "hls needs Time 0"),
    ],
)
def test_storyboard_formats_refused_name_the_field(raw: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidParameter, match=says) as caught:
        parse_config(raw, "TemplateConfig.OverwriteParams")
    assert '"TemplateConfig.OverwriteParams.StoryboardFormats"' in caught.value.message


def test_quality_is_bounded() -> None:
    assert parse_config({"Quality": "100"}, "T").quality == 100
    assert parse_config({}, "T").quality is None
    for bad in (0, 101, "x"):
        with pytest.raises(InvalidParameter, match=r'"T\.Quality"'):
            parse_config({"Quality": bad}, "T")
