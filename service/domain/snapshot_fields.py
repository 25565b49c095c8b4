"""The fields of an ICE snapshot `TemplateConfig` (and of its `SpriteSnapshotConfig`), declared once.

`snapshot_config.parse_config` validates with these, `api/docs/openapi.py` documents them, `snapshotd run`
offers one option per field, and the README's "Snapshot settings" table is rendered from them (a test
keeps it in step). Bounds come from ICE/MPS where they document one, else from what the engine and the
players need; each says where it comes from.
"""

from __future__ import annotations

from service.domain.fields import Field, Kind
from service.domain.models import FrameType, SnapshotType

#: MPS/VOD document [8, 4096] for Width/Height.
MIN_SIDE, MAX_SIDE = 8, 4096
#: MPS TileOut documents Columns/Lines in (0, 1000]
MAX_GRID = 1000
#: Time is ms: 2^31-1 is about 24.8 days, far past any accepted video and inside a 32-bit int
MAX_TIME_MS = 2**31 - 1
#: a day between two snapshots is more than any storyboard needs
MAX_INTERVAL_S = 86400
#: the largest Count; SNAPSHOTD_MAX_COUNT may lower it (the value read is then bounded by the setting)
MAX_COUNT = 10_000
#: the trick-play formats a WebVtt job can write beside its .vtt (`media/storyboards.py`)
STORYBOARD_CHOICES = ("vtt", "json", "hls", "bif")

TYPE = Field(
    "Type",
    Kind.CHOICE,
    "what to produce: single images, sprite sheets, or a WebVTT thumbnail track",
    SnapshotType.NORMAL.value,
    choices=tuple(t.value for t in SnapshotType),
)
FRAME_TYPE = Field(
    "FrameType",
    Kind.CHOICE,
    "intra: the keyframe at or before each time (fast); normal: the exact frame shown at each time",
    FrameType.INTRA.value,
    choices=tuple(f.value for f in FrameType),
)
TIME = Field("Time", Kind.INTEGER, "first capture time", 0, low=0, high=MAX_TIME_MS, unit="ms")
COUNT = Field("Count", Kind.INTEGER, "number of images", 1, low=1, high=MAX_COUNT)
INTERVAL = Field(
    "Interval",
    Kind.INTEGER,
    "time between images; 0 spreads Count evenly over the video",
    low=0,
    high=MAX_INTERVAL_S,
    unit="s",
)
WIDTH = Field(
    "Width",
    Kind.INTEGER,
    "output width; only one side given keeps the aspect ratio",
    low=MIN_SIDE,
    high=MAX_SIDE,
    unit="px",
)
HEIGHT = Field("Height", Kind.INTEGER, "output height", low=MIN_SIDE, high=MAX_SIDE, unit="px")
BLACK_LEVEL = Field(
    "BlackLevel",
    Kind.INTEGER,
    "skip a black first image: the share of black pixels, %, that makes it black",
    low=30,
    high=100,
)
PIXEL_BLACK_THRESHOLD = Field("PixelBlackThreshold", Kind.INTEGER, "a pixel is black below this luma", low=0, high=255)
IS_SPT_FRAG = Field("IsSptFrag", Kind.BOOLEAN, "WebVtt: cues point into sprite sheets instead of single images", False)
BLACK_FILTER_ALL = Field(
    "BlackFilterAll", Kind.BOOLEAN, "extension: the black-frame test on every image, not only the first", False
)
STORYBOARD_FORMATS = Field(
    "StoryboardFormats",
    Kind.CHOICES,
    "extension, WebVtt: the trick-play formats written beside x.vtt, from the same capture: x.json (a storyboard "
    "document), x.m3u8 (an HLS image playlist), x.bif (Roku BIF); vtt is always written",
    ("vtt",),
    choices=STORYBOARD_CHOICES,
)
#: Pillow's JPEG, WebP and AVIF qualities all run 1–100 (Pillow advises JPEG at most 95: more costs bytes for nothing)
QUALITY = Field(
    "Quality",
    Kind.INTEGER,
    "extension: image quality; default JPEG SNAPSHOTD_JPEG_QUALITY (88), WebP 80, AVIF 60; PNG is lossless",
    low=1,
    high=100,
)

#: the fields of `SpriteSnapshotConfig`
CELL_WIDTH = Field(
    "CellWidth", Kind.INTEGER, "sprite cell width; the image's when not given", low=MIN_SIDE, high=MAX_SIDE, unit="px"
)
CELL_HEIGHT = Field(
    "CellHeight", Kind.INTEGER, "sprite cell height; the image's when not given", low=MIN_SIDE, high=MAX_SIDE, unit="px"
)
PADDING = Field("Padding", Kind.INTEGER, "space between sprite cells", 0, low=0, high=MAX_SIDE, unit="px")
MARGIN = Field("Margin", Kind.INTEGER, "border around a sprite sheet", 0, low=0, high=MAX_SIDE, unit="px")
COLUMNS = Field("Columns", Kind.INTEGER, "sprite cells per row (MPS TileOut's default)", 10, low=1, high=MAX_GRID)
LINES = Field("Lines", Kind.INTEGER, "sprite rows per sheet (MPS TileOut's default)", 10, low=1, high=MAX_GRID)
COLOR = Field("Color", Kind.COLOR, "sprite sheet background", "#000000")

SNAPSHOT_FIELDS = (
    TYPE,
    FRAME_TYPE,
    TIME,
    COUNT,
    INTERVAL,
    WIDTH,
    HEIGHT,
    BLACK_LEVEL,
    PIXEL_BLACK_THRESHOLD,
    IS_SPT_FRAG,
    BLACK_FILTER_ALL,
    STORYBOARD_FORMATS,
    QUALITY,
)
SPRITE_FIELDS = (CELL_WIDTH, CELL_HEIGHT, PADDING, MARGIN, COLUMNS, LINES, COLOR)
SPRITE_OBJECT = "SpriteSnapshotConfig"
