"""`snapshotd run` end to end: the real CLI in a subprocess on small indexed clips (see media_factory)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests import media_factory as mf

# the single-range keep-alive server the engine's own URL tests use
from tests.range_server import Stats, serve_directory

FPS = 25
FRAME_MS = 1000 // FPS
GOP = 50


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """320x180, 25 fps, 10 s, keyframe every 2 s; frame i shows i in its pixels."""
    return mf.make_video(tmp_path_factory.mktemp("cli") / "clip.mp4", gop=GOP, bframes=2)


def snapshotd(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m service run …`: the same entry point as the `snapshotd` console script."""
    return subprocess.run(
        [sys.executable, "-m", "service", "run", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def shown(path: Path) -> int:
    return mf.read_index(mf.load(path))


def test_normal_series_writes_numbered_files_and_a_report(clip: Path, tmp_path: Path) -> None:
    done = snapshotd(
        clip,
        *("--frame-type", "normal", "--time", "1000", "--count", "4", "--interval", "2", "--width", "160"),
        *("--output", "out/{Count}.jpg", "--report", "report.json"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # not a terminal: no progress bar, nothing on stdout, one line saying what was done
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "\r" not in done.stderr
    assert done.stderr.startswith("4 image(s), 4 file(s) in out/")
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == ["00001.jpg", "00002.jpg", "00003.jpg", "00004.jpg"]
    assert [shown(f) for f in files] == [(1000 + k * 2000) // FRAME_MS for k in range(4)]
    assert all(mf.load(f).size == (160, 90) for f in files)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["Count"] == 4
    assert report["TemplateConfig"] == {
        "Type": "Normal",
        "FrameType": "normal",
        "Time": 1000,
        "Count": 4,
        "Interval": 2,
        "Width": 160,
    }
    assert [i["RequestedMs"] for i in report["Images"]] == [1000, 3000, 5000, 7000]
    assert [i["CapturedMs"] for i in report["Images"]] == [1000, 3000, 5000, 7000]
    assert [i["Path"] for i in report["Images"]] == [f"out/{f.name}" for f in files]
    assert [i["Bytes"] for i in report["Images"]] == [f.stat().st_size for f in files]
    assert report["DroppedSlots"] == []
    assert report["Stats"]["DurationMs"] == 10_000
    assert report["Stats"]["CaptureMs"] > 0
    # the scratch directory is gone
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_intra_report_on_stdout_lists_dropped_slots(clip: Path, tmp_path: Path) -> None:
    done = snapshotd(clip, "--count", "6", "--interval", "1", "-o", "o/{Count}.jpg", "--report", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # keyframes every 2 s: slots 1, 3 and 5 reuse the previous keyframe
    assert [i["CapturedMs"] for i in report["Images"]] == [0, 2000, 4000]
    assert all(i["KeyFrame"] for i in report["Images"])
    assert [(d["Index"], d["Reason"]) for d in report["DroppedSlots"]] == [
        (1, "no_keyframe"),
        (3, "no_keyframe"),
        (5, "no_keyframe"),
    ]
    assert [shown(tmp_path / "o" / f"0000{n}.jpg") for n in (1, 2, 3)] == [0, 50, 100]


def test_sprite_sheet_size_and_cells(clip: Path, tmp_path: Path) -> None:
    done = snapshotd(
        clip,
        *("--type", "Sprite", "--frame-type", "normal", "--count", "6", "--interval", "1"),
        *("--columns", "3", "--lines", "2", "--cell-width", "80", "--cell-height", "45"),
        *("--padding", "2", "--margin", "4", "--color", "#FF0000"),
        *("--output", "sheets/sprite.jpg", "--report", "r.json"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    sheet = tmp_path / "sheets" / "sprite.jpg"
    with Image.open(sheet) as image:
        assert image.size == (3 * 80 + 2 * 2 + 2 * 4, 2 * 45 + 1 * 2 + 2 * 4)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["Artifacts"] == [
        {"Key": "sprite.jpg", "Path": "sheets/sprite.jpg", "ContentType": "image/jpeg", "Bytes": sheet.stat().st_size}
    ]
    cells = [(i["X"], i["Y"], i["Width"], i["Height"]) for i in report["Images"]]
    assert cells[:4] == [(4, 4, 80, 45), (86, 4, 80, 45), (168, 4, 80, 45), (4, 51, 80, 45)]
    image = mf.load(sheet)
    assert [mf.read_index(image, c) for c in cells] == [k * 1000 // FRAME_MS for k in range(6)]


def test_template_file_with_command_line_overrides(clip: Path, tmp_path: Path) -> None:
    template = {
        "Type": "Sprite",
        "FrameType": "normal",
        "Count": 100,
        "Interval": 1,
        "SpriteSnapshotConfig": {"Columns": 2, "Lines": 2, "CellWidth": 64, "CellHeight": 36, "Color": "white"},
    }
    (tmp_path / "t.json").write_text(json.dumps(template))
    # --count overrides the template; --columns merges into its SpriteSnapshotConfig, the rest is kept
    done = snapshotd(
        clip, "--template", "t.json", "--count", "3", "--columns", "3", "-o", "s.jpg", "--report", "-", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["TemplateConfig"]["Count"] == 3
    assert report["TemplateConfig"]["SpriteSnapshotConfig"]["Columns"] == 3
    assert report["TemplateConfig"]["SpriteSnapshotConfig"]["Lines"] == 2
    assert report["TemplateConfig"]["SpriteSnapshotConfig"]["Color"] == "#FFFFFF"
    with Image.open(tmp_path / "s.jpg") as image:
        assert image.size == (3 * 64, 2 * 36)


def test_webvtt_writes_the_vtt_beside_its_image_folder(clip: Path, tmp_path: Path) -> None:
    done = snapshotd(clip, "--type", "WebVtt", "--count", "5", "--interval", "2", "-o", "v/index.vtt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    vtt = (tmp_path / "v" / "index.vtt").read_text()
    assert vtt.startswith("WEBVTT")
    images = sorted(p.name for p in (tmp_path / "v" / "index").iterdir())
    assert images == [f"snapshot-0000{n}.jpg" for n in range(1, 6)]
    assert "index/snapshot-00001.jpg" in vtt


def test_storyboard_formats_and_quality_are_options(clip: Path, tmp_path: Path) -> None:
    done = snapshotd(
        clip,
        *("--type", "WebVtt", "--is-spt-frag", "--frame-type", "normal", "--count", "5", "--interval", "2"),
        *("--storyboard-formats", "bif,hls", "--quality", "40", "-o", "v/b.vtt", "--report", "-"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["b", "b.bif", "b.m3u8", "b.vtt"]
    report = json.loads(done.stdout)
    assert (
        report["TemplateConfig"]["StoryboardFormats"] == ["vtt", "hls", "bif"]
        and report["TemplateConfig"]["Quality"] == 40
    )
    (playlist,) = [f for f in report["Artifacts"] if f["Key"] == "v/b.m3u8" or f["Key"] == "b.m3u8"]
    assert playlist["StreamInf"].startswith("#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=")
    help_text = snapshotd("--help", cwd=tmp_path).stdout
    assert "--storyboard-formats vtt,json,hls,bif" in help_text and "--quality N" in help_text


def test_an_output_it_cannot_write_exits_2(clip: Path, tmp_path: Path) -> None:
    done = snapshotd(clip, "--count", "2", "--interval", "1", "-o", "out/{Count}.gif", cwd=tmp_path)
    assert done.returncode == 2 and '"--output"' in done.stderr and ".avif" in done.stderr
    assert not (tmp_path / "out").exists()


def test_url_input_is_read_with_range_requests(clip: Path, tmp_path: Path) -> None:
    stats = Stats()
    with serve_directory(clip.parent, stats) as base:
        done = snapshotd(f"{base}/{clip.name}", "--time", "4000", "-o", "u.jpg", "--report", "-", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert shown(tmp_path / "u.jpg") == 100
    assert 0 < report["Stats"]["BytesRead"] <= clip.stat().st_size + 256 * 1024
    assert stats.requests >= 1


def test_progress_bar_when_asked(clip: Path, tmp_path: Path) -> None:
    # bytes, not text: text mode would turn the bar's carriage returns into newlines
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "service",
            "run",
            str(clip),
            *("--count", "3", "--interval", "2", "-o", "p/{Count}.jpg"),
            "--progress",
        ],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"\r[" in done.stderr
    assert b"3/3 100%" in done.stderr
    assert b"3 image(s), 3 file(s)" in done.stderr
    assert done.stdout == b""


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--count", "0"], '"--count" is not valid. It must be between 1 and 10000; got 0.'),
        (["--count", "many"], '"--count" is not valid. It must be an integer.'),
        (["--width", "4"], '"--width" is not valid.'),
        (["--type", "Mosaic"], '"--type" is not valid.'),
        (["--frame-type", "every"], '"--frame-type" is not valid.'),
        (["--type", "Sprite", "--color", "not-a-colour"], '"--color" is not valid.'),
        (["--jpeg-quality", "100"], '"--jpeg-quality" is not valid.'),
        (["--type", "Cover"], 'InvalidParameter.NotSupport: Snapshot type "Cover" is not supported'),
        # several images need {Count} in the name
        (["--count", "3"], '"--output" is not valid. Several Normal snapshots need {Count}'),
    ],
)
def test_invalid_options_exit_2_with_the_ice_message(
    clip: Path, tmp_path: Path, options: list[str], message: str
) -> None:
    done = snapshotd(clip, *options, "-o", "bad/x.jpg", cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stderr.startswith("InvalidParameter")
    # nothing was written, not even the output directory
    assert not (tmp_path / "bad").exists()


def test_invalid_template_exits_2(clip: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "bad.json").write_text(json.dumps({"Type": "Sprite", "SpriteSnapshotConfig": {"Lines": 0}}))
    broken = snapshotd(clip, "--template", "broken.json", "-o", "x.jpg", cwd=tmp_path)
    assert broken.returncode == 2
    assert "InvalidParameter.JsonFormatInvalid" in broken.stderr
    missing = snapshotd(clip, "--template", "nowhere.json", "-o", "x.jpg", cwd=tmp_path)
    assert missing.returncode == 2
    assert "cannot read the template nowhere.json" in missing.stderr
    bad = snapshotd(clip, "--template", "bad.json", "-o", "x.jpg", cwd=tmp_path)
    assert bad.returncode == 2
    assert '"TemplateConfig.SpriteSnapshotConfig.Lines" is not valid' in bad.stderr


def test_argparse_usage_errors_exit_2(tmp_path: Path) -> None:
    done = snapshotd("in.mp4", "--no-such-option", "1", "-o", "x.jpg", cwd=tmp_path)
    assert done.returncode == 2
    assert "unrecognized arguments: --no-such-option" in done.stderr
    missing_output = snapshotd("in.mp4", cwd=tmp_path)
    assert missing_output.returncode == 2
    assert "--output" in missing_output.stderr


def test_media_errors_exit_1_with_code_and_message(tmp_path: Path) -> None:
    mf.make_corrupt(tmp_path / "corrupt.mp4")
    mf.make_audio_only(tmp_path / "audio.m4a")
    cases = {
        "missing.mp4": "InvalidParameter.ResourceNotFound: The input media file does not exist.",
        "corrupt.mp4": "InvalidParameter.ResourceContentBad: ",
        "audio.m4a": "InvalidParameter.ResourceContentBad: The input media has no video stream.",
    }
    for name, message in cases.items():
        done = snapshotd(name, "-o", "out/x.jpg", cwd=tmp_path)
        assert done.returncode == 1, name
        assert done.stderr.startswith(message), done.stderr
        # no image and no scratch directory left behind
        assert not list((tmp_path / "out").iterdir())


def test_does_not_need_the_service_environment(clip: Path, tmp_path: Path) -> None:
    """`run` dispatches before settings load: an invalid service setting does not matter to it."""
    done = subprocess.run(
        [sys.executable, "-m", "service", "run", str(clip), "-o", "x.jpg"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"SNAPSHOTD_JPEG_QUALITY": "-5", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x.jpg").is_file()
