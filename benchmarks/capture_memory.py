"""`python -m benchmarks.capture_memory`: peak RSS of one capture per input size, against the estimate.

The capture processes' memory budget (`SNAPSHOTD_CAPTURE_MEMORY_MB`) and the limits derived from it rest
on `service/domain/memory.py`'s linear estimate. This measures what it estimates: for each input size,
frame type, decode-thread count and image count, a fresh interpreter runs one `capture()` and reports
its own peak RSS (VmHWM), and the table puts it beside the estimate. The estimate must stay above the
measurement (ratio ≥ 1) wherever the budget decides, i.e. for large frames.

Clips are generated with PyAV (x264, noisy frames so inter frames cost bytes) into a cache directory;
the 8192x8192 one takes about a minute the first time. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from service.domain.memory import MIB, CaptureMemory
from service.domain.models import FrameType

CACHE = Path(tempfile.gettempdir()) / "snapshotd-bench-memory"
SIZES = [(1280, 720), (1920, 1080), (3840, 2160), (7680, 4320), (8192, 8192)]
BUDGET_MIB = 768


@dataclass(frozen=True)
class Run:
    size: tuple[int, int]
    frame_type: FrameType
    count: int
    threads: int
    refs: int = 1

    @property
    def label(self) -> str:
        extra = f", {self.refs} refs" if self.refs > 1 else ""
        return f"{self.size[0]}x{self.size[1]} {self.frame_type.value} x{self.count} t{self.threads}{extra}"


def clip_for(size: tuple[int, int], refs: int) -> Path:
    path = CACHE / f"{size[0]}x{size[1]}-r{refs}.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "benchmarks.capture_memory", "make", str(path), *map(str, size), str(refs)],
            check=True,
        )
    return path


def make_clip(path: Path, width: int, height: int, refs: int) -> None:
    import av
    from PIL import Image, ImageChops

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "6", "bframes": "2", "ref": str(refs)}
        base = Image.effect_noise((max(width // 8, 1), max(height // 8, 1)), 80).resize((width, height)).convert("RGB")
        for i in range(12):
            frame = av.VideoFrame.from_image(ImageChops.offset(base, i * 16, 0))
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def measure(clip: Path, run: Run) -> float:
    """Peak RSS in MiB of a fresh interpreter that runs the one capture."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.capture_memory",
            "capture",
            str(clip),
            run.frame_type.value,
            str(run.count),
            str(run.threads),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def capture_and_report(clip: Path, frame_type: str, count: int, threads: int) -> None:
    from service.domain.models import CaptureSpec, SnapshotConfig
    from service.media.capture import capture, init_worker

    init_worker()
    config = SnapshotConfig(frame_type=FrameType(frame_type), count=count, interval_s=0 if count > 1 else None)
    with tempfile.TemporaryDirectory() as scratch:
        capture(CaptureSpec(str(clip), config, "o/{Count}.jpg", scratch, max_input_pixels=0, decode_threads=threads))
    with open("/proc/self/status") as status:
        peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(f"{peak_kib / 1024:.1f}")


def runs() -> list[Run]:
    out = []
    for size in SIZES:
        for frame_type in (FrameType.INTRA, FrameType.NORMAL):
            out.append(Run(size, frame_type, 1, 1))
        out.append(Run(size, FrameType.NORMAL, 10, 1))
        out.append(Run(size, FrameType.NORMAL, 1, 2))
    out.append(Run((1920, 1080), FrameType.NORMAL, 10, 1, refs=16))
    return out


def main() -> int:
    if sys.argv[1:2] == ["make"]:
        make_clip(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
        return 0
    if sys.argv[1:2] == ["capture"]:
        capture_and_report(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rows = []
    print(f"{'capture':<40} {'peak MiB':>9} {'estimate':>9} {'est/peak':>8}  fits {BUDGET_MIB} MiB")
    for run in runs():
        peak = measure(clip_for(run.size, run.refs), run)
        pixels = run.size[0] * run.size[1]
        estimate = CaptureMemory(pixels, pixels, 0, run.frame_type, run.threads).bytes() / MIB
        fits = "yes" if estimate <= BUDGET_MIB else "refused"
        print(f"{run.label:<40} {peak:>9.1f} {estimate:>9.1f} {estimate / peak:>8.2f}  {fits}")
        rows.append({"run": run.label, "peak_mib": peak, "estimate_mib": round(estimate, 1)})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
