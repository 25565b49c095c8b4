"""`python -m benchmarks.probe_reuse`: what a media asset's probe saves a snapshot of it.

A capture opens its input and, for a container whose streams state no duration, measures it: a finished
Matroska file names it in its track's DURATION tag, MP4 in its header; a Matroska file written live (as
recorders and browsers write it: no duration, no tags, no cues) can only be measured by reading every
packet. A snapshot job on a probed asset is handed the duration the probe measured
(`CaptureSpec.known_duration_ms`) and skips that. This times a one-keyframe capture over HTTP through the
range reader (a loopback server with Range support), with and without the known duration, on files made
with PyAV (H.264, `--seconds` long, 640x360, a keyframe every 2 s, noise so packets have real sizes): MP4,
finished Matroska and the same Matroska remuxed live; it prints median and min–max of `--runs`, and the
bytes each read.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from service.domain.media import ProbeSpec
from service.domain.models import CaptureSpec
from service.domain.snapshot_config import parse_config
from service.media.capture import capture
from service.media.probe import probe
from tests.media_factory import make_video, remux
from tests.range_server import serve_directory


def timed(spec: CaptureSpec, runs: int) -> tuple[list[float], int]:
    times, read = [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            result = capture(CaptureSpec(**{**_fields(spec), "scratch_dir": scratch}))
            times.append(time.perf_counter() - started)
            read = result.bytes_read
    return times, read


def _fields(spec: CaptureSpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}


def report(label: str, times: list[float], read: int) -> None:
    print(
        f"{label:<44} {statistics.median(times) * 1000:8.1f} ms ({min(times) * 1000:.1f}–{max(times) * 1000:.1f})"
        f"  {read:>10,} bytes read"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    config = parse_config({"Time": args.seconds * 500, "Count": 1}, "TemplateConfig")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        names = ("clip.mp4", "clip.mkv", "live.mkv")
        for name in names[:2]:
            make_video(root / name, seconds=args.seconds, fps=25, gop=50, size=(640, 360), noise=True, bframes=2)
        remux(root / "clip.mkv", root / "live.mkv", {"live": "1"})
        with serve_directory(root) as base:
            for name in names:
                url = f"{base}/{name}"
                probed = probe(ProbeSpec(url))
                spec = CaptureSpec(source=url, config=config, output_key="o.jpg", scratch_dir="")
                size = (root / name).stat().st_size
                print(f"{name}: {size:,} bytes, {args.seconds} s; the probe read {probed.bytes_read:,} bytes")
                report("  one keyframe, duration measured", *timed(spec, args.runs))
                known = CaptureSpec(**{**_fields(spec), "known_duration_ms": probed.capture_duration_ms})
                report("  one keyframe, duration from the probe", *timed(known, args.runs))


if __name__ == "__main__":
    main()
