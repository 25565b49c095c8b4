"""Open a job's input once: a local file or an http(s) URL, its video stream and its decoder.

Every library failure is translated here into a service error with one string argument, because the
exception crosses the process-pool boundary by pickling.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType
from typing import BinaryIO

import av
import av.container
import av.stream
import av.video.frame
import av.video.stream

from service.errors import MediaContentBad, MediaNotFound, MediaTooLarge
from service.media.range_reader import AVIO_BUFFER_SIZE, RangeReader

#: The demuxers an input may be read with (FFmpeg names; README "Inputs" lists them). Everything that
#: opens other files or sockets by what the input says is left out on purpose: hls, dash, concat,
#: image2 (file-name patterns), sdp/rtsp/rtp (UDP sockets), tty (renders text files), and the rest.
SUPPORTED_DEMUXERS = (
    "mov",  # mp4, mov, m4v, 3gp (FFmpeg's "mov,mp4,m4a,3gp,3g2,mj2"); data references stay off
    "matroska",  # mkv, webm
    "mpegts",
    "mpeg",  # MPEG program streams (.mpg, .vob)
    "flv",
    "avi",
    "asf",  # wmv
    "ogg",
    "ivf",  # raw VP8/VP9/AV1
    "jpeg_pipe",
    "png_pipe",
    "webp_pipe",
    "bmp_pipe",
    "tiff_pipe",
    "gif",
)
#: Every open: the input is a file object we hand over, so FFmpeg needs no protocol at all; the
#: whitelist names none (no protocol is called "none"), so whatever a file points at stays closed.
OPEN_OPTIONS = {"protocol_whitelist": "none", "format_whitelist": ",".join(SUPPORTED_DEMUXERS)}
#: A capture's Matroska/WebM open: the stream-info pass cut to one packet. The track header already gives
#: the codec, the frame size and the frame rate; the full pass adds the pixel format by decoding the first
#: keyframe, often the file's largest packet (9 % of the benchmark's d.webm). With `probesize` at its
#: minimum FFmpeg stops after the first packet, so when that is audio (d.webm) no video is read to open.
#: The first frame's time comes from the cues instead (`first_pts`), the frame size is checked on every
#: decoded frame (`Source.check_frame`). The probe, which reports every stream, runs the full pass.
LIGHT_OPEN_OPTIONS = {**OPEN_OPTIONS, "probesize": "32", "fpsprobesize": "0"}
#: every Matroska/WebM file starts with its EBML header's ID
_EBML_ID = b"\x1a\x45\xdf\xa3"
#: AVIO buffer for a local file: the page cache makes small reads pointless, a call per 64 KiB is cheap
LOCAL_BUFFER_SIZE = 64 * 1024
_DURATION_TAG = re.compile(r"(\d+):([0-5]\d):(\d{1,2}(?:\.\d{1,9})?)")


def content_bad(exc: BaseException) -> MediaContentBad:
    """A readable MediaContentBad for a library error (without the scratch path FFmpeg puts in it)."""
    reason = getattr(exc, "strerror", None) or type(exc).__name__
    return MediaContentBad(f"The input media cannot be decoded: {reason}.")


@dataclass(slots=True)
class Source:
    """An open container with its chosen video stream; a context manager that closes both."""

    container: av.container.InputContainer
    stream: av.video.stream.VideoStream
    #: what FFmpeg reads from: the HTTP range reader or the open local file
    reader: RangeReader | BinaryIO
    #: pts of the first frame (times in the API are relative to it)
    start_pts: int
    time_base: Fraction
    duration_ms: int
    #: pixels a decoded frame may have (0: any), checked on every frame: the header's frame size is only
    #: a claim (a light open decodes nothing to check it), and a stream may change size at a later keyframe
    max_pixels: int = 0

    def check_frame(self, frame: av.video.frame.VideoFrame) -> None:
        check_pixels(frame.width, frame.height, self.max_pixels)

    @property
    def bytes_read(self) -> int:
        return self.reader.bytes_fetched if isinstance(self.reader, RangeReader) else 0

    def limit_readahead(self, position: int | None) -> None:
        """Over HTTP, read nothing ahead from byte `position` on (`RangeReader.limit_readahead`)."""
        if isinstance(self.reader, RangeReader):
            self.reader.limit_readahead(position)

    def pts_of(self, ms: float) -> int:
        return self.start_pts + int(ms / 1000 / self.time_base)

    def ms_of(self, pts: int) -> int:
        return round((pts - self.start_pts) * self.time_base * 1000)

    def close(self) -> None:
        self.container.close()
        self.reader.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if max_pixels and width * height > max_pixels:
        raise MediaTooLarge(f"The input video frame {width}x{height} exceeds {max_pixels} pixels.")


def _check_size(size: int, max_bytes: int) -> None:
    if size == 0:
        raise MediaContentBad("The input media file is empty.")
    if max_bytes and size > max_bytes:
        raise MediaTooLarge(f"The input media file has {size} bytes; at most {max_bytes} are accepted.")


def _open_container(
    source: str, ssrf_allow: tuple[str, ...] | None, max_bytes: int, *, every_stream: bool = False
) -> tuple[av.container.InputContainer, RangeReader | BinaryIO]:
    """Open the one object asked for as a file object: FFmpeg gets bytes, never a name it could open.
    `every_stream`: run FFmpeg's stream-info pass on Matroska too (the probe describes every stream)."""
    reader: RangeReader | BinaryIO
    buffer_size = AVIO_BUFFER_SIZE
    if source.startswith(("http://", "https://")):
        reader = RangeReader(source, ssrf_allow=ssrf_allow)
        size = reader.size
    else:
        try:
            reader = open(source, "rb")  # noqa: SIM115 - closed by Source.close or below
            size = os.fstat(reader.fileno()).st_size
            buffer_size = LOCAL_BUFFER_SIZE
        except FileNotFoundError:
            raise MediaNotFound("The input media file does not exist.") from None
        except OSError as exc:
            raise MediaNotFound(f"The input media file cannot be read: {exc.strerror}.") from None
    try:
        _check_size(size, max_bytes)
        options = OPEN_OPTIONS if every_stream or not _is_matroska(reader) else LIGHT_OPEN_OPTIONS
        return av.open(reader, mode="r", buffer_size=buffer_size, container_options=options), reader
    except av.FFmpegError as exc:
        reader.close()
        raise content_bad(exc) from None
    except BaseException:
        reader.close()
        raise


