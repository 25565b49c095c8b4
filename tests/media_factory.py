"""Tiny test clips made with PyAV, whose frames say which frame they are.

Every frame carries its index as 10 bits: a 5x2 grid of 64x64 blocks in the top 128 rows of a 320x180
picture (white = 1, black = 0, mid-gray elsewhere). `read_index` reads it back from a decoded JPEG at any
scale, so a test knows exactly which frame the engine captured.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import av.video.frame
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 320, 180
BITS, COLS, BLOCK = 10, 5, 64
GRAY = (128, 128, 128)


def frame_image(
    index: int, size: tuple[int, int] = (WIDTH, HEIGHT), *, black: bool = False, noise: bool = False
) -> Image.Image:
    """Frame `index`: its bits as blocks (drawn at 320x180 geometry, scaled to `size`).

    `noise` fills the bottom band with fresh noise each frame, so inter frames cost real bytes.
    """
    image = Image.new("RGB", size, (0, 0, 0) if black else GRAY)
    if black:
        return image
    if noise:
        band = (size[0], size[1] - 2 * BLOCK * size[1] // HEIGHT)
        image.paste(Image.effect_noise(band, 64).convert("RGB"), (0, size[1] - band[1]))
    sx, sy = size[0] / WIDTH, size[1] / HEIGHT
    draw = ImageDraw.Draw(image)
    for bit in range(BITS):
        row, col = divmod(bit, COLS)
        on = (index >> bit) & 1
        x0, y0 = col * BLOCK * sx, row * BLOCK * sy
        draw.rectangle((x0, y0, x0 + BLOCK * sx - 1, y0 + BLOCK * sy - 1), fill=(255, 255, 255) if on else (0, 0, 0))
    return image


def read_index(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> int:
    """The frame index shown in `image` (or in the `box` = (x, y, w, h) part of it)."""
    x, y, w, h = box or (0, 0, image.width, image.height)
    gray = image.convert("L")
    value = 0
    for bit in range(BITS):
        row, col = divmod(bit, COLS)
        px = x + (col + 0.5) * BLOCK / WIDTH * w
        py = y + (row + 0.5) * BLOCK / HEIGHT * h
        if gray.getpixel((int(px), int(py))) > 128:
            value |= 1 << bit
    return value


def make_video(
    path: Path,
    *,
    codec: str = "libx264",
    seconds: float = 10,
    fps: int = 25,
    gop: int = 25,
    bframes: int = 2,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    start_frames: int = 0,
    black_frames: int = 0,
    rotation: int = 0,
    faststart: bool = False,
    audio: bool = False,
    noise: bool = False,
    options: dict[str, str] | None = None,
    frame_ms: Sequence[int] | None = None,
) -> Path:
    """Encode `seconds` of indexed frames; frame i is shown at (start_frames + i) / fps.

    `options` are extra encoder options (e.g. x264's `b-pyramid`); `frame_ms` gives every frame's display
    time in ms instead (variable frame rate, time base 1/1000; `seconds` and `start_frames` are ignored).
    """
    container_options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=container_options) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if frame_ms is not None:
            stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        stream.codec_context.gop_size = gop
        if codec == "libx264":
            stream.codec_context.options = {
                "bf": str(bframes),
                "keyint_min": str(gop),
                "sc_threshold": "0",
                "preset": "veryfast",
                "crf": "20",
            }
        elif codec == "libx265":
            stream.codec_context.options = {
                "x265-params": f"keyint={gop}:min-keyint={gop}:bframes={bframes}:scenecut=0:log-level=none",
                "preset": "ultrafast",
            }
        elif codec == "libvpx-vp9":
            stream.codec_context.options = {
                "deadline": "realtime",
                "cpu-used": "8",
                "g": str(gop),
                "crf": "30",
                "b": "0",
            }
        stream.codec_context.options = {**stream.codec_context.options, **(options or {})}
        if rotation:
            stream.set_display_rotation(rotation)
        audio_stream = out.add_stream("aac", rate=48000) if audio else None
        times = [(start_frames + i, Fraction(1, fps)) for i in range(round(seconds * fps))]
        if frame_ms is not None:
            times = [(ms, Fraction(1, 1000)) for ms in frame_ms]
        for i, (pts, time_base) in enumerate(times):
            frame = av.VideoFrame.from_image(frame_image(i, size, black=i < black_frames, noise=noise))
            frame.pts, frame.time_base = pts, time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if audio_stream is not None:
            _encode_tone(out, audio_stream, seconds)
    return path


def _encode_tone(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    samples = 1024
    for n in range(int(seconds * 48000 / samples)):
        frame = av.AudioFrame(format="fltp", layout="mono", samples=samples)
        frame.planes[0].update(bytes(samples * 4))
        frame.sample_rate, frame.pts = 48000, n * samples
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def make_audio_only(path: Path, seconds: float = 1) -> Path:
    with av.open(str(path), "w") as out:
        _encode_tone(out, out.add_stream("aac", rate=48000), seconds)
    return path


def make_zero_byte(path: Path) -> Path:
    path.write_bytes(b"")
    return path


def make_corrupt(path: Path, size: int = 64 * 1024) -> Path:
    path.write_bytes(random.Random(1).randbytes(size))
    return path


def make_truncated(source: Path, path: Path, fraction: float = 0.3) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def codec_available(name: str) -> bool:
    return name in av.codecs_available


def load(path: str | Path) -> Image.Image:
    """An output image read fully into memory (and its file closed: tests run with warnings as errors)."""
    with Image.open(path) as image:
        return image.convert("RGB")


def frame_pixels(frame: av.video.frame.VideoFrame) -> bytes:
    """A decoded frame's picture, plane by plane without the line padding: equal bytes, identical frames."""
    out = bytearray()
    for plane in frame.planes:
        data, stride = bytes(plane), plane.line_size
        for row in range(plane.height):
            out += data[row * stride : row * stride + plane.width]
    return bytes(out)


def remux(source: Path, target: Path, options: dict[str, str] | None = None, *, skip_packets: int = 0) -> Path:
    """`source`'s video stream copied into `target`'s container, with muxer `options` (e.g. Matroska's
    `live`: no duration, tags or cues, as a recorder writes it), less its first `skip_packets` packets."""
    with av.open(str(source)) as src, av.open(str(target), "w", options=options or {}) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for n, packet in enumerate(src.demux(src.streams.video[0])):
            if n >= skip_packets and packet.size:  # not the demuxer's empty end-of-stream packet
                packet.stream = stream
                out.mux(packet)
    return target
