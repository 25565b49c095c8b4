"""The shard-planning rule (`domain/shards.py`): GOP-aligned cuts of about equal cost, none too small."""

from __future__ import annotations

import itertools
from dataclasses import replace

from service.domain.models import FrameType
from service.domain.shards import RENDER_FRAMES, Shard, ShardRule, cut_job, gop_groups, plan_shards

#: 25 fps in a 1/12800 time base (FFmpeg's MP4 default for 25 fps): one frame is 512 units
SPAN = 512
SECOND = 25 * SPAN


def keyframes_every(gop_frames: int, seconds: int) -> list[int]:
    return list(range(0, seconds * SECOND, gop_frames * SPAN))


def covers(shards: list[Shard], count: int) -> bool:
    """Consecutive, non-empty, from the first target to the last."""
    edges = [(s.start, s.stop) for s in shards]
    return edges[0][0] == 0 and edges[-1][1] == count and all(a[1] == b[0] for a, b in itertools.pairwise(edges))


def test_targets_sharing_a_keyframe_form_one_group() -> None:
    keys = keyframes_every(250, 60)  # every 10 s
    targets = [s * SECOND for s in (1, 2, 9, 10, 11, 35)]
    assert gop_groups(targets, keys) == [(0, 3), (3, 5), (5, 6)]


def test_a_job_inside_one_gop_stays_one_shard() -> None:
    keys = keyframes_every(250, 60)
    targets = [s * SECOND for s in range(10, 20)]  # ten exact frames inside the GOP from 10 s
    shards = plan_shards(targets, keys, FrameType.NORMAL, SPAN, ShardRule(max_shards=8, min_frames=1))
    assert shards == [Shard(0, 10, shards[0].cost)]


def test_twelve_exact_frames_over_twelve_gops_use_every_process() -> None:
    # the example: 12 exact frames 10 s apart on a 250-frame GOP, a 2-process worker
    keys = keyframes_every(250, 130)
    targets = [(5 + 10 * n) * SECOND for n in range(12)]
    shards = plan_shards(targets, keys, FrameType.NORMAL, SPAN, ShardRule(max_shards=2, min_frames=60))
    assert [(s.start, s.stop) for s in shards] == [(0, 6), (6, 12)]
    # each target decodes 126 frames from its keyframe and renders one image
    assert shards[0].cost == 6 * (126 + RENDER_FRAMES)


def test_cuts_balance_cost_not_target_count() -> None:
    keys = keyframes_every(250, 60)
    # one target deep into the first GOP (expensive), then eight cheap ones right after keyframes
    targets = [9 * SECOND] + [k + frames * SPAN for k in keys[1:5] for frames in (1, 2)]
    shards = plan_shards(targets, keys, FrameType.NORMAL, SPAN, ShardRule(max_shards=2, min_frames=1))
    assert covers(shards, len(targets))
    assert [(s.start, s.stop) for s in shards] == [(0, 1), (1, 9)]


def test_no_cut_falls_inside_a_gop() -> None:
    keys = keyframes_every(50, 100)  # every 2 s
    targets = [round(t * SECOND / 10) for t in range(0, 1000, 7)]  # every 0.7 s
    shards = plan_shards(targets, keys, FrameType.NORMAL, SPAN, ShardRule(max_shards=6, min_frames=1))
    assert len(shards) == 6 and covers(shards, len(targets))
    groups = gop_groups(targets, keys)
    starts = {start for start, _ in groups}
    assert all(s.start in starts for s in shards)
    # within one GOP's cost of the even share
    share = sum(s.cost for s in shards) / len(shards)
    biggest_group = max(s.cost for s in plan_shards(targets, keys, FrameType.NORMAL, SPAN, ShardRule(1000, 1)))
    assert all(abs(s.cost - share) <= biggest_group for s in shards)


