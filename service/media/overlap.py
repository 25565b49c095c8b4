"""Image N's output (scale, encode, write) on a second thread while the picker decodes image N+1.

A keyframe job is one 1080p keyframe decode (~7-8 ms) and one image's output (~6 ms: scale 0.5-1 ms,
JPEG 5 ms) per image. Both release the GIL (FFmpeg decoding and swscale, Pillow's encoders), so on two
cores they overlap: 60 keyframes every 10 s of a 1080p clip went from 0.94 to 0.6 s wall.

One task at a time: the next one waits for the one before, so the memory a capture holds stays what the
model says (`domain/memory.py`): one output image, and the frame being output is the one the picker
keeps anyway (the last keyframe, or the frame at or before the last target). The sink is called from the
output thread only, in submission order.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType


class Overlap:
    """One output thread; `submit` hands it a task, `close` (or leaving the `with`) waits for the last."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="snapshot-output")
        self._last: Future[None] | None = None

    def submit(self, task: Callable[[], None]) -> None:
        """Run `task` on the output thread once the one before it is done; raises that one's error."""
        self.settle()
        self._last = self._pool.submit(task)

    def settle(self) -> None:
        """Wait for the task in flight; raises its error (a full scratch disk, a memory failure)."""
        last, self._last = self._last, None
        if last is not None:
            last.result()

    def __enter__(self) -> Overlap:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                self.settle()
            elif self._last is not None:
                # the pick loop failed: its error is the job's; the task in flight still has to end before
                # the caller clears the scratch dir it writes into
                self._last.exception()
                self._last = None
        finally:
            self._pool.shutdown(wait=True)
