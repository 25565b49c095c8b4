"""The API's start-up heap is frozen: later full collections walk what requests made, not the modules."""

from __future__ import annotations

import subprocess
import sys

# In a child: freezing the test process would keep every fixture's cycles for the rest of the session.
PROBE = """
import gc
import service.api.app
from service.heap import freeze_startup_heap

before = len(gc.get_objects())
freeze_startup_heap()
print(before, len(gc.get_objects()), gc.get_freeze_count())
"""


def test_freezing_leaves_the_collector_only_what_comes_after_start_up() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    before, after, frozen = map(int, out.split())

    assert before > 20_000  # the web stack, the store, the domain: what every full collection used to walk
    assert after < 100  # left for the collector: the probe's own few objects
    assert frozen >= before * 0.9
