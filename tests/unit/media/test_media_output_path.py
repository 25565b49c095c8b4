"""The cheaper output path draws what the old one drew: same pixels, right colours, errors still surface.

The old path: `frame.reformat(format="rgb24")` with the frame's own scaler, then `Image.frombuffer` over
the rgb24 plane. The new one keeps a scaler for the job, maps the rgb0 plane as the image when nothing is
scaled (an RGBX image: the same pixels, not copied), and runs on an output thread beside the decoder
(`overlap.py`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import av.video.frame
import pytest
from av.video.reformatter import VideoReformatter
from PIL import Image, ImageChops

from service.domain.image_formats import FORMATS, JPEG, ImageFormat, writable
from service.domain.models import FrameType, SpriteConfig
from service.errors import InternalError
from service.media.compose import render
from service.media.images import Encoder
from service.media.outputs import Shot, SpriteSheets
from service.media.overlap import Overlap
from service.media.shards import RawCells
from tests.unit.media.conftest import Run

#: colour bars: primaries, secondaries, grays and two skin-ish/mid tones
BARS = [
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (0, 255, 255),
    (255, 0, 255),
    (255, 255, 255),
    (0, 0, 0),
    (128, 128, 128),
    (200, 30, 60),
    (40, 120, 200),
    (230, 180, 140),
]
BAR = 32


def old_render(frame: av.video.frame.VideoFrame, size: tuple[int, int]) -> Image.Image:
    rgb = frame.reformat(width=size[0], height=size[1], format="rgb24")
    plane = rgb.planes[0]
    return Image.frombuffer("RGB", size, plane, "raw", "RGB", plane.line_size, 1)  # type: ignore[arg-type]


def rgb(image: Image.Image) -> bytes:
    """The image's pixels as RGB bytes, whether it is RGB or the mapped RGBX."""
    return image.tobytes("raw", "RGB")


def keyframes(path: Path, count: int = 3) -> list[av.video.frame.VideoFrame]:
    with av.open(str(path)) as container:
        frames = container.decode(container.streams.video[0])
        return [next(frames) for _ in range(count)]


@pytest.mark.parametrize("size", [(320, 180), (160, 90), (640, 360), (250, 140)])
def test_render_gives_the_old_paths_pixels(h264: Path, size: tuple[int, int]) -> None:
    scaler = VideoReformatter()
    for frame in keyframes(h264):
        old = old_render(frame, size).tobytes()
        assert rgb(render(frame, size)) == old
        # the job's scaler, reused from frame to frame
        assert rgb(render(frame, size, scaler)) == old


def test_render_turns_as_before(rotated: Path) -> None:
    frame = keyframes(rotated, 1)[0]
    image = render(frame, (180, 320), VideoReformatter())
    assert image.size == (180, 320)
    # the display matrix turns the coded picture 90° clockwise
    turned = old_render(frame, (320, 180)).transpose(Image.Transpose.ROTATE_270)
    assert rgb(image) == turned.tobytes()


def bars_frame(fmt: str, color_range: str | None) -> av.video.frame.VideoFrame:
    image = Image.new("RGB", (BAR * len(BARS), 2 * BAR))
    for n, colour in enumerate(BARS):
        image.paste(colour, (n * BAR, 0, (n + 1) * BAR, 2 * BAR))
    rgb = av.video.frame.VideoFrame.from_image(image)
    return rgb.reformat(format=fmt, dst_color_range=color_range) if color_range else rgb.reformat(format=fmt)


