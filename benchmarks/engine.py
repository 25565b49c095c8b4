"""`python -m benchmarks.engine`: the capture engine against the ffmpeg CLI on the make_media.sh corpus.

Every number is a ratio against an anchor measured in the same run on the same machine:
- wall time of an in-process `capture()` (imports and process start-up excluded; `snapshotd run` start-up
  is timed once and reported on its own) over the fastest ffmpeg way to produce the same images;
- bytes the range reader fetched from a moto S3 server on loopback (presigned URL) over the file size;
- keyframe capture over decoding every frame with PyAV; peak RSS of a capture alone in a child process.
Clips are read once beforehand so both tools see them in the page cache.

Not part of `make test`: it needs ffmpeg (benchmark only, never a runtime dependency) and a few minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchmarks.cases import CASES, JPEG_QUALITY, Case, FfmpegWay
from benchmarks.probes import OthersLoad, decode_all_s, mean_abs_diff, peak_rss_mb, run_capture, s3_urls, wait_quiet
from service.domain.models import CaptureResult, CaptureSpec

HERE = Path(__file__).resolve().parent
MAKE_MEDIA = HERE / "make_media.sh"
DEFAULT_MEDIA = HERE.parent / "benchmedia"
#: decoder threads for our side: `snapshotd run`'s default (one per core), as ffmpeg uses by default
THREADS = 0
MAX_RSS_MB = 300
MIN_INTRA_SPEEDUP = 5.0
INTRA_CASE = "a 60 intra /10s"


@dataclass
class Row:
    case: Case
    ours: list[float] = field(default_factory=list)
    ffmpeg: dict[str, list[float]] = field(default_factory=dict)
    bytes_pct: float | None = None
    diffs: list[float] = field(default_factory=list)
    diff_note: str = ""
    rss_mb: float | None = None
    #: cores other users of the machine took during each timed run (ours and ffmpeg's)
    others: list[float] = field(default_factory=list)

    @property
    def anchor(self) -> tuple[str, float] | None:
        medians = {name: statistics.median(times) for name, times in self.ffmpeg.items() if times}
        if not medians:
            return None
        name = min(medians, key=medians.__getitem__)
        return name, medians[name]

    @property
    def ratio(self) -> float | None:
        anchor = self.anchor
        return statistics.median(self.ours) / anchor[1] if anchor and self.ours else None

    @property
    def met(self) -> bool:
        ok = self.ratio is not None and self.ratio <= self.case.max_ratio
        if self.case.max_bytes_pct is not None and self.bytes_pct is not None:
            # with --no-http the bytes target is not measured, so only the time counts
            ok = ok and self.bytes_pct < self.case.max_bytes_pct
        return ok


def spec_for(case: Case, source: str = "", scratch: str = "", threads: int = THREADS) -> CaptureSpec:
    return CaptureSpec(
        source=source,
        config=case.config,
        output_key=case.output_key,
        scratch_dir=scratch,
        jpeg_quality=JPEG_QUALITY,
        decode_threads=threads,
    )


#: runs one capture: in this process, or through the worker's pool in shards (`--processes`)
Runner = Callable[[CaptureSpec], CaptureResult]


def in_process(spec: CaptureSpec) -> CaptureResult:
    from service.media.capture import capture

    return capture(spec)


@contextlib.contextmanager
def worker_pool(processes: int, threads: int) -> Iterator[Runner]:
    """The worker's own pool (warmed) and its shard rule: a job split over the idle processes."""
    import asyncio

    from service.config import WorkerSettings
    from service.worker.pool import ExecutorSlot
    from service.worker.sharded import run_capture, shard_rule

    settings = replace(WorkerSettings(), processes=processes, decode_threads=threads, max_tasks_per_child=10_000)
    slot = ExecutorSlot(settings)
    try:
        asyncio.run(slot.warm())
        yield lambda spec: asyncio.run(run_capture(slot, spec, shard_rule(settings, slot)))
    finally:
        slot.close()


# --- set-up --------------------------------------------------------------------------------------


