"""Probe a file: its container and every stream, from the header and index, run in the capture pool.

The input is opened as a capture opens it (`source.open_container`: the one object, no protocol, the
supported demuxers), so probing a URL can reach nothing a snapshot could not. What is read: the header
(FFmpeg's stream-info pass reads the first packets with it), the index, and for streams that state no
duration the packets a capture reads to measure it (the last GOP; every packet of a Matroska file written
live, which has no cues to seek by). One frame is
decoded, the first keyframe: PyAV exposes the display rotation only on frames, and a file whose video
does not decode is one no snapshot can be made of, so the probe says so instead of the first job.

Library errors become service errors with one string argument here, inside the child process.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import av
import av.audio.stream
import av.container
import av.stream
import av.video.stream

from service.domain.media import AudioStreamInfo, MediaType, Probe, ProbeSpec, SubtitleStreamInfo, VideoStreamInfo
from service.errors import MediaContentBad, ServiceError
from service.media.compose import rotation_of
from service.media.keyframes import next_keyframe
from service.media.range_reader import RangeReader
from service.media.source import capture_duration_ms, content_bad, open_container

#: a keyframe is looked for among this many packets of the first video stream, then the probe gives up


def probe(spec: ProbeSpec) -> Probe:
    """Describe `spec.source`; raises only service errors (picklable)."""
    failure: ServiceError | None = None
    try:
        container, reader = open_container(
            spec.source, ssrf_allow=spec.ssrf_allow, max_bytes=spec.max_input_bytes, every_stream=True
        )
        try:
            result = _describe(container, spec.media_type, _size(reader))
            fetched = reader.bytes_fetched if isinstance(reader, RangeReader) else 0
        finally:
            container.close()
            reader.close()
    except (av.FFmpegError, EOFError) as exc:
        failure = content_bad(exc)
    except MemoryError:
        failure = MediaContentBad("The input media needs more memory to decode than a capture process has.")
    if failure is not None:
        failure.__traceback__ = None
        raise failure
    return Probe(**{**result, "bytes_read": fetched})


def _size(reader: Any) -> int:
    if isinstance(reader, RangeReader):
        return reader.size
    reader.seek(0, 2)
    size = int(reader.tell())
    reader.seek(0)
    return size


def _describe(container: av.container.InputContainer, media_type: MediaType | None, size: int) -> dict[str, Any]:
    videos = list(container.streams.video)
    audios = list(container.streams.audio)
    if media_type in (MediaType.VIDEO, MediaType.IMAGE) and not videos:
        raise MediaContentBad(f"The input media has no video stream, so it is no {media_type.value}.")
    if media_type is MediaType.AUDIO and not audios:
        raise MediaContentBad("The input media has no audio stream, so it is no audio.")
    if not videos and not audios:
        raise MediaContentBad("The input media has neither a video nor an audio stream.")
    rotation = _first_keyframe_rotation(container, videos[0]) if videos else 0
    # measured last: for a container without stream durations it seeks to the end
    capture_ms = capture_duration_ms(container, videos[0]) if videos else None
    video = tuple(
        _video(stream, rotation, capture_ms) if n == 0 else _video(stream, 0, None) for n, stream in enumerate(videos)
    )
    audio = tuple(_audio(stream) for stream in audios)
    subtitle = tuple(_subtitle(stream) for stream in container.streams.subtitles)
    container_ms = round((container.duration or 0) / av.time_base * 1000)
    streams_ms = [s.duration_ms for s in video] + [s.duration_ms for s in audio]
    duration_ms = max([container_ms, capture_ms or 0, *streams_ms])
    bitrate = container.bit_rate or (round(size * 8000 / duration_ms) if duration_ms else None)
    return {
        "format_name": container.format.name,
        "format_long_name": container.format.long_name,
        "size": size,
        "duration_ms": duration_ms,
        "bitrate": bitrate or None,
        "video": video,
        "audio": audio,
        "subtitle": subtitle,
        "capture_duration_ms": capture_ms,
    }


def _first_keyframe_rotation(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """Decode the first keyframe: its display rotation (counter-clockwise), and proof that the video decodes."""
    ctx = stream.codec_context
    if ctx is None or not ctx.codec.is_decoder:
        raise MediaContentBad("The input media uses an unsupported video codec.")
    others = [s for s in container.streams if s.index != stream.index]
    for other in others:
        other.discard = av.stream.Discard.all
    try:
        packet = next_keyframe(container, stream)
        frames = (ctx.decode(packet) + ctx.decode(None)) if packet is not None else []
        if frames:
            return rotation_of(frames[0])
    finally:
        ctx.flush_buffers()
        for other in others:
            other.discard = av.stream.Discard.default
    raise MediaContentBad("The input video has no decodable keyframe.")


def _video(stream: av.video.stream.VideoStream, rotation_ccw: int, measured_ms: int | None) -> VideoStreamInfo:
    """`measured_ms`: the first stream's duration as a capture measures it, for containers that state none."""
    ctx = stream.codec_context
    width, height = ctx.width, ctx.height
    sar = stream.sample_aspect_ratio or Fraction(1, 1)
    dar = stream.display_aspect_ratio or (Fraction(width * sar.numerator, height * sar.denominator) if height else None)
    tag_string, tag = _tag(ctx.codec_tag)
    avg = stream.average_rate or stream.guessed_rate or 0
    duration_ms = _ms(stream.duration, stream) or measured_ms or 0
    return VideoStreamInfo(
        index=stream.index,
        codec_name=ctx.name,
        codec_long_name=ctx.codec.long_name,
        codec_tag_string=tag_string,
        codec_tag=tag,
        profile=stream.profile or "",
        level=ctx.level if ctx.level and ctx.level > 0 else None,
        pix_fmt=ctx.pix_fmt or "",
        width=width,
        height=height,
        fps=float(stream.base_rate or avg),
        avg_fps=float(avg),
        bitrate=stream.bit_rate or None,
        duration_ms=duration_ms,
        # what the container counts; when it counts nothing (Matroska, TS), what duration and rate imply
        num_frames=stream.frames or (round(duration_ms * float(avg) / 1000) if avg else 0),
        sar=f"{sar.numerator}:{sar.denominator}",
        dar=f"{dar.numerator}:{dar.denominator}" if dar else "",
        rotate=rotation_ccw,
        start_ms=_ms(stream.start_time, stream),
        timebase=_fraction(stream.time_base),
        has_b_frames=max(int(getattr(ctx, "reorder_depth", 0) or 0), 0),
        lang=stream.language or "",
    )