@pytest.mark.parametrize(
    ("fmt", "color_range"),
    [("yuv420p", None), ("yuv420p", "MPEG"), ("yuvj420p", None), ("yuv420p", "JPEG")],
    ids=["limited-untagged", "limited-tagged", "yuvj-full", "full-tagged"],
)
@pytest.mark.parametrize("scale", [1, 2])
def test_colours_come_out_right_in_either_range(fmt: str, color_range: str | None, scale: int) -> None:
    frame = bars_frame(fmt, color_range)
    size = (frame.width // scale, frame.height // scale)
    image = render(frame, size, VideoReformatter())
    for n, colour in enumerate(BARS):
        centre = ((n * BAR + BAR // 2) // scale, BAR // scale)
        got = image.convert("RGB").getpixel(centre)
        assert isinstance(got, tuple)
        # 8-bit YUV round trip: a step or two of rounding, never a range or matrix error (those are 16+)
        assert max(abs(a - b) for a, b in zip(got, colour, strict=True)) <= 4, (colour, got)


def test_a_jpeg_from_the_new_path_is_the_old_ones(h264: Path, tmp_path: Path) -> None:
    encoder = Encoder.of(JPEG, None, 88)
    frame = keyframes(h264, 1)[0]
    old, new = tmp_path / "old.jpg", tmp_path / "new.jpg"
    encoder.save(old_render(frame, (320, 180)), str(old))
    encoder.save(render(frame, (320, 180), VideoReformatter()), str(new))
    assert old.read_bytes() == new.read_bytes()


def test_an_unscaled_frame_is_the_scalers_plane_not_a_copy(h264: Path) -> None:
    frame = keyframes(h264, 1)[0]
    unscaled = render(frame, (frame.width, frame.height), VideoReformatter())
    assert (unscaled.mode, unscaled.readonly) == ("RGBX", 1)
    assert render(frame, (frame.width // 2, frame.height // 2), VideoReformatter()).mode == "RGB"


@pytest.mark.parametrize("fmt", [f for f in FORMATS if writable(f)], ids=lambda f: f.name)
def test_every_format_writes_an_unscaled_frame_as_the_old_path_did(
    h264: Path, tmp_path: Path, fmt: ImageFormat
) -> None:
    encoder = Encoder.of(fmt, None, 88)
    frame = keyframes(h264, 1)[0]
    size = (frame.width, frame.height)
    old, new = tmp_path / f"old{encoder.suffix}", tmp_path / f"new{encoder.suffix}"
    encoder.save(old_render(frame, size), str(old))
    encoder.save(render(frame, size, VideoReformatter()), str(new))
    assert old.read_bytes() == new.read_bytes()
    with Image.open(new) as written:
        assert written.mode == "RGB"


def test_a_shards_unscaled_cell_is_stored_as_rgb(h264: Path, tmp_path: Path) -> None:
    frame = keyframes(h264, 1)[0]
    size = (frame.width, frame.height)
    cells = RawCells(
        SpriteSheets(str(tmp_path), Encoder.of(JPEG, None, 88), lambda n, t: "", SpriteConfig()), str(tmp_path)
    )
    cells.add(Shot(0, 0, 0, True), render(frame, size, VideoReformatter()))
    ((_, path, stored),) = cells.cells
    assert Image.frombytes("RGB", stored, Path(path).read_bytes()).tobytes() == old_render(frame, size).tobytes()


# --- the output thread --------------------------------------------------------------------------


def test_output_tasks_run_in_order_one_at_a_time() -> None:
    seen: list[int] = []
    running = threading.Semaphore(1)

    def task(n: int) -> None:
        assert running.acquire(blocking=False), "two tasks at once"
        time.sleep(0.002)
        seen.append(n)
        running.release()

    with Overlap() as output:
        for n in range(10):
            output.submit(lambda n=n: task(n))  # type: ignore[misc]
    assert seen == list(range(10))


def test_an_output_error_surfaces_in_the_pick_loop() -> None:
    def fail() -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"), Overlap() as output:
        output.submit(fail)
        output.submit(lambda: None)


def test_a_pick_error_wins_and_waits_for_the_output_in_flight() -> None:
    done = threading.Event()

    def slow() -> None:
        time.sleep(0.05)
        done.set()
        raise OSError("after the pick failed: not the job's error")

    with pytest.raises(ValueError, match="pick"), Overlap() as output:
        output.submit(slow)
        raise ValueError("pick")
    # the scratch dir may be cleared now: nothing writes into it any more
    assert done.is_set()


def test_a_full_disk_on_the_output_thread_fails_the_job_as_before(
    run: Run, h264: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: Encoder, image: Image.Image, path: str) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Encoder, "save", full)
    with pytest.raises(InternalError, match="cannot be written: No space"):
        run(h264, count=3, interval_s=2, frame_type=FrameType.INTRA)


def test_a_capture_matches_the_old_path_image_for_image(run: Run, h264: Path, tmp_path: Path) -> None:
    result = run(h264, count=4, interval_s=2, frame_type=FrameType.INTRA)
    frames = {}
    with av.open(str(h264)) as container:
        for frame in container.decode(container.streams.video[0]):
            frames[round(frame.time * 1000)] = frame
    for record, artifact in zip(result.images, result.artifacts, strict=True):
        ours = Image.open(artifact.path).convert("RGB")
        reference = tmp_path / f"ref-{record.index}.jpg"
        old_render(frames[record.captured_ms], ours.size).save(reference, "JPEG", quality=90)
        diff = ImageChops.difference(ours, Image.open(reference).convert("RGB"))
        assert diff.getbbox() is None