def ensure_media(media: Path, names: set[str], generate: bool) -> set[str]:
    """The clips present in `media`, generating the missing ones with make_media.sh when allowed."""
    missing = sorted(n for n in names if not (media / n).is_file())
    if missing and generate:
        letters = " ".join(n.split(".")[0] for n in missing)
        print(f"generating {', '.join(missing)} with {MAKE_MEDIA.name} (a.mp4 takes tens of minutes) …", flush=True)
        subprocess.run(["bash", str(MAKE_MEDIA), str(media)], env={**os.environ, "ONLY": letters}, check=True)
    return {n for n in names if (media / n).is_file()}


def warm(clip: Path) -> None:
    """Read the clip once so that both sides find it in the page cache."""
    with clip.open("rb") as f:
        while f.read(8 << 20):
            pass


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False).stdout.split("\n")[0]
    import av

    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, PyAV {av.__version__} "
        f"(FFmpeg {av.ffmpeg_version_info}), {ffmpeg}"
    )


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Quiet:
    """A timed run during which other users took more than `max_others` cores is run again (`retries`)."""

    below: float
    wait_s: float
    max_others: float
    retries: int


def timed(run: Callable[[], object], keep: Path, quiet: Quiet, others: list[float]) -> float:
    """Wall time of `run()` into an empty `keep`; the others' load of the run kept is added to `others`."""
    for attempt in range(quiet.retries + 1):
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        load = OthersLoad()
        load.start()
        started = time.perf_counter()
        run()
        wall = time.perf_counter() - started
        busy = load.stop()
        if busy <= quiet.max_others or attempt == quiet.retries:
            others.append(busy)
            return wall
        print(f"   others took {busy:.2f} cores during that run: again", flush=True)
        wait_quiet(quiet.below, quiet.wait_s)
    raise AssertionError("unreachable")


def time_ours(
    case: Case, clip: Path, keep: Path, runs: int, quiet: Quiet, others: list[float], runner: Runner, threads: int
) -> tuple[list[float], CaptureResult]:
    results: list[CaptureResult] = []
    spec = spec_for(case, str(clip), str(keep), threads)
    times = [timed(lambda: results.append(runner(spec)), keep, quiet, others) for _ in range(runs)]
    return times, results[-1]


def time_ffmpeg(way: FfmpegWay, clip: Path, keep: Path, runs: int, quiet: Quiet, others: list[float]) -> list[float]:
    if way.once:
        # a slow variant that only shows which way is the anchor: one run, never run again
        return [timed(lambda: way.run(clip, keep), keep, replace(quiet, retries=0), others)]
    return [timed(lambda: way.run(clip, keep), keep, quiet, others) for _ in range(runs)]


def cross_check(row: Row, ours: CaptureResult, theirs: Path) -> None:
    """Our images against ffmpeg's, file by file in output order: the same frames give a small diff."""
    mine = [Path(a.path) for a in sorted(ours.artifacts, key=lambda a: a.key)]
    other = sorted(theirs.iterdir())
    if len(mine) != len(other):
        row.diff_note = f"{len(mine)} vs {len(other)} files"
    row.diffs = [mean_abs_diff(a, b) for a, b in zip(mine, other, strict=False)]


def startup_s(clip: Path, work: Path) -> tuple[float, float]:
    """(`snapshotd run` wall, its capture time) for one keyframe snapshot: the difference is start-up."""
    exe = Path(sys.executable).with_name("snapshotd")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "service"]
    report = work / "startup.json"
    started = time.perf_counter()
    subprocess.run(
        [*cmd, "run", str(clip), "--time", "300000", "-o", str(work / "startup.jpg"), "--report", str(report)],
        check=True,
    )
    wall = time.perf_counter() - started
    # the report speaks the API's names (`domain/records.py`): Stats.CaptureMs
    return wall, json.loads(report.read_text())["Stats"]["CaptureMs"] / 1000


# --- report --------------------------------------------------------------------------------------


def fmt_s(times: list[float]) -> str:
    if not times:
        return "–"
    med = statistics.median(times)
    if len(times) == 1:
        return f"{med:.3f} (N=1)"
    return f"{med:.3f} ({min(times):.3f}–{max(times):.3f})"


