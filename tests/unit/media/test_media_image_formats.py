"""Image formats: the output key's extension picks the encoding, `Quality` moves the bytes, each format
has its own default, every file's bytes are what its Content-Type says, and what cannot be written is
refused at submission naming Output.Media."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, features

from service.domain.image_formats import AVIF, FORMATS, JPEG, PNG, WEBP, format_of
from service.domain.models import FrameType, SnapshotConfig, SnapshotType, SpriteConfig
from service.domain.snapshot_config import check_output_naming
from service.errors import InvalidParameter
from tests import media_factory as mf
from tests.media_factory import read_index
from tests.unit.media.conftest import Run

#: what Pillow reads each Content-Type's bytes as
PILLOW_NAMES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/avif": "AVIF"}


def test_this_pillow_writes_every_format() -> None:
    """AVIF comes with Pillow 11.3 and later (pyproject's floor): no plugin needed."""
    assert features.check("avif") and features.check("webp")


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".JPG", ".png", ".webp", ".avif"])
def test_the_extension_picks_the_encoding(run: Run, h264: Path, ext: str) -> None:
    result = run(h264, f"out/{{Count}}{ext}", frame_type=FrameType.NORMAL, count=2, interval_s=2, width=160)
    assert [a.key for a in result.artifacts] == [f"out/00001{ext}", f"out/00002{ext}"]
    for artifact, index in zip(result.artifacts, (0, 50), strict=True):
        with Image.open(artifact.path) as image:
            assert image.format == PILLOW_NAMES[artifact.content_type]
            assert artifact.content_type == format_of(artifact.key, "x").content_type
            assert read_index(image.convert("RGB")) == index
        assert artifact.bytes == Path(artifact.path).stat().st_size


@pytest.mark.parametrize("ext", [".png", ".webp", ".avif"])
def test_sprite_sheets_in_every_format(run: Run, h264: Path, ext: str) -> None:
    sprite = SpriteConfig(columns=2, lines=1)
    result = run(
        h264,
        f"s/{{TileCount}}{ext}",
        type=SnapshotType.SPRITE,
        frame_type=FrameType.NORMAL,
        count=2,
        interval_s=4,
        width=80,
        sprite=sprite,
    )
    (sheet,) = result.artifacts
    with Image.open(sheet.path) as image:
        assert image.format == PILLOW_NAMES[sheet.content_type] and image.size == (160, 44)
        assert [read_index(image.convert("RGB"), (i.x or 0, i.y or 0, 80, 44)) for i in result.images] == [0, 100]


@pytest.fixture(scope="session")
def noisy(media_dir: Path) -> Path:
    """Frames with noise in their lower band: flat blocks alone compress to nothing at any quality."""
    return mf.make_video(media_dir / "noisy.mp4", seconds=2, noise=True)


@pytest.mark.parametrize("ext", [".jpg", ".webp", ".avif"])
def test_quality_moves_the_bytes_and_defaults_sit_between(run: Run, noisy: Path, ext: str) -> None:
    def size(quality: int | None) -> int:
        result = run(noisy, f"q/x{ext}", frame_type=FrameType.NORMAL, time_ms=1000, quality=quality)
        return result.artifacts[0].bytes

    assert size(10) < size(None) < size(100)


def test_png_is_lossless_whatever_the_quality(run: Run, noisy: Path) -> None:
    sizes = {run(noisy, "p/x.png", quality=q).artifacts[0].bytes for q in (5, 95)}
    assert len(sizes) == 1


def test_per_format_defaults() -> None:
    assert [f.quality(None, 77) for f in FORMATS] == [77, None, 80, 60]
    assert [f.quality(33, 77) for f in FORMATS] == [33, None, 33, 33]
    assert (JPEG.content_type, PNG.content_type, WEBP.content_type, AVIF.content_type) == (
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/avif",
    )


def test_webvtt_images_are_jpeg_at_the_jobs_quality(run: Run, noisy: Path) -> None:
    def sheet_bytes(quality: int | None) -> int:
        result = run(
            noisy, "v/t.vtt", type=SnapshotType.WEBVTT, is_spt_frag=True, count=2, interval_s=1, quality=quality
        )
        (sheet,) = [a for a in result.artifacts if a.key.endswith(".jpg")]
        assert sheet.content_type == "image/jpeg"
        return sheet.bytes

    assert sheet_bytes(20) < sheet_bytes(None)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("out/{Count}.gif", "ends with .gif"),
        ("out/{Count}.bmp", "ends with .bmp"),
        ("out/{Count}", "has no extension"),
        ("out.d/{Count}", "has no extension"),
    ],
)
def test_an_extension_snapshotd_cannot_write_is_refused(key: str, says: str) -> None:
    config = SnapshotConfig(count=3, interval_s=1)
    with pytest.raises(InvalidParameter, match=f'"Output.Media".*{says}.*\\.jpg, \\.jpeg, \\.png, \\.webp, \\.avif'):
        check_output_naming(config, key, "Output.Media")
    sprite = SnapshotConfig(type=SnapshotType.SPRITE)
    with pytest.raises(InvalidParameter, match=r"Output\.Media"):
        check_output_naming(sprite, key.replace("{Count}", "{TileCount}"), "Output.Media")
    # WebVtt names its track, whose images are JPEG
    check_output_naming(SnapshotConfig(type=SnapshotType.WEBVTT), "t/x.vtt", "Output.Media")