def _audio(stream: av.audio.stream.AudioStream) -> AudioStreamInfo:
    ctx = stream.codec_context
    tag_string, tag = _tag(ctx.codec_tag)
    return AudioStreamInfo(
        index=stream.index,
        codec_name=ctx.name,
        codec_long_name=ctx.codec.long_name,
        codec_tag_string=tag_string,
        codec_tag=tag,
        profile=stream.profile or "",
        sample_rate=ctx.sample_rate,
        channels=ctx.channels,
        channel_layout=ctx.layout.name,
        sample_fmt=ctx.format.name if ctx.format else "",
        bitrate=stream.bit_rate or None,
        duration_ms=_ms(stream.duration, stream),
        num_frames=stream.frames,
        start_ms=_ms(stream.start_time, stream),
        timebase=_fraction(stream.time_base),
        lang=stream.language or "",
    )


def _subtitle(stream: av.stream.Stream) -> SubtitleStreamInfo:
    ctx = stream.codec_context
    return SubtitleStreamInfo(
        index=stream.index,
        codec_name=ctx.name if ctx is not None else "",
        codec_long_name=ctx.codec.long_name if ctx is not None else "",
        duration_ms=_ms(stream.duration, stream),
        start_ms=_ms(stream.start_time, stream),
        timebase=_fraction(stream.time_base),
        lang=stream.language or "",
    )


def _ms(value: int | None, stream: av.stream.Stream) -> int:
    if not value or stream.time_base is None:
        return 0
    return round(value * stream.time_base * 1000)


def _fraction(value: Fraction | None) -> str:
    return f"{value.numerator}/{value.denominator}" if value else ""


def _tag(tag: str) -> tuple[str, str]:
    """A FourCC as ffprobe prints it: the text (unprintable bytes as `[n]`) and its little-endian hex."""
    raw = tag.encode("latin-1", errors="replace")[:4].ljust(4, b"\0")
    text = "".join(chr(b) if 32 <= b < 127 else f"[{b}]" for b in raw)
    value = int.from_bytes(raw, "little")
    return text, f"0x{value:0{max(4, math.ceil(value.bit_length() / 4))}x}"