def print_table(rows: list[Row], extra: list[tuple[str, str, str, str, str, str]]) -> None:
    header = ("case", "snapshotd median s (min–max)", "ffmpeg median s", "ratio", "bytes read %", "target met")
    lines = [header]
    for r in rows:
        anchor = r.anchor
        lines.append(
            (
                r.case.name,
                fmt_s(r.ours),
                f"{anchor[1]:.3f}" if anchor else "–",
                f"{r.ratio:.2f}" if r.ratio is not None else "–",
                f"{r.bytes_pct:.2f}" if r.bytes_pct is not None else "–",
                ("yes" if r.met else "NO")
                + f" (≤{r.case.max_ratio:g}×"
                + (f", <{r.case.max_bytes_pct:g} % bytes)" if r.case.max_bytes_pct is not None else ")"),
            )
        )
    lines.extend(extra)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.split("\n")[0])
    parser.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="corpus directory (default benchmedia/)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--only", default="", help="run the cases whose name contains this text")
    parser.add_argument("--no-generate", action="store_true", help="skip cases whose clip is missing")
    parser.add_argument("--no-http", action="store_true", help="skip the bytes-read measurement over S3")
    parser.add_argument(
        "--quiet-below", type=float, default=0.3, help="before each case, wait until others use fewer cores"
    )
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="longest wait for that, s (default 120)")
    parser.add_argument(
        "--max-others", type=float, default=0.5, help="run again a timed run during which others used more cores"
    )
    parser.add_argument("--retries", type=int, default=2, help="times a run is run again for that (default 2)")
    parser.add_argument(
        "--decode-all-runs", type=int, default=1, help="PyAV decode-all runs (about 30 s each; 0 skips them)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="time our side through the worker's pool of this many processes, jobs in shards (default 0: "
        "in this process, as `snapshotd run`)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="our decoder threads (default: one per core, 1 with --processes)"
    )
    args = parser.parse_args(argv)
    threads = args.threads if args.threads is not None else (1 if args.processes else THREADS)

    if shutil.which("ffmpeg") is None:
        print(
            "benchmarks.engine: the ffmpeg CLI is not installed; it is the benchmark's anchor (not a dependency "
            "of snapshotd).\n  Debian/Ubuntu: apt-get update && apt-get install -y ffmpeg",
            file=sys.stderr,
        )
        return 1
    import av.logging

    av.logging.set_level(av.logging.PANIC)
    wanted = [c for c in CASES if args.only in c.name]
    present = ensure_media(args.media, {c.clip for c in wanted}, not args.no_generate)
    skipped = [c.name for c in wanted if c.clip not in present]
    cases = [c for c in wanted if c.clip in present]
    print(f"machine: {machine()}")
    where = f"the worker's pool of {args.processes} processes, in shards" if args.processes else "this process"
    print(
        f"runs per case: {args.runs}; ours in {where}; our decoder threads: {threads or 'one per core'}; "
        f"JPEG q{JPEG_QUALITY}"
    )
    for name in sorted(present):
        warm(args.media / name)

    quiet = Quiet(args.quiet_below, args.quiet_wait, args.max_others, args.retries)
    work = Path(tempfile.mkdtemp(prefix="snapshotd-bench-"))
    rows: list[Row] = []
    results: dict[str, CaptureResult] = {}
    runners = contextlib.ExitStack()
    runner = runners.enter_context(worker_pool(args.processes, threads)) if args.processes else in_process
    try:
        for case in cases:
            clip = args.media / case.clip
            row = Row(case)
            load = wait_quiet(args.quiet_below, args.quiet_wait)
            print(f"[{case.name}] snapshotd … (others use {load:.2f} cores)", flush=True)
            ours_dir = work / "ours" / str(len(rows))
            row.ours, results[case.name] = time_ours(
                case, clip, ours_dir, args.runs, quiet, row.others, runner, threads
            )
            last = results[case.name]
            print(f"   {last.shards} shards on {last.processes} processes", flush=True)
            for way in case.ffmpeg:
                print(f"[{case.name}] ffmpeg {way.name} …", flush=True)
                theirs = work / "ffmpeg" / f"{len(rows)}-{way.name.replace('/', '_')}"
                row.ffmpeg[way.name] = time_ffmpeg(way, clip, theirs, args.runs, quiet, row.others)
                if way is case.ffmpeg[0]:
                    cross_check(row, results[case.name], theirs)
            rows.append(row)

        if not args.no_http and rows:
            print("bytes read over HTTP (moto S3 on loopback) …", flush=True)
            with s3_urls([args.media / n for n in sorted({r.case.clip for r in rows})]) as urls:
                for row in rows:
                    size = (args.media / row.case.clip).stat().st_size
                    result = run_capture(urls[row.case.clip], spec_for(row.case))
                    row.bytes_pct = 100 * result.bytes_read / size

        a_rows = [(i, r) for i, r in enumerate(rows) if r.case.clip == "a.mp4"]
        for _, row in a_rows:
            print(f"[{row.case.name}] peak RSS in a child process …", flush=True)
            row.rss_mb = peak_rss_mb(CASES.index(row.case), args.media)

        extra: list[tuple[str, str, str, str, str, str]] = []
        notes: list[str] = []
        if "a.mp4" in present:
            intra = next((r for r in rows if r.case.name == INTRA_CASE), None)
            if intra is not None and args.decode_all_runs > 0:
                print("PyAV decode-all loop on a.mp4 …", flush=True)
                decode = [decode_all_s(args.media / "a.mp4", THREADS) for _ in range(args.decode_all_runs)]
                decode_times = [t for t, _ in decode]
                speedup = statistics.median(decode_times) / statistics.median(intra.ours)
                extra.append(
                    (
                        "a 60 intra vs PyAV decode-all",
                        fmt_s(intra.ours),
                        f"{statistics.median(decode_times):.3f} (decode-all)",
                        f"{1 / speedup:.3f} ({speedup:.0f}x)",
                        "–",
                        ("yes" if speedup >= MIN_INTRA_SPEEDUP else "NO") + f" (≥{MIN_INTRA_SPEEDUP:g}x)",
                    )
                )
                notes.append(f"decode-all: {decode[0][1]} frames, runs {', '.join(f'{t:.2f}' for t in decode_times)} s")
            if a_rows:
                peak = max(r.rss_mb or 0 for _, r in a_rows)
                extra.append(
                    (
                        "peak RSS, capture on 1080p (MB)",
                        f"{peak:.0f}",
                        "–",
                        "–",
                        "–",
                        ("yes" if peak < MAX_RSS_MB else "NO") + f" (<{MAX_RSS_MB} MB)",
                    )
                )
                notes.append("peak RSS per case: " + ", ".join(f"{r.case.name} {r.rss_mb:.0f} MB" for _, r in a_rows))
            wall, capture_s = startup_s(args.media / "a.mp4", work)
            notes.append(
                f"`snapshotd run` one keyframe snapshot: {wall:.3f} s wall, of which capture {capture_s:.3f} s "
                f"→ process start-up + imports ≈ {wall - capture_s:.3f} s (excluded from the table)"
            )
        print_table(rows, extra)
        print()
        for row in rows:
            ways = "; ".join(f"{name}: {fmt_s(times)}" for name, times in row.ffmpeg.items())
            diff = (
                f"mean abs diff vs ffmpeg {statistics.mean(row.diffs):.2f} (max {max(row.diffs):.2f}, {len(row.diffs)} files)"
                if row.diffs
                else "no diff"
            )
            print(f"- {row.case.name}: ffmpeg {ways}; anchor = fastest; {diff} {row.diff_note}".rstrip())
            frames = results[row.case.name]
            print(
                f"  frames decoded {frames.frames_decoded}, skipped (non-reference) {frames.frames_skipped}; "
                f"other users' load during the timed runs {statistics.median(row.others):.2f} cores "
                f"(max {max(row.others):.2f})"
            )
        for note in notes:
            print(f"- {note}")
        if skipped:
            print(f"- not run (clip missing): {', '.join(skipped)}")
        missed = [r.case.name for r in rows if not r.met] + [e[0] for e in extra if e[5].startswith("NO")]
        print(f"- targets missed: {', '.join(missed)}" if missed else "- every target met")
        return 0
    finally:
        runners.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