def _is_matroska(reader: RangeReader | BinaryIO) -> bool:
    head = reader.read(len(_EBML_ID))
    reader.seek(0)
    return head == _EBML_ID


def _opened_light(container: av.container.InputContainer) -> bool:
    return container.container_options.get("probesize") == LIGHT_OPEN_OPTIONS["probesize"]


def first_pts(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """pts of the first frame, which the API's times are relative to. Matroska/WebM: its first keyframe,
    from the cues (read by a seek; a light open may have read no video packet), or in a file without cues
    (written live) by reading up to it; a track starts on a keyframe (frames before one cannot be decoded)."""
    if container.format.name.startswith("matroska"):
        with contextlib.suppress(av.FFmpegError):
            container.seek(0, backward=True, any_frame=False, stream=stream)
        if len(stream.index_entries):
            return stream.index_entries[0].timestamp
    return stream.start_time if stream.start_time is not None else 0


def _duration_ms(container: av.container.InputContainer, stream: av.video.stream.VideoStream, start: int) -> int:
    tb = stream.time_base or Fraction(1, 1)
    # (without the stream-info pass, FFmpeg copies the segment's length, start offset included, to the
    # stream; the track's end time below is the measure)
    if stream.duration and not _opened_light(container):
        # mp4/mov: from the track header, already relative to the first frame
        return round(stream.duration * tb * 1000)
    end_s = _track_end_tag(stream)
    if end_s is not None:
        # Matroska/WebM from FFmpeg (and mkvmerge): the track's end time, filled in when the file is
        # finalized, so an unfinished recording has none and is measured below. Like an mp4 whose moov
        # comes first, a finished file cut short keeps it; its missing targets are dropped as unreadable.
        return max(round((end_s - start * tb) * 1000), 0)
    # Matroska/WebM/TS: container.duration is the segment length in some demuxers and the span since the
    # first timestamp in others, so measure instead: seek to the last keyframe and read to the end (one
    # GOP of packets). A truncated file thereby reports its readable length.
    end = _probe_end(container, stream, start)
    if end is not None:
        return max(round((end - start) * tb * 1000), 0)
    return round((container.duration or 0) / av.time_base * 1000)


def _track_end_tag(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The track's `DURATION` tag ("HH:MM:SS.fffffffff", the end time of its last frame) in seconds."""
    match = _DURATION_TAG.fullmatch(stream.metadata.get("DURATION", "").strip())
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return Fraction(int(hours) * 3600 + int(minutes) * 60) + Fraction(seconds)


def _probe_end(container: av.container.InputContainer, stream: av.video.stream.VideoStream, start: int) -> int | None:
    """pts just after the last video packet, or None when the end cannot be read."""
    tb = stream.time_base or Fraction(1, 1)
    far = start + int(((container.duration or 0) / av.time_base + 1) / tb)
    end: int | None = None
    try:
        try:
            container.seek(far, backward=True, any_frame=False, stream=stream)
        except av.FFmpegError:
            # no index to seek by (a Matroska file written live has no cues): the packets from the start
            # are the only measure, so read them all, once; a media asset's probe records it for later jobs
            container.seek(0)
        for packet in container.demux(stream):
            if packet.pts is not None and packet.size:
                stop = packet.pts + (packet.duration or 0)
                end = stop if end is None else max(end, stop)
    except (av.FFmpegError, EOFError):
        pass
    return end


def open_container(
    source: str, *, ssrf_allow: tuple[str, ...] | None = None, max_bytes: int = 0, every_stream: bool = False
) -> tuple[av.container.InputContainer, RangeReader | BinaryIO]:
    """The input opened exactly as `open_source` opens it (the one object, no protocol, the supported
    demuxers) without choosing a stream: for the probe (`every_stream`, as it describes them all) and the
    shard planner. Caller closes both."""
    return _open_container(source, ssrf_allow, max_bytes, every_stream=every_stream)


def capture_duration_ms(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, start: int | None = None
) -> int:
    """A video stream's duration as `open_source` measures it: what a probe records for later captures.
    `start`: the stream's `first_pts`, when the caller has it already (a Matroska file's costs a seek)."""
    return _duration_ms(container, stream, first_pts(container, stream) if start is None else start)


def open_source(
    source: str,
    *,
    threads: int = 1,
    max_pixels: int = 0,
    max_bytes: int = 0,
    max_duration_ms: int = 0,
    ssrf_allow: tuple[str, ...] | None = None,
    known_duration_ms: int | None = None,
) -> Source:
    """Open `source`, pick its first video stream and configure the decoder (limits: 0 = none).

    `known_duration_ms`: the duration a probe of this file measured (`capture_duration_ms`); given, the
    measurement is skipped, which for Matroska/WebM/TS saves a seek to the end and a GOP of reads."""
    container, reader = _open_container(source, ssrf_allow, max_bytes)
    try:
        if not container.streams.video:
            raise MediaContentBad("The input media has no video stream.")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or not ctx.codec.is_decoder:
            raise MediaContentBad("The input media uses an unsupported video codec.")
        if not ctx.width or not ctx.height:
            raise MediaContentBad("The input media has no decodable video (unknown frame size).")
        check_pixels(ctx.width, ctx.height, max_pixels)
        # 0 = FFmpeg picks the count; FRAME threading adds output delay, which the keyframe-packet
        # technique drains with decode(None) anyway, so AUTO is safe and faster on multi-core.
        ctx.thread_count = threads
        ctx.thread_type = "AUTO" if threads != 1 else "SLICE"
        # discard the other streams at demux level so their packets never reach us
        for other in container.streams:
            if other.index != stream.index:
                other.discard = av.stream.Discard.all
        start = first_pts(container, stream)
        tb = stream.time_base or Fraction(1, 1)
        duration_ms = known_duration_ms if known_duration_ms is not None else _duration_ms(container, stream, start)
        if max_duration_ms and duration_ms > max_duration_ms:
            raise MediaTooLarge(
                f"The input video lasts {duration_ms / 1000:g} s; at most {max_duration_ms / 1000:g} s are accepted."
            )
        return Source(container, stream, reader, start, tb, duration_ms, max_pixels)
    except BaseException:
        container.close()
        reader.close()
        raise