def test_a_small_job_stays_one_shard() -> None:
    keys = keyframes_every(25, 60)  # every second
    targets = [s * SECOND for s in (3, 30)]  # two exact frames right on keyframes: 2 × (1 + render)
    rule = ShardRule(max_shards=2, min_frames=60)
    assert len(plan_shards(targets, keys, FrameType.NORMAL, SPAN, rule)) == 1
    assert len(plan_shards(targets, keys, FrameType.NORMAL, SPAN, ShardRule(2, 5))) == 2


def test_keyframe_jobs_cost_one_decode_per_gop() -> None:
    keys = keyframes_every(250, 600)
    targets = [s * SECOND for s in range(0, 600, 10)]  # 60 keyframe slots, every 10 s: 60 GOPs... of 10 s
    shards = plan_shards(targets, keys, FrameType.INTRA, SPAN, ShardRule(max_shards=2, min_frames=60))
    assert len(shards) == 2 and covers(shards, 60)
    assert sum(s.cost for s in shards) == len(gop_groups(targets, keys)) * (1 + RENDER_FRAMES)
    # 60 keyframe slots cost 300 frames: at least 60 a shard allows 5, the rule asks for 2
    assert len(plan_shards(targets, keys, FrameType.INTRA, SPAN, ShardRule(8, 60))) == 5


def test_without_an_index_every_target_may_be_cut() -> None:
    targets = [s * SECOND for s in range(12)]
    shards = plan_shards(targets, [], FrameType.NORMAL, SPAN, ShardRule(max_shards=3, min_frames=1))
    assert [(s.start, s.stop) for s in shards] == [(0, 4), (4, 8), (8, 12)]


def test_one_shard_means_no_cut() -> None:
    keys = keyframes_every(25, 60)
    targets = [s * SECOND for s in range(60)]
    assert len(plan_shards(targets, keys, FrameType.NORMAL, SPAN, ShardRule(1, 1))) == 1
    assert plan_shards([], keys, FrameType.NORMAL, SPAN, ShardRule(4, 1)) == []


FANOUT = ShardRule(max_shards=2, min_frames=60, fanout_min_targets=100, fanout_shards=8, processes=2)


def test_a_big_job_over_more_gops_than_processes_fans_out_into_the_clusters_shard_count() -> None:
    keys = keyframes_every(250, 600)  # 60 GOPs of 10 s
    targets = [s * SECOND for s in range(0, 600, 2)]  # 300 exact frames, 2 s apart
    cut = cut_job(targets, keys, FrameType.NORMAL, SPAN, FANOUT)
    assert cut.fan_out and len(cut.shards) == 8 and covers(cut.shards, len(targets))
    # the same job on a worker that does not fan out: its own two processes
    local = cut_job(targets, keys, FrameType.NORMAL, SPAN, replace(FANOUT, fanout_min_targets=0))
    assert not local.fan_out and len(local.shards) == 2


def test_fan_out_needs_both_many_targets_and_more_gops_than_processes() -> None:
    keys = keyframes_every(250, 600)
    few = [s * SECOND for s in range(0, 99)]  # 99 targets over 10 GOPs: below the threshold
    inside_two_gops = [s * SECOND // 10 for s in range(0, 200)]  # 200 targets in the first 20 s: 2 GOPs
    assert not cut_job(few, keys, FrameType.NORMAL, SPAN, FANOUT).fan_out
    assert not cut_job(inside_two_gops, keys, FrameType.NORMAL, SPAN, FANOUT).fan_out
    assert FANOUT.fans_out(100, 3) and not FANOUT.fans_out(100, 2) and not FANOUT.fans_out(99, 50)


def test_fan_out_cuts_are_no_smaller_than_the_least_work_per_shard() -> None:
    keys = keyframes_every(25, 600)  # 1 s GOPs: every keyframe target costs one frame and one render
    targets = [s * SECOND for s in range(0, 120)]
    rule = replace(FANOUT, fanout_shards=64, min_frames=60)
    cut = cut_job(targets, keys, FrameType.INTRA, SPAN, rule)
    assert cut.fan_out and len(cut.shards) == 120 * (1 + RENDER_FRAMES) // 60
