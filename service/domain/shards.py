"""How a job's targets split into shards that run at once on a worker's capture processes. Pure.

A shard is a run of consecutive targets (in target order) that one process captures from its own open
input. Shards are GOP-aligned: targets whose answer follows from the same keyframe stay in one shard,
because two shards that share a GOP would both decode it. Each GOP is costed in decoded frames (the
frames from its keyframe to its last target for exact frames, the keyframe alone for keyframe jobs)
plus a fixed cost per image rendered, and consecutive GOPs are cut into at most `max_shards` shards of
about equal cost, none cheaper than `min_frames`: a shard costs an open of the input and a hand-over
of its images, which a small job does not earn back.

A job with many targets over more GOPs than the worker has processes fans out instead: it is cut into
up to `fanout_shards` shards that any worker of the cluster takes from the queue (`worker/fanout.py`).

The plan decides only where the work is cut, never what is captured: every shard picks its frames by
the engine's own rules, so a wrong cut (an index that lies, a container without one) costs decoding,
never a different image.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from service.domain.models import FrameType

#: what rendering one image costs against decoding one frame: a 1080p keyframe image (its decode, the
#: scaling to RGB and the encoding) takes as long as decoding 5.3 of the clip's P/B frames
#: (`benchmarks/scaling.py` prints both), so the render alone about 4
RENDER_FRAMES = 4


@dataclass(frozen=True, slots=True)
class ShardRule:
    """The worker's shard settings (SNAPSHOTD_JOB_SHARDS, SNAPSHOTD_SHARD_MIN_FRAMES), for one job."""

    #: most shards a job is cut into (1: never shard)
    max_shards: int
    #: least estimated work per shard, in decoded frames
    min_frames: int
    #: a job with at least this many targets over more GOPs than `processes` fans out (0: never)
    fanout_min_targets: int = 0
    #: most shards a fanned-out job is cut into
    fanout_shards: int = 0
    #: the worker's capture processes
    processes: int = 1

    def may_fan_out(self, targets: int) -> bool:
        """Whether a job of `targets` is big enough to fan out, GOPs permitting (`fans_out`)."""
        return 0 < self.fanout_min_targets <= targets

    def fans_out(self, targets: int, gops: int) -> bool:
        """Whether a job of `targets` over `gops` GOPs is worth more than this worker's processes."""
        return self.may_fan_out(targets) and gops > self.processes

    def across_workers(self) -> ShardRule:
        """The rule a fanned-out job is cut by: the cluster's shard count, the same least work per shard."""
        return ShardRule(max_shards=self.fanout_shards, min_frames=self.min_frames)


@dataclass(frozen=True, slots=True)
class Shard:
    """Targets `start` to `stop` (slice bounds into the job's target list) and their estimated cost."""

    start: int
    stop: int
    cost: float


def gop_groups(targets: Sequence[int], keyframes: Sequence[int]) -> list[tuple[int, int]]:
    """Slices of `targets` (increasing pts) that share the keyframe at or before them.

    Without keyframes (a container with no index) every target is its own group: cuts may then fall
    inside a GOP, which costs a little decoding twice.
    """
    groups: list[tuple[int, int]] = []
    last_gop: int | None = None
    for n, pts in enumerate(targets):
        gop = bisect.bisect_right(keyframes, pts) - 1 if keyframes else n
        if groups and gop == last_gop:
            groups[-1] = (groups[-1][0], n + 1)
        else:
            groups.append((n, n + 1))
        last_gop = gop
    return groups


def group_cost(
    targets: Sequence[int], keyframes: Sequence[int], group: tuple[int, int], frame_type: FrameType, frame_span: int
) -> float:
    """Frames decoded for one group, plus its images' rendering, in frame units."""
    start, stop = group
    if frame_type is FrameType.INTRA:
        # one keyframe decoded, one image (the later slots of the same GOP are dropped as no_keyframe)
        return 1 + RENDER_FRAMES
    images = stop - start
    if not keyframes or frame_span <= 0:
        return images * (1 + RENDER_FRAMES)
    gop = max(bisect.bisect_right(keyframes, targets[start]) - 1, 0)
    decoded = max(targets[stop - 1] - keyframes[gop], 0) // frame_span + 1
    return decoded + images * RENDER_FRAMES


@dataclass(frozen=True, slots=True)
class Cut:
    """How a job runs: its shards, and whether they go to the cluster (fan out) or the worker's pool."""

    shards: list[Shard]
    fan_out: bool = False


def cut_job(
    targets: Sequence[int],
    keyframes: Sequence[int],
    frame_type: FrameType,
    frame_span: int,
    rule: ShardRule,
) -> Cut:
    """The job's shards: across workers when it is big enough (`ShardRule.fans_out`), else over the pool.

    `targets` and `keyframes` are presentation times in one time base, increasing; `frame_span` is one
    frame's duration in it (0 when unknown).
    """
    groups = gop_groups(targets, keyframes)
    if rule.fans_out(len(targets), len(groups)):
        shards = plan_shards(targets, keyframes, frame_type, frame_span, rule.across_workers(), groups)
        if len(shards) > 1:
            return Cut(shards, fan_out=True)
    return Cut(plan_shards(targets, keyframes, frame_type, frame_span, rule, groups))


def plan_shards(
    targets: Sequence[int],
    keyframes: Sequence[int],
    frame_type: FrameType,
    frame_span: int,
    rule: ShardRule,
    groups: Sequence[tuple[int, int]] | None = None,
) -> list[Shard]:
    """Consecutive shards covering every target, GOP-aligned, of about equal cost (`cut_job`'s units)."""
    if not targets:
        return []
    if rule.max_shards <= 1:
        return [Shard(0, len(targets), 0.0)]
    groups = groups if groups is not None else gop_groups(targets, keyframes)
    costs = [group_cost(targets, keyframes, g, frame_type, frame_span) for g in groups]
    total = sum(costs)
    count = min(rule.max_shards, len(groups), int(total // max(rule.min_frames, 1)))
    if count <= 1:
        return [Shard(0, len(targets), total)]
    shards: list[Shard] = []
    first, done, acc = 0, 0.0, 0.0
    for n, cost in enumerate(costs):
        left_groups = len(costs) - n - 1
        left_shards = count - len(shards) - 1
        # cut after this group when the running cost is nearer the next share by cutting than by not
        share = total * (len(shards) + 1) / count
        ahead = costs[n + 1] if n + 1 < len(costs) else 0.0
        cut = left_shards > 0 and (
            left_groups == left_shards or abs(done + acc + cost - share) <= abs(done + acc + cost + ahead - share)
        )
        acc += cost
        if cut:
            shards.append(Shard(groups[first][0], groups[n][1], acc))
            done, acc, first = done + acc, 0.0, n + 1
    shards.append(Shard(groups[first][0], groups[-1][1], acc))
    return shards
