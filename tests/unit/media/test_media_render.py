"""A rendered image owns what it shows: it outlives its frame and the decoder that made it."""

from __future__ import annotations

import gc
from pathlib import Path

import av

from service.media.compose import render
from tests.media_factory import read_index


def test_an_image_outlives_its_frame_and_decoder(h264: Path) -> None:
    with av.open(str(h264)) as container:
        frames = container.decode(container.streams.video[0])
        first = render(next(frames), (320, 180))
        # later frames reuse the decoder's buffer pool; the image must not see them
        later = [render(next(frames), (320, 180)) for _ in range(30)]
    gc.collect()
    assert [read_index(image) for image in [first, *later]] == list(range(31))
