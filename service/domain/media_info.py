"""A probe in the SDK's shapes (`alibabacloud-ice20201109`): FileBasicInfo and the stream lists. Pure.

The SDK maps every figure as a string, so they are strings here, in ffprobe's units as ICE prints them:
durations and start times in seconds, bitrates in Kbit/s, frame rates as decimals, time bases and aspect
ratios as `n/d` and `n:d`, FourCCs as text and hex. Fields a probe cannot know are left out rather than
guessed (a video stream's CodecTimeBase, which depends on the codec's ticks per frame).

Two families of models describe the same streams with different key spellings: GetMediaInfo's
(`AvgFPS`, `Bitrate`, `CodecName`, `HasBFrames`, `StartTime`, `Timebase`) and the MediaInfoJob's
(`Avg_fps`, `Bit_rate`, `Codec_name`, `Has_b_frames`, `Start_time`, `Time_base`); each view below lists
exactly the keys its model reads.
"""

from __future__ import annotations

from typing import Any

from service.domain.media import AudioStreamInfo, Probe, SubtitleStreamInfo, VideoStreamInfo

#: FileBasicInfo.FileStatus / FileType of a registered file (ICE's values for an asset's source file)
FILE_STATUS = "Normal"
FILE_TYPE = "source_file"


def seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"


def kbps(bps: int | None) -> str | None:
    return f"{bps / 1000:.3f}" if bps else None


def rate(fps: float) -> str:
    return str(round(fps, 3))


def clockwise(rotation_ccw: int) -> int:
    """ICE's Rotate is the clockwise turn a player applies (the classic `rotate` tag: 90 for a phone's
    portrait clip); the probe keeps FFmpeg's counter-clockwise display-matrix angle."""
    return (360 - rotation_ccw) % 360


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def file_basic_info(probe: Probe, *, file_name: str, file_url: str, region: str) -> dict[str, Any]:
    """The keys both FileBasicInfo models share; callers add CreateTime/ModifiedTime or MediaId."""
    return _drop_none(
        {
            "FileName": file_name,
            "FileSize": str(probe.size),
            "FileStatus": FILE_STATUS,
            "FileType": FILE_TYPE,
            "FileUrl": file_url,
            "FormatName": probe.format_name,
            "Duration": seconds(probe.duration_ms),
            "Bitrate": kbps(probe.bitrate),
            "Width": str(probe.width) if probe.video else None,
            "Height": str(probe.height) if probe.video else None,
            "Region": region,
        }
    )


def video_stream(stream: VideoStreamInfo) -> dict[str, Any]:
    """GetMediaInfo's VideoStreamInfoList item."""
    frames = str(stream.num_frames)
    return _drop_none(
        {
            "Index": str(stream.index),
            "CodecName": stream.codec_name,
            "CodecLongName": stream.codec_long_name,
            "CodecTag": stream.codec_tag,
            "CodecTagString": stream.codec_tag_string,
            "Profile": stream.profile,
            "Level": str(stream.level) if stream.level is not None else None,
            "PixFmt": stream.pix_fmt,
            "Width": str(stream.width),
            "Height": str(stream.height),
            "Fps": rate(stream.fps),
            "AvgFPS": rate(stream.avg_fps),
            "Bitrate": kbps(stream.bitrate),
            "Duration": seconds(stream.duration_ms),
            "NumFrames": frames,
            # the SDK maps both spellings (ffprobe's nb_frames and ICE's NumFrames)
            "Nb_frames": frames,
            "Sar": stream.sar,
            "Dar": stream.dar,
            "Rotate": str(clockwise(stream.rotate)),
            "StartTime": seconds(stream.start_ms),
            "Timebase": stream.timebase,
            "HasBFrames": str(stream.has_b_frames),
            "Lang": stream.lang,
        }
    )


def audio_stream(stream: AudioStreamInfo) -> dict[str, Any]:
    """GetMediaInfo's AudioStreamInfoList item."""
    return _drop_none(
        {
            "Index": str(stream.index),
            "CodecName": stream.codec_name,
            "CodecLongName": stream.codec_long_name,
            "CodecTag": stream.codec_tag,
            "CodecTagString": stream.codec_tag_string,
            # an audio codec's time base is one sample
            "CodecTimeBase": f"1/{stream.sample_rate}" if stream.sample_rate else None,
            "Profile": stream.profile,
            "SampleRate": str(stream.sample_rate),
            "Channels": str(stream.channels),
            "ChannelLayout": stream.channel_layout,
            "SampleFmt": stream.sample_fmt,
            "Bitrate": kbps(stream.bitrate),
            "Duration": seconds(stream.duration_ms),
            "NumFrames": str(stream.num_frames),
            "StartTime": seconds(stream.start_ms),
            "Timebase": stream.timebase,
            "Lang": stream.lang,
        }
    )


def subtitle_stream(stream: SubtitleStreamInfo) -> dict[str, Any]:
    return {
        "Index": str(stream.index),
        "CodecName": stream.codec_name,
        "CodecLongName": stream.codec_long_name,
        "Duration": seconds(stream.duration_ms),
        "StartTime": seconds(stream.start_ms),
        "Timebase": stream.timebase,
        "Lang": stream.lang,
    }


#: GetMediaInfo's video keys → the MediaInfoJob model's (the keys not listed are spelt alike)
_JOB_VIDEO_KEYS = {
    "AvgFPS": "Avg_fps",
    "Bitrate": "Bit_rate",
    "CodecLongName": "Codec_long_name",
    "CodecName": "Codec_name",
    "CodecTag": "Codec_tag",
    "CodecTagString": "Codec_tag_string",
    "HasBFrames": "Has_b_frames",
    "StartTime": "Start_time",
    "Timebase": "Time_base",
}
#: keys the MediaInfoJob's stream models do not have
_NOT_IN_JOB_VIDEO = {"Nb_frames"}
_NOT_IN_JOB_AUDIO = {"Profile", "NumFrames"}


def media_info_property(probe: Probe, file_basic_info: dict[str, Any]) -> dict[str, Any]:
    """A MediaInfoJob's MediaInfoProperty: the file and its streams in that model's spelling."""
    return {
        "FileBasicInfo": file_basic_info,
        "VideoStreamInfoList": [
            {_JOB_VIDEO_KEYS.get(k, k): v for k, v in video_stream(s).items() if k not in _NOT_IN_JOB_VIDEO}
            for s in probe.video
        ],
        "AudioStreamInfoList": [
            {k: v for k, v in audio_stream(s).items() if k not in _NOT_IN_JOB_AUDIO} for s in probe.audio
        ],
    }
