"""Worker liveness: a file touched while the event loop and the broker connection are healthy.

A Kubernetes exec probe runs `snapshotd worker-alive`, which fails when the file is older than
three heartbeats: a worker whose loop is blocked or whose connection is gone stops touching it.
A worker still waiting for PostgreSQL or RabbitMQ at start-up is healthy: it waits on purpose, and
restarting it would only start the wait again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

#: missed heartbeats before the probe fails
STALE_AFTER_BEATS = 3


async def beat(path: str, every_s: float, healthy: Callable[[], bool]) -> None:
    """Touch `path` every `every_s` seconds while `healthy()` says so."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        if healthy():
            await asyncio.to_thread(target.touch)
        await asyncio.sleep(every_s)


def is_alive(path: str, every_s: float, now: float | None = None) -> bool:
    """Whether the heartbeat file is fresh (the probe's check)."""
    try:
        age = (now or time.time()) - os.stat(path).st_mtime
    except FileNotFoundError:
        return False
    return age <= STALE_AFTER_BEATS * every_s
