"""`python -m benchmarks.image_formats`: bytes and quality of each image format at its default quality.

In one run, on frames of the make_media.sh corpus (b.mp4: 720p H.264, moving test pattern with noise; made
with ffmpeg when missing), each format the engine writes is encoded by the engine's own encoder
(`media/images.py`, the defaults of `domain/image_formats.py`):

- a 10x10 sprite sheet of 160x90 cells (100 frames, one every 0.5 s), as Sprite and WebVtt jobs write;
- single images at 1280x720 (10 frames), as Normal jobs write.

For each: bytes, PSNR (dB, over RGB) of the decoded file against the frame the engine rendered (what the
encoder was given), and encode time (median of `--runs`). PNG is lossless: its PSNR is infinite.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import av
from PIL import Image, ImageChops, ImageStat

from service.domain.image_formats import FORMATS, ImageFormat
from service.domain.models import SpriteConfig
from service.media.compose import SheetLayout, render
from service.media.images import Encoder

HERE = Path(__file__).resolve().parent
DEFAULT_MEDIA = HERE.parent / "benchmedia"
CLIP = "b.mp4"
#: the server's default JPEG quality (SNAPSHOTD_JPEG_QUALITY)
JPEG_DEFAULT = 88
GRID, CELL = 10, (160, 90)
SINGLES, SINGLE_SIZE = 10, (1280, 720)
STEP_S = 0.5


def clip(media: Path) -> Path:
    path = media / CLIP
    if not path.exists():
        env = {**os.environ, "ONLY": CLIP.split(".")[0]}
        subprocess.run(["bash", str(HERE / "make_media.sh"), str(media)], check=True, env=env)
    return path


def frames(path: Path, count: int, size: tuple[int, int]) -> list[Image.Image]:
    """`count` frames one STEP_S apart, rendered at `size` by the engine's scaler; copied (the render
    shares the decoder's buffer)."""
    out: list[Image.Image] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= len(out) * STEP_S:
                out.append(render(frame, size).copy())
                if len(out) == count:
                    break
    return out


def sheet_of(cells: list[Image.Image]) -> Image.Image:
    layout = SheetLayout.of(SpriteConfig(columns=GRID, lines=GRID), CELL)
    sheet = Image.new("RGB", layout.size, layout.color)
    for n, cell in enumerate(cells):
        sheet.paste(cell, layout.cell_origin(n))
    return sheet


def psnr(reference: Image.Image, path: str) -> float:
    with Image.open(path) as decoded:
        diff = ImageChops.difference(reference, decoded.convert("RGB"))
    stat = ImageStat.Stat(diff)
    mse = sum(stat.sum2) / (len(stat.sum2) * reference.width * reference.height)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def measure(fmt: ImageFormat, images: list[Image.Image], runs: int, scratch: str) -> tuple[float, float, float]:
    """(mean bytes, mean PSNR, median encode ms per image)."""
    encoder = Encoder.of(fmt, None, JPEG_DEFAULT)
    sizes, scores, times = [], [], []
    for n, image in enumerate(images):
        path = os.path.join(scratch, f"{n}{encoder.suffix}")
        for _ in range(runs):
            started = time.perf_counter()
            size = encoder.save(image, path)
            times.append((time.perf_counter() - started) * 1000)
        sizes.append(size)
        scores.append(psnr(image, path))
    return statistics.mean(sizes), statistics.mean(scores), statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.image_formats", description=__doc__)
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="corpus folder (default benchmedia/)")
    parser.add_argument("--runs", type=int, default=3, help="encodes of each image, for the timing")
    args = parser.parse_args(argv)
    source = clip(args.media)
    sheet = sheet_of(frames(source, GRID * GRID, CELL))
    singles = frames(source, SINGLES, SINGLE_SIZE)
    print(f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"source {source.name}; sheet {sheet.width}x{sheet.height} ({GRID}x{GRID} of {CELL[0]}x{CELL[1]})")
    print(f"single images {SINGLE_SIZE[0]}x{SINGLE_SIZE[1]} (mean of {SINGLES}); encode time: median of {args.runs}\n")
    print("| format | quality | sheet bytes | sheet PSNR dB | sheet ms | image bytes | image PSNR dB | image ms |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for fmt in FORMATS:
            quality = fmt.quality(None, JPEG_DEFAULT)
            s_bytes, s_psnr, s_ms = measure(fmt, [sheet], args.runs, scratch)
            i_bytes, i_psnr, i_ms = measure(fmt, singles, args.runs, scratch)
            print(
                f"| {fmt.name} | {quality if quality is not None else 'lossless'} | {s_bytes:,.0f} | {s_psnr:.2f} | "
                f"{s_ms:.0f} | {i_bytes:,.0f} | {i_psnr:.2f} | {i_ms:.0f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
