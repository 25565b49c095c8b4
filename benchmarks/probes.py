"""Measurements other than wall time: bytes read over HTTP (moto S3 on loopback), peak RSS, image diffs."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageChops, ImageStat

from service.domain.models import CaptureResult, CaptureSpec
from service.media.capture import capture

BUCKET = "bench"


@contextlib.contextmanager
def s3_urls(clips: list[Path]) -> Iterator[dict[str, str]]:
    """Upload `clips` to a moto S3 server on 127.0.0.1 and yield name → presigned GET URL."""
    import boto3
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request of the server to stderr otherwise
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        client.create_bucket(Bucket=BUCKET)
        urls = {}
        for clip in clips:
            client.upload_file(str(clip), BUCKET, clip.name)
            urls[clip.name] = client.generate_presigned_url(
                "get_object", Params={"Bucket": BUCKET, "Key": clip.name}, ExpiresIn=3600
            )
        yield urls
    finally:
        server.stop()


def run_capture(spec_source: str, spec: CaptureSpec) -> CaptureResult:
    """`capture()` with a fresh scratch dir (removed afterwards): what the timings measure."""
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        return capture(CaptureSpec(**{**_fields(spec), "source": spec_source, "scratch_dir": scratch}))


def _fields(spec: CaptureSpec) -> dict:
    return {name: getattr(spec, name) for name in CaptureSpec.__dataclass_fields__}


def peak_rss_mb(case_index: int, media: Path) -> float:
    """Peak RSS of one capture run alone in a child process (see benchmarks/child.py for why two levels)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", "measure", str(case_index), str(media)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def mean_abs_diff(a: Path, b: Path) -> float:
    """Mean absolute difference per channel value (0–255) of two same-sized images."""
    with Image.open(a) as x, Image.open(b) as y:
        x_rgb, y_rgb = x.convert("RGB"), y.convert("RGB")
    if x_rgb.size != y_rgb.size:
        return float("inf")
    return sum(ImageStat.Stat(ImageChops.difference(x_rgb, y_rgb)).mean) / 3


def decode_all_s(clip: Path, threads: int) -> tuple[float, int]:
    """Wall time of decoding every video frame with PyAV (the naive way), and the frame count."""
    import time

    import av

    started = time.perf_counter()
    frames = 0
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = threads
        stream.codec_context.thread_type = "AUTO"
        for _ in container.decode(stream):
            frames += 1
    return time.perf_counter() - started, frames


# --- load of other users on a shared machine -----------------------------------------------------------


def _machine_cpu_s() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    """CPU seconds of this process, of its children that have ended (ffmpeg runs) and of the live ones
    (a process pool's workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system + _live_children_cpu_s()


def _live_children_cpu_s() -> float:
    me, total = os.getpid(), 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # after the command: state, ppid, …, utime (12th), stime (13th)
        if int(fields[1]) == me:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class OthersLoad:
    """Cores used by everything but this process tree between `start()` and `stop()`."""

    def start(self) -> None:
        self._t0, self._machine, self._own = time.monotonic(), _machine_cpu_s(), _own_cpu_s()

    def stop(self) -> float:
        wall = time.monotonic() - self._t0
        others = (_machine_cpu_s() - self._machine) - (_own_cpu_s() - self._own)
        return max(others, 0.0) / wall if wall > 0 else 0.0


def add_quiet_arguments(parser: argparse.ArgumentParser, media: Path, unit: str, *, reruns: bool = True) -> None:
    """The options every machine-wide benchmark takes: the corpus, and the rules that keep other users'
    load out of its figures (wait for quiet before each `unit`; run a timed run again if it was not)."""
    parser.add_argument("--media", type=Path, default=media, help=f"corpus directory (default {media.name}/)")
    parser.add_argument("--quiet-below", type=float, default=0.3, help=f"before each {unit}, wait for this")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="longest wait for that, s (default 120)")
    if reruns:
        parser.add_argument("--max-others", type=float, default=0.5, help="run again when others used more cores")
        parser.add_argument("--retries", type=int, default=2, help="times a run is repeated for that (default 2)")


def wait_quiet(below: float, longest_s: float) -> float:
    """Wait (at most `longest_s`) until other users' load falls under `below` cores; return the last load."""
    deadline = time.monotonic() + longest_s
    while True:
        meter = OthersLoad()
        meter.start()
        time.sleep(2)
        load = meter.stop()
        if load < below or time.monotonic() >= deadline:
            return load
