"""The capture process's memory cap: set it, and tell afterwards whether a failure was the cap's doing.

The cap is RLIMIT_DATA (heap, frame buffers, thread stacks: the memory written to), not RLIMIT_AS (the
address space glibc reserves for malloc arenas, several times larger with decode threads). At the cap,
an allocation fails somewhere inside FFmpeg or Pillow, and not every caller reports it as ENOMEM (a
decoder that cannot get a frame buffer answers EAGAIN; a picker then sees no frame). So a failed
capture asks `hit_cap()`: the process's peak RSS, reset when the capture starts, within reach of the cap.
Linux only (/proc); elsewhere the cap is still set and failures keep their own reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import resource

#: peak RSS (data + the ~40 MiB of mapped libraries) at this share of the cap means the cap was reached
NEAR_CAP_SHARE = 0.9


def cap_process(budget_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_DATA, (budget_bytes, budget_bytes))


def reset_peak() -> None:
    """Start measuring the peak RSS afresh (a pool process runs many captures)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def hit_cap() -> bool:
    """Whether this process's peak RSS since `reset_peak` came within reach of its cap."""
    limit = resource.getrlimit(resource.RLIMIT_DATA)[0]
    if limit == resource.RLIM_INFINITY:
        return False
    try:
        with open("/proc/self/status") as handle:
            peak_kib = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return False
    return peak_kib * 1024 >= NEAR_CAP_SHARE * limit


def give_back() -> None:
    """After a failure at the cap: collect what the failed capture left, and hand glibc's free heap back
    to the kernel, so this process can go on to its next capture (and report this one) under the cap."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
