"""ICE snapshot `TemplateConfig` JSON ⇄ `SnapshotConfig`, with every validation rule in one place.

The same rules check a template, a job's OverwriteParams merged over its template, and the options of
`snapshotd run`, so a config that passes here is one the engine can run. Errors name the field as the
caller spelt it (e.g. `TemplateConfig.OverwriteParams.Count`).

Values may arrive as JSON numbers or as strings (the legacy SDK flattens objects into dotted query
keys, where everything is a string and unset fields are sent as 0 or empty): both are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.domain import snapshot_fields as f
from service.domain.image_formats import format_of
from service.domain.models import FrameType, SnapshotConfig, SnapshotType, SpriteConfig
from service.errors import InvalidParameter, NotSupported

#: JPEG's hard limit is 65535; 16384 keeps a sheet decodable by every browser.
MAX_SHEET_SIDE = 16384
#: cells on one sheet: at most as many as a job has images (MAX_COUNT's default); more only paints empty
#: cells, and 1000 x 1000 cells is a sheet no player or memory budget wants
MAX_CELLS = 10_000


def merge_overrides(template: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Template ⊕ OverwriteParams: overrides win field by field, SpriteSnapshotConfig merged per key."""
    merged = dict(template)
    for key, value in overrides.items():
        if key == "SpriteSnapshotConfig" and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def drop_unset(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Legacy dotted-form overrides send 0/empty for fields never set: treat those as absent."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, Mapping):
            nested = drop_unset(value)
            if nested:
                out[key] = nested
        elif value not in ("", "0", 0, None):
            out[key] = value
    return out


def parse_config(raw: Mapping[str, Any], field: str, *, max_count: int = f.MAX_COUNT) -> SnapshotConfig:
    """Validate an ICE snapshot config object and build the engine's `SnapshotConfig`."""
    type_value = raw.get(f.TYPE.name)
    if isinstance(type_value, str) and type_value.lower() == "cover":
        raise NotSupported('Snapshot type "Cover" is not supported; use Normal, Sprite or WebVtt.')
    snapshot_type = SnapshotType(f.TYPE.read(raw, field))
    sprite_raw = raw.get(f.SPRITE_OBJECT)
    if snapshot_type is SnapshotType.WEBVTT and sprite_raw:
        raise NotSupported('Vtt snapshot does not support "SpriteSnapshotConfig" parameter')
    config = SnapshotConfig(
        type=snapshot_type,
        frame_type=FrameType(f.FRAME_TYPE.read(raw, field)),
        time_ms=f.TIME.read(raw, field),
        count=f.COUNT.read(raw, field, high=min(max_count, f.MAX_COUNT)),
        interval_s=f.INTERVAL.read(raw, field),
        width=f.WIDTH.read(raw, field),
        height=f.HEIGHT.read(raw, field),
        black_level=f.BLACK_LEVEL.read(raw, field),
        pixel_black_threshold=f.PIXEL_BLACK_THRESHOLD.read(raw, field),
        sprite=_parse_sprite(sprite_raw, f"{field}.{f.SPRITE_OBJECT}") if sprite_raw else None,
        is_spt_frag=f.IS_SPT_FRAG.read(raw, field),
        black_filter_all=f.BLACK_FILTER_ALL.read(raw, field),
        storyboard_formats=_storyboard_formats(
            snapshot_type, f.STORYBOARD_FORMATS.read(raw, field, declared_default=False), f"{field}.StoryboardFormats"
        ),
        quality=f.QUALITY.read(raw, field),
    )
    _check_sheet(config, field)
    _check_storyboards(config, f"{field}.StoryboardFormats")
    return config


def _storyboard_formats(snapshot_type: SnapshotType, asked: tuple[str, ...] | None, field: str) -> tuple[str, ...]:
    """WebVtt: "vtt" (the job's Output.Media, always written), then the others asked for, in declared order."""
    if snapshot_type is not SnapshotType.WEBVTT:
        if asked:
            raise InvalidParameter.named(field, "Only WebVtt jobs write storyboards.")
        return ()
    wanted = {"vtt", *(asked or ())}
    return tuple(name for name in f.STORYBOARD_CHOICES if name in wanted)


def _check_storyboards(config: SnapshotConfig, field: str) -> None:
    """What a format cannot state, refused before any work. An HLS image playlist's timeline starts at 0
    and gives one tile duration per image: a first tile later than 0 has no place in it. (Tiles spaced
    unevenly inside one sheet, which only the capture can tell, fail the job there: `media/hls.py`.)"""
    if "hls" in config.storyboard_formats and config.time_ms != 0:
        raise InvalidParameter.named(
            field, f"An HLS image playlist starts at 0, so hls needs Time 0; got Time {config.time_ms}."
        )


def to_ice(config: SnapshotConfig) -> dict[str, Any]:
    """The ICE JSON form of a config, as GetSnapshotJob returns it in `TemplateConfig`."""
    out: dict[str, Any] = {
        "Type": config.type.value,
        "FrameType": config.frame_type.value,
        "Time": config.time_ms,
        "Count": config.count,
    }
    optional = {
        "Interval": config.interval_s,
        "Width": config.width,
        "Height": config.height,
        "BlackLevel": config.black_level,
        "PixelBlackThreshold": config.pixel_black_threshold,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    if config.sprite is not None:
        s = config.sprite
        sprite: dict[str, Any] = {"Padding": s.padding, "Margin": s.margin, "Columns": s.columns, "Lines": s.lines}
        sprite["Color"] = "#{:02X}{:02X}{:02X}".format(*s.color)
        if s.cell_width is not None:
            sprite["CellWidth"] = s.cell_width
        if s.cell_height is not None:
            sprite["CellHeight"] = s.cell_height
        out["SpriteSnapshotConfig"] = sprite
    if config.is_spt_frag:
        out["IsSptFrag"] = True
    if config.black_filter_all:
        out["BlackFilterAll"] = True
    if config.storyboard_formats not in ((), ("vtt",)):
        out["StoryboardFormats"] = list(config.storyboard_formats)
    if config.quality is not None:
        out["Quality"] = config.quality
    return out


def sheet_size(columns: int, lines: int, padding: int, margin: int, cell: tuple[int, int]) -> tuple[int, int]:
    """Sprite sheet size (ICE §3.5): `Columns·CellWidth + (Columns−1)·Padding + 2·Margin` by the same
    for height. The one formula: submission checks it against the limit, the engine draws with it."""
    width = columns * cell[0] + (columns - 1) * padding + 2 * margin
    height = lines * cell[1] + (lines - 1) * padding + 2 * margin
    return width, height


def check_output_naming(config: SnapshotConfig, output_key: str, field: str) -> None:
    """Placeholders and the extension the output object needs, checked at submission rather than failing
    the job later: images are written in the encoding their extension names (`domain/image_formats.py`)."""
    if config.type is SnapshotType.NORMAL and config.count > 1 and "{Count}" not in output_key:
        raise InvalidParameter.named(field, "Several Normal snapshots need {Count} in the object name.")
    if config.type is SnapshotType.SPRITE:
        s = config.sprite or SpriteConfig()
        if config.count > s.columns * s.lines and "{TileCount}" not in output_key:
            raise InvalidParameter.named(field, "Images fill several sprite sheets: the name needs {TileCount}.")
    if config.type is SnapshotType.WEBVTT:
        if not output_key.endswith(".vtt"):
            raise InvalidParameter.named(field, "A WebVtt snapshot's output must end with .vtt.")
    else:
        format_of(output_key, field)


def _parse_sprite(raw: Any, field: str) -> SpriteConfig:
    if not isinstance(raw, Mapping):
        raise InvalidParameter.named(field, "It must be a JSON object.")
    return SpriteConfig(
        cell_width=f.CELL_WIDTH.read(raw, field),
        cell_height=f.CELL_HEIGHT.read(raw, field),
        padding=f.PADDING.read(raw, field),
        margin=f.MARGIN.read(raw, field),
        columns=f.COLUMNS.read(raw, field),
        lines=f.LINES.read(raw, field),
        color=f.COLOR.read(raw, field),
    )


def _check_sheet(config: SnapshotConfig, field: str) -> None:
    """At submission: the grid, and the sheet's size when the cell size is known already.

    Without CellWidth/CellHeight (or Width/Height) the cells take the source's size, known only once
    the engine has probed the input: it checks the sheet then (`check_sheet_size`) and fails the job."""
    if config.type is not SnapshotType.SPRITE and not config.is_spt_frag:
        return
    s = config.sprite or SpriteConfig()
    if s.columns * s.lines > MAX_CELLS:
        raise InvalidParameter.named(
            f"{field}.SpriteSnapshotConfig",
            f"Columns x Lines is {s.columns * s.lines}; at most {MAX_CELLS} cells fit on a sheet.",
        )
    # a side whose cell size is unknown yet counts as one pixel a cell here: only the known side can fail
    cell = (s.cell_width or config.width or 1, s.cell_height or config.height or 1)
    check_sheet_size(sheet_size(s.columns, s.lines, s.padding, s.margin, cell), f"{field}.SpriteSnapshotConfig")


def check_sheet_size(size: tuple[int, int], field: str) -> None:
    """Refuse a sheet wider or taller than a JPEG every browser decodes; InvalidParameter names `field`."""
    width, height = size
    if width > MAX_SHEET_SIDE or height > MAX_SHEET_SIDE:
        raise InvalidParameter.named(
            field, f"The sheet would be {width}x{height} px; at most {MAX_SHEET_SIDE} px a side is supported."
        )
