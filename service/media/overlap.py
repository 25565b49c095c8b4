"""Image N's output (scale, encode, write) on a second thread while the picker decodes image N+1.

A keyframe job is one 1080p keyframe decode (~7-8 ms) and one image's output (~6 ms: scale 0.5-1 ms,
JPEG 5 ms) per image. Both release the GIL (FFmpeg decoding and swscale, Pillow's encoders), so on two
cores they overlap: 60 keyframes every 10 s of a 10-min 1080p clip went from 0.94-1.08 to 0.50-0.53 s
wall in one process, a 10x6 sprite of them from 0.66-0.70 to 0.47 s, which is the keyframe decodes alone.

The same path without the thread (rgb0, one scaler) was slower than the old one: glibc's main heap gave
the 8 MB rgb0 and image blocks back to the kernel after every image (about 4000 page faults an image);
the output thread's heap keeps them.

One task at a time: the next one waits for the one before, so a capture still holds one output image
(`domain/memory.py`). The frame being output is the one the picker kept for the last target; while its
task overlaps the next decode, that is one decoded frame more for a moment (peak RSS of the 1080p
benchmark cases: +2-3 MB). The sink is called from the output thread only, in submission order.
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
