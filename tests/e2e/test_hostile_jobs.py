"""Jobs an attacker (or a careless user) submits to a running service: each fails clearly, once, and
reads nothing it was not asked for."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import av
import pytest

from service.config import Settings
from tests import media_factory as mf
from tests.e2e.conftest import running_stack
from tests.ice import call, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


def _to_ts(mp4: Path, ts: Path) -> Path:
    with av.open(str(mp4)) as source, av.open(str(ts), "w") as sink:
        stream = sink.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                sink.mux(packet)
    return ts


async def test_a_playlist_in_a_bucket_does_not_read_outside_the_storage_root(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings.from_env(base_env)
    root = Path(settings.storage.root)
    (root / "media").mkdir(parents=True)
    secret = _to_ts(mf.make_video(tmp_path / "secret.mp4", seconds=2, gop=25), tmp_path / "secret.ts")
    playlist = (
        f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{os.path.relpath(secret, root / 'media')}\n#EXT-X-ENDLIST\n"
    )
    (root / "media" / "evil.m3u8").write_text(playlist)

    async with running_stack(settings) as stack:
        _, submitted = await call(stack.api, "SubmitSnapshotJob", **submit_params(media="oss://media/evil.m3u8"))
        job = await stack.wait_final(submitted["JobId"])

    assert (job["Status"], job["Code"], job["Attempts"]) == ("Fail", "InvalidParameter.ResourceContentBad", 1)
    assert not (root / "thumbs").exists(), "nothing was written"


async def test_a_sheet_too_large_for_the_source_fails_once_naming_the_field(
    base_env: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings.from_env(base_env)
    (Path(settings.storage.root) / "media").mkdir(parents=True)
    clip = mf.make_video(tmp_path / "640.mp4", seconds=2, gop=25, size=(640, 360))
    shutil.copyfile(clip, Path(settings.storage.root) / "media" / "clip.mp4")
    sprite = {"Type": "Sprite", "Count": 4, "SpriteSnapshotConfig": {"Columns": 30, "Lines": 30}}

    async with running_stack(settings) as stack:
        status, refused = await call(
            stack.api,
            "SubmitSnapshotJob",
            **submit_params(
                output="oss://thumbs/s-{TileCount}.jpg",
                **{**sprite, "SpriteSnapshotConfig": {"Columns": 1000, "Lines": 1000}},
            ),
        )
        _, submitted = await call(
            stack.api, "SubmitSnapshotJob", **submit_params(output="oss://thumbs/s-{TileCount}.jpg", **sprite)
        )
        job = await stack.wait_final(submitted["JobId"])

    assert (status, refused["Code"]) == (400, "InvalidParameter") and "Columns x Lines" in refused["Message"]
    assert (job["Status"], job["Code"], job["Attempts"]) == ("Fail", "InvalidParameter", 1)
    assert "SpriteSnapshotConfig" in job["Message"] and "19200x10800" in job["Message"]
