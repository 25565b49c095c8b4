"""The probe on generated files: every figure it reports against what made the file, the SDK's string
shapes, what it reads over HTTP (the header and index: a small part of the file), and each bad input as
a clear service error."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from service.domain.media import MediaType, ProbeSpec
from service.domain.media_info import audio_stream, file_basic_info, media_info_property, video_stream
from service.errors import MediaContentBad, MediaNotFound
from service.media.probe import probe
from tests.media_factory import codec_available, make_audio_only, make_corrupt, make_video, make_zero_byte
from tests.range_server import Stats, serve_directory


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("probe")
    make_video(root / "phone.mp4", seconds=4, fps=25, gop=25, rotation=90, audio=True)
    make_video(root / "long.mp4", seconds=30, fps=25, gop=50, noise=True, faststart=True)
    make_video(root / "clip.ts", seconds=2, fps=25)
    make_audio_only(root / "voice.mp4", seconds=2)
    make_corrupt(root / "corrupt.mp4")
    make_zero_byte(root / "empty.mp4")
    Image.new("RGB", (64, 48), (1, 2, 3)).save(root / "still.png")
    if codec_available("libvpx-vp9"):
        make_video(root / "clip.webm", codec="libvpx-vp9", seconds=3, fps=25, gop=25)
    return root


def test_a_phone_clip_is_described_stream_by_stream(files: Path) -> None:
    result = probe(ProbeSpec(str(files / "phone.mp4"), MediaType.VIDEO))
    (video,), (audio,) = result.video, result.audio

    assert (result.size, result.duration_ms, result.capture_duration_ms) == (
        (files / "phone.mp4").stat().st_size,
        4000,
        4000,
    )
    assert "mp4" in result.format_name and result.bitrate and result.bytes_read == 0
    assert (video.codec_name, video.width, video.height, video.num_frames, video.fps) == ("h264", 320, 180, 100, 25.0)
    assert (video.rotate, video.has_b_frames, video.codec_tag_string, video.codec_tag) == (90, 2, "avc1", "0x31637661")
    assert (audio.codec_name, audio.sample_rate, audio.profile, audio.codec_tag_string) == ("aac", 48000, "LC", "mp4a")

    view = video_stream(video)
    assert (view["Rotate"], view["Fps"], view["AvgFPS"], view["Duration"], view["NumFrames"]) == (
        "270",
        "25.0",
        "25.0",
        "4.000",
        "100",
    )
    assert (view["Sar"], view["Dar"], view["Level"], view["Timebase"]) == ("1:1", "16:9", "12", "1/12800")
    assert audio_stream(audio)["CodecTimeBase"] == "1/48000"
    info = file_basic_info(result, file_name="phone.mp4", file_url="oss://m/phone.mp4", region="local")
    assert (info["Width"], info["FileSize"], info["Duration"]) == ("320", str(result.size), "4.000")
    job_view = media_info_property(result, info)["VideoStreamInfoList"][0]
    assert job_view["Codec_name"] == "h264" and "CodecName" not in job_view and "Nb_frames" not in job_view


def test_containers_without_stream_durations_are_measured(files: Path) -> None:
    ts = probe(ProbeSpec(str(files / "clip.ts")))
    assert ts.format_name == "mpegts" and ts.video[0].codec_tag == "0x001b" and ts.capture_duration_ms == 2000
    if (files / "clip.webm").exists():
        webm = probe(ProbeSpec(str(files / "clip.webm")))
        assert webm.video[0].codec_name == "vp9" and webm.video[0].duration_ms == webm.capture_duration_ms == 3000
        assert webm.video[0].num_frames == 75  # Matroska counts none: duration × rate


def test_still_images_and_audio_are_their_own_types(files: Path) -> None:
    still = probe(ProbeSpec(str(files / "still.png"), MediaType.IMAGE))
    voice = probe(ProbeSpec(str(files / "voice.mp4"), MediaType.AUDIO))
    assert (still.width, still.height, still.video[0].codec_name) == (64, 48, "png")
    assert voice.video == () and voice.audio[0].codec_name == "aac" and voice.capture_duration_ms is None


@pytest.mark.parametrize(
    ("name", "media_type", "error", "words"),
    [
        ("missing.mp4", None, MediaNotFound, "does not exist"),
        ("empty.mp4", None, MediaContentBad, "empty"),
        ("corrupt.mp4", None, MediaContentBad, "cannot be decoded"),
        ("voice.mp4", MediaType.VIDEO, MediaContentBad, "no video stream"),
        ("long.mp4", MediaType.AUDIO, MediaContentBad, "no audio"),
    ],
)
def test_bad_inputs_are_clear_errors(
    files: Path, name: str, media_type: MediaType | None, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        probe(ProbeSpec(str(files / name), media_type))


def test_over_http_the_probe_reads_the_header_and_index_only(files: Path) -> None:
    stats = Stats()
    with serve_directory(files, stats) as base:
        result = probe(ProbeSpec(f"{base}/long.mp4"))
    size = (files / "long.mp4").stat().st_size
    assert result.size == size and result.duration_ms == 30_000
    assert result.bytes_read == stats.bytes_sent
    # the moov (header and index) of a faststart file, the first packets FFmpeg's stream-info pass reads
    assert result.bytes_read < size * 0.05, (result.bytes_read, size)
