"""py-spy on the API: record its stacks, then say where the time goes (by module, function and request step).

Used when a throughput target is missed (`--profile auto`) or always (`--profile always`): sampling costs
the API some CPU, so it never runs during a measured run.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.api.services import REPO

#: leaf-frame file → where the time goes, first match wins
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("service/api/auth/signing", "auth: signature check (service/api/auth/signing.py)"),
    ("service/api/auth/authenticator", "auth: middleware, nonce cache (service/api/auth/authenticator.py)"),
    ("service/api/", "service API code (params, schemas, handlers, envelope)"),
    ("service/domain/", "service domain code (config merge/validation)"),
    ("service/store/", "service store code"),
    ("service/queue/", "outbox relay (service/queue)"),
    ("service/", "service, other"),
    ("asyncpg/", "asyncpg"),
    ("aio_pika/", "aio-pika/aiormq (relay publishing)"),
    ("aiormq/", "aio-pika/aiormq (relay publishing)"),
    ("pamqp/", "aio-pika/aiormq (relay publishing)"),
    ("aiohttp/", "aiohttp (HTTP server, request/response objects)"),
    ("multidict/", "aiohttp (HTTP server, request/response objects)"),
    ("yarl/", "aiohttp (HTTP server, request/response objects)"),
    ("prometheus_client/", "prometheus metrics"),
    ("logging/", "logging"),
    ("service/logs", "logging"),
    ("asyncio/", "asyncio event loop"),
    ("urllib/", "urllib.parse (query parsing/quoting)"),
    ("uuid", "uuid"),
    ("_strptime", "datetime.strptime"),
    ("datetime", "datetime.strptime"),
    ("json", "json"),
    ("hmac", "hashlib/hmac"),
    ("hashlib", "hashlib/hmac"),
)
#: leaf functions that are system calls in disguise: named by what they talk to
SYSCALL_LEAVES = {
    "_SelectorSocketTransport.write": "socket send",
    "_SelectorSocketTransport._read_ready__data_received": "socket recv",
    "_SelectorSocketTransport._read_ready__get_buffer": "socket recv",
    "EpollSelector.select": "epoll wait",
}
#: frames that wrap everything (event loop, entry point): left out of the inclusive table
WRAPPER_FILES = ("asyncio/base_events.py", "asyncio/runners.py", "asyncio/events.py", "runpy.py", "service/__main__.py")
#: samples per second py-spy takes
SAMPLE_RATE = 200


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def record(py_spy: str, pid: int, seconds: int, out: Path) -> int:
    """py-spy's collapsed stacks of `pid` over `seconds` into `out`; its exit code."""
    proc = await asyncio.create_subprocess_exec(
        py_spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(SAMPLE_RATE),
        "--nonblocking", "--format", "raw", "--nolineno", "-o", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        print(f"   profile: py-spy failed: {err.decode(errors='replace').strip()[-300:]}", flush=True)
    return proc.returncode or 0


def frame_file(frame: str) -> str:
    """`func (path/to/file.py)` → the path."""
    return frame[frame.rfind("(") + 1 : -1] if frame.endswith(")") else ""


def short_frame(frame: str) -> str:
    name, _, path = frame.partition(" (")
    path = path.rstrip(")")
    for marker in ("site-packages/", "/lib/python3.11/", str(REPO) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


def categorize(frames: list[str]) -> str:
    """A sample's category from its leaf frame; socket calls are named after the peer on the stack."""
    leaf = frames[-1]
    syscall = SYSCALL_LEAVES.get(leaf.partition(" (")[0])
    if syscall == "socket send":
        stack = ";".join(frames)
        peer = next(
            (name for needle, name in (("asyncpg", "PostgreSQL"), ("aiormq", "RabbitMQ"), ("aiohttp", "HTTP response"))
             if needle in stack),
            "?",
        )  # fmt: skip
        return f"socket send → {peer} (write syscall)"
    if syscall:
        return syscall
    path = frame_file(leaf)
    for needle, category in CATEGORIES:
        if needle in path:
            return category
    return "other Python/builtins"


def summarize_profile(text: str, *, expected_samples: int, top: int = 15) -> dict[str, Any]:
    """Self and inclusive time per function and per category from py-spy's collapsed stacks."""
    total = 0
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    by_service_frame: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f.endswith(")")]  # the first entry names the thread
        if not frames:
            continue
        total += count
        self_time[short_frame(frames[-1])] += count
        by_category[categorize(frames)] += count
        for frame in {short_frame(f) for f in frames if not frame_file(f).endswith(WRAPPER_FILES)}:
            if not frame.startswith("<module>"):
                inclusive[frame] += count
        # the innermost service function on the stack: which step of a request the time belongs to
        owner = next(
            (short_frame(f) for f in reversed(frames) if "service/" in frame_file(f) and "__main__" not in f), None
        )
        by_service_frame[owner or "no service frame (aiohttp/asyncio internals, relay I/O callbacks)"] += count

    def table(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)] if total else []

    return {
        "samples": total,
        "busy_fraction_of_main_thread": round(total / expected_samples, 3) if expected_samples else None,
        "by_category_pct": table(by_category),
        "self_pct": table(self_time),
        "inclusive_pct": table(inclusive),
        "innermost_service_frame_pct": table(by_service_frame),
    }
