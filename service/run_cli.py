"""`snapshotd run`: one-shot local capture with the service's engine, no API, queue, database or storage.

The options mirror the ICE `TemplateConfig` fields and go through the same validation as a submitted job
(`parse_config` over `merge_overrides(template, options)`), so a command line that works here is a template
the service accepts. The engine writes into a scratch directory inside the output directory; its artifacts
are then moved to `DIR/<key>` with `os.replace`, so a failed run leaves no half-written images behind.

Exit status: 0 done, 1 the media could not be captured (`Code: Message` on stderr), 2 invalid options or
template (ICE-style message), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from service.domain.fields import Field, Kind, snake_case
from service.domain.models import CaptureResult, CaptureSpec, SnapshotConfig
from service.domain.records import api_names, artifact_record, capture_stats
from service.domain.snapshot_config import check_output_naming, merge_overrides, parse_config, to_ice
from service.domain.snapshot_fields import SNAPSHOT_FIELDS, SPRITE_OBJECT
from service.domain.snapshot_fields import SPRITE_FIELDS as SPRITE_FIELDS_DECLARED
from service.errors import InvalidParameter, JsonFormatInvalid, ServiceError

EXIT_OK, EXIT_MEDIA, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130
#: the same bounds as the service's SNAPSHOTD_JPEG_QUALITY (Pillow advises against > 95)
JPEG_QUALITY_RANGE = (1, 95)
DEFAULT_JPEG_QUALITY = 88
#: validation messages name the field as `TemplateConfig.<Key>`, as the service would for a template
FIELD = "TemplateConfig"
OUTPUT_FIELD = "--output"

#: option dest → ICE TemplateConfig field, one option per declared field (`domain/snapshot_fields.py`)
TOP_FIELDS = {snake_case(field.name): field for field in SNAPSHOT_FIELDS}
#: option dest → field of `SpriteSnapshotConfig`
SPRITE_FIELDS = {snake_case(field.name): field for field in SPRITE_FIELDS_DECLARED}


class UsageError(Exception):
    """A problem with the command line or the template file (exit 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `run` options. Values stay strings: `parse_config` checks them and names the ICE field."""
    parser.add_argument("input", metavar="INPUT", help="local video file or http(s) URL (read with range requests)")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="DIR/PATTERN",
        help="where to write: out/{Count}.jpg, out/sheet-{TileCount}.jpg, or out/index.vtt (whose images "
        "go to out/index/); {Count} and {TileCount} become 5-digit 1-based numbers (00001, 00002, ...)",
    )
    parser.add_argument("--template", metavar="FILE.json", help="ICE TemplateConfig JSON; options override it")
    snapshot = parser.add_argument_group("snapshot (ICE TemplateConfig fields)")
    for dest, field in TOP_FIELDS.items():
        _add_field(snapshot, dest, field)
    sprite = parser.add_argument_group("sprite (SpriteSnapshotConfig fields)")
    for dest, field in SPRITE_FIELDS.items():
        _add_field(sprite, dest, field)
    engine = parser.add_argument_group("engine")
    engine.add_argument(
        "--jpeg-quality",
        metavar="Q",
        default=str(DEFAULT_JPEG_QUALITY),
        help=f"JPEG quality {JPEG_QUALITY_RANGE[0]}-{JPEG_QUALITY_RANGE[1]} (default {DEFAULT_JPEG_QUALITY})",
    )
    engine.add_argument(
        "--threads", metavar="N", type=int, default=0, help="decoder threads, 0 = one per core (default 0)"
    )
    engine.add_argument("--report", metavar="FILE|-", help="write the per-image report as JSON ('-' = stdout)")
    engine.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: only when stderr is a terminal)",
    )


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _add_field(group: argparse._ArgumentGroup, dest: str, field: Field) -> None:
    """One option per declared field; its help is the field's, with what it accepts. Values stay
    strings: `parse_config` checks them and the error names the option."""
    accepted = field.summary()
    # argparse formats help with %: the field's own text may hold one
    text = (f"{field.help} ({accepted})" if accepted else field.help).replace("%", "%%")
    if field.kind is Kind.BOOLEAN:
        group.add_argument(_flag(dest), dest=dest, action=argparse.BooleanOptionalAction, default=None, help=text)
    else:
        if field.kind is Kind.CHOICE:
            metavar = "|".join(field.choices)
        elif field.kind is Kind.CHOICES:
            metavar = ",".join(field.choices)
        else:
            metavar = field.unit.upper() or "N"
        group.add_argument(
            _flag(dest), dest=dest, metavar=metavar if field.kind is not Kind.COLOR else "COLOR", help=text
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snapshotd run", description="One-shot local capture.")
    add_arguments(parser)
    return parser


# --- config --------------------------------------------------------------------------------------


def load_template(path: str) -> dict[str, Any]:
    """An ICE TemplateConfig object from a JSON file (also accepted wrapped as {"TemplateConfig": …})."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the template {path}: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise JsonFormatInvalid(f'The template "{path}" is not valid JSON: {exc}.') from None
    if isinstance(raw, dict) and set(raw) == {"TemplateConfig"}:
        # as GetTemplate returns it; ICE sometimes nests it as a JSON string
        raw = raw["TemplateConfig"]
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError as exc:
                raise JsonFormatInvalid(f'The template "{path}" is not valid JSON: {exc}.') from None
    if not isinstance(raw, dict):
        raise JsonFormatInvalid(f'The template "{path}" must hold a JSON object.')
    return raw


def overrides_from(args: argparse.Namespace) -> dict[str, Any]:
    """The ICE fields given on the command line, shaped like OverwriteParams."""
    out: dict[str, Any] = {field.name: getattr(args, dest) for dest, field in TOP_FIELDS.items()}
    out = {k: v for k, v in out.items() if v is not None}
    sprite = {
        field.name: getattr(args, dest) for dest, field in SPRITE_FIELDS.items() if getattr(args, dest) is not None
    }
    if sprite:
        out["SpriteSnapshotConfig"] = sprite
    return out


def build_config(args: argparse.Namespace) -> SnapshotConfig:
    template = load_template(args.template) if args.template else {}
    try:
        return parse_config(merge_overrides(template, overrides_from(args)), FIELD)
    except InvalidParameter as exc:
        raise _name_the_option(exc, args) from None


def _name_the_option(exc: InvalidParameter, args: argparse.Namespace) -> InvalidParameter:
    """Say `--count` rather than `TemplateConfig.Count` when the bad value came from the command line."""
    message = exc.message
    given = [(dest, f"{FIELD}.{field.name}") for dest, field in TOP_FIELDS.items()]
    given += [(dest, f"{FIELD}.{SPRITE_OBJECT}.{field.name}") for dest, field in SPRITE_FIELDS.items()]
    for dest, field in given:
        if getattr(args, dest) is not None:
            message = message.replace(f'"{field}"', f'"{_flag(dest)}"')
    return type(exc)(message)


def jpeg_quality(value: str) -> int:
    low, high = JPEG_QUALITY_RANGE
    try:
        quality = int(value)
    except ValueError:
        quality = -1
    if not low <= quality <= high:
        raise InvalidParameter.named("--jpeg-quality", f"It must be between {low} and {high}; got {value!r}.")
    return quality


def split_output(output: str) -> tuple[Path, str]:
    """`out/{Count}.jpg` → (out, `{Count}.jpg`): the directory part stops at the first placeholder."""
    parts = Path(output).parts
    if not parts or output.endswith(("/", os.sep)):
        raise InvalidParameter.named(OUTPUT_FIELD, "It must name a file pattern, e.g. out/{Count}.jpg.")
    cut = next((i for i, part in enumerate(parts) if "{" in part), len(parts) - 1)
    directory = Path(*parts[:cut]) if cut else Path(".")
    return directory, "/".join(parts[cut:])


# --- output --------------------------------------------------------------------------------------


class ProgressBar:
    """A one-line `\\r` bar; redrawn at most 10 times a second so a fast job does not flood the terminal."""

    WIDTH = 30

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        filled = self.WIDTH * done // total if total else self.WIDTH
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        pct = 100 * done // total if total else 100
        self._stream.write(f"\r[{bar}] {done}/{total} {pct:3d}% {now - self._started:6.1f}s")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def place_artifacts(result: CaptureResult, directory: Path) -> dict[str, str]:
    """Move the engine's files from the scratch dir to `directory/<key>`; returns key → final path."""
    placed: dict[str, str] = {}
    for artifact in result.artifacts:
        dest = directory / artifact.key
        dest.parent.mkdir(parents=True, exist_ok=True)
        # the scratch dir lives inside `directory`, so this is a rename on the same filesystem
        os.replace(artifact.path, dest)
        placed[artifact.key] = str(dest)
    return placed


def report(
    result: CaptureResult, args: argparse.Namespace, config: SnapshotConfig, placed: dict[str, str]
) -> dict[str, Any]:
    """The run as GetSnapshotJob would show it (`domain/records.py`), plus where each file went (`Path`)."""
    return {
        "Input": args.input,
        "Output": args.output,
        "TemplateConfig": to_ice(config),
        "Count": result.count,
        "Images": [{**api_names(i), "Path": placed.get(i.key)} for i in result.images],
        "DroppedSlots": [api_names(d) for d in result.dropped],
        "Artifacts": [{**artifact_record(a), "Path": placed.get(a.key)} for a in result.artifacts],
        "Stats": capture_stats(result),
    }


def write_report(data: dict[str, Any], target: str) -> None:
    text = json.dumps(data, indent=2) + "\n"
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(target).write_text(text, encoding="utf-8")


# --- entry points --------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Run a parsed `snapshotd run` command line; returns the exit status."""
    try:
        config = build_config(args)
        quality = jpeg_quality(args.jpeg_quality)
        directory, key = split_output(args.output)
        check_output_naming(config, key, OUTPUT_FIELD)
        if args.threads < 0:
            raise InvalidParameter.named("--threads", "It must be 0 (one per core) or more.")
    except UsageError as exc:
        print(f"snapshotd run: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ServiceError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_INVALID
    show_progress = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar(sys.stderr) if show_progress else None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".snapshotd-run-", dir=directory) as scratch:
            result = _capture(args.input, config, key, scratch, quality, args.threads, bar)
            placed = place_artifacts(result, directory)
    except KeyboardInterrupt:
        if bar:
            bar.close()
        print("snapshotd run: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ServiceError as exc:
        if bar:
            bar.close()
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_MEDIA
    except OSError as exc:
        if bar:
            bar.close()
        print(f"snapshotd run: cannot write to {directory}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_MEDIA
    if bar:
        bar.close()
    # One line of what was done, whether or not a bar ran: a script or a log wants it as much as a person.
    print(
        f"{result.count} image(s), {len(placed)} file(s) in {directory}/ "
        f"({result.capture_ms / 1000:.2f} s, {len(result.dropped)} slot(s) dropped)",
        file=sys.stderr,
    )
    if args.report:
        try:
            write_report(report(result, args, config, placed), args.report)
        except OSError as exc:
            print(f"snapshotd run: cannot write the report {args.report}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_MEDIA
    return EXIT_OK


def _capture(
    source: str,
    config: SnapshotConfig,
    key: str,
    scratch: str,
    quality: int,
    threads: int,
    bar: ProgressBar | None,
) -> CaptureResult:
    # imported here: PyAV is only needed once the options are known to be valid
    from service.media.capture import capture

    spec = CaptureSpec(
        source=source, config=config, output_key=key, scratch_dir=scratch, jpeg_quality=quality, decode_threads=threads
    )
    return capture(spec, bar)


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
