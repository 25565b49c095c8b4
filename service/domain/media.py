"""Media assets and what a probe learns about a file. Pure values: no I/O.

An asset is ICE's MediaInfo: basic info the caller gives (title, tags, …) and the file's info a probe
fills in (`Probe`). The probe's figures are kept in their natural units here (bytes, milliseconds, bits
per second, fractions); the API renders them in the SDK's string shapes (`api/actions/media_views.py`).
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from service.domain.models import JobStatus
from service.domain.urls import is_http_url, parse_media_url


class MediaStatus(StrEnum):
    """ICE's MediaBasicInfo.Status, as far as a registered file goes (ICE's Preparing is for uploads)."""

    #: registered; its probe has not finished
    INIT = "Init"
    #: probed: its file info is known
    NORMAL = "Normal"
    #: the probe failed; Code/Message say why
    PREPARE_FAIL = "PrepareFail"


class MediaType(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    IMAGE = "image"


#: ICE's "file formats" mapping, for the extensions whose containers this service reads (README "Inputs")
_TYPE_OF_EXTENSION = {
    **dict.fromkeys(
        (
            "mp4",
            "mov",
            "m4v",
            "3gp",
            "mkv",
            "webm",
            "ts",
            "m2ts",
            "mpg",
            "mpeg",
            "vob",
            "flv",
            "avi",
            "wmv",
            "ogv",
            "ivf",
        ),
        MediaType.VIDEO,
    ),
    **dict.fromkeys(("m4a", "oga", "ogg", "opus", "mka", "wma"), MediaType.AUDIO),
    **dict.fromkeys(("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"), MediaType.IMAGE),
}

#: what the probe job of a RegisterMediaInfo says it was started by (ICE lists API, WorkFlow, Console)
REGISTER_TRIGGER = "RegisterMediaInfo"


def type_of(url: str) -> MediaType:
    """The media type an InputURL's extension implies (ICE infers it so); video when it says nothing."""
    path = urlsplit(url).path if is_http_url(url) else url
    extension = posixpath.splitext(path)[1].lower().lstrip(".")
    return _TYPE_OF_EXTENSION.get(extension, MediaType.VIDEO)


def source_of(url: str, field_name: str) -> str:
    """The one spelling of the file an InputURL names: `oss://bucket/key` for the store's objects (whatever
    the URL's form), the URL as given for another http(s) server. InvalidParameter names `field_name`."""
    if is_http_url(url):
        return url
    return parse_media_url(url, field_name).url()


def file_name_of(source: str) -> str:
    """FileBasicInfo.FileName: the last part of the object key or URL path."""
    path = urlsplit(source).path if is_http_url(source) else source.partition("://")[2]
    return posixpath.basename(path)


# --- what a probe learns ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VideoStreamInfo:
    index: int
    codec_name: str
    codec_long_name: str
    #: FourCC as text ("avc1") and as ffprobe's hex of its little-endian value ("0x31637661")
    codec_tag_string: str
    codec_tag: str
    profile: str
    level: int | None
    pix_fmt: str
    width: int
    height: int
    #: frames per second: the stream's base rate and its average
    fps: float
    avg_fps: float
    #: bits per second, when the container says
    bitrate: int | None
    duration_ms: int
    num_frames: int
    #: "num:den", ffprobe's spelling; "" when the container gives none
    sar: str
    dar: str
    #: display rotation, degrees counter-clockwise (0, 90, 180, 270)
    rotate: int
    start_ms: int
    #: "1/12800"
    timebase: str
    #: the decoder's reorder depth (ffprobe's has_b_frames): 0 without B-frames
    has_b_frames: int
    lang: str


@dataclass(frozen=True, slots=True)
class AudioStreamInfo:
    index: int
    codec_name: str
    codec_long_name: str
    codec_tag_string: str
    codec_tag: str
    profile: str
    sample_rate: int
    channels: int
    channel_layout: str
    sample_fmt: str
    bitrate: int | None
    duration_ms: int
    num_frames: int
    start_ms: int
    timebase: str
    lang: str


@dataclass(frozen=True, slots=True)
class SubtitleStreamInfo:
    index: int
    codec_name: str
    codec_long_name: str
    duration_ms: int
    start_ms: int
    timebase: str
    lang: str


@dataclass(frozen=True, slots=True)
class Probe:
    """A file as its header and index describe it (and its first keyframe, decoded to prove it decodes)."""

    #: FFmpeg's demuxer name ("mov,mp4,m4a,3gp,3g2,mj2") and long name
    format_name: str
    format_long_name: str
    size: int
    duration_ms: int
    #: bits per second of the whole file
    bitrate: int | None
    video: tuple[VideoStreamInfo, ...] = ()
    audio: tuple[AudioStreamInfo, ...] = ()
    subtitle: tuple[SubtitleStreamInfo, ...] = ()
    #: the first video stream's duration exactly as a capture measures it (`media/source.py`), so a
    #: snapshot of the asset need not measure it again; None without video
    capture_duration_ms: int | None = None
    #: bytes the probe read from an http(s)/S3 input (0 for a local file): header and index only
    bytes_read: int = 0

    @property
    def width(self) -> int:
        return self.video[0].width if self.video else 0

    @property
    def height(self) -> int:
        return self.video[0].height if self.video else 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Probe:
        return cls(
            **{
                **raw,
                "video": tuple(VideoStreamInfo(**s) for s in raw.get("video", ())),
                "audio": tuple(AudioStreamInfo(**s) for s in raw.get("audio", ())),
                "subtitle": tuple(SubtitleStreamInfo(**s) for s in raw.get("subtitle", ())),
            }
        )


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """What a pool process needs to probe one file. Small and picklable."""

    #: a local path, or an http(s) URL read with range requests
    source: str
    media_type: MediaType | None = None
    max_input_bytes: int = 0
    #: a user's URL: every connection checked against the SSRF guard with these extra networks
    ssrf_allow: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class FinishedSnapshot:
    """A finished snapshot job on an asset, as GetMediaInfo lists it (Snapshots / SpriteImages)."""

    job_id: str
    template_id: str
    type: str
    status: JobStatus
    output: str
    count: int
    #: every image or sheet object the job wrote, in order
    keys: tuple[str, ...] = field(default_factory=tuple)
    #: sprite sheets: cells per sheet
    tile_count: int = 0
