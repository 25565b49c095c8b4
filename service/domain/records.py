"""The engine's results in the API's vocabulary: one naming for every surface that shows them.

GetSnapshotJob (`Images`, `DroppedSlots`, `Artifacts`, `Stats`), the completion event's `Summary` and
`snapshotd run --report` all show a capture through these functions, so a field is spelt the same way
everywhere (`RequestedMs`, never `requested_ms` in one place and `RequestedMs` in another). Pure.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypedDict

from service.domain.fields import pascal_case
from service.domain.models import Artifact, CaptureResult, DroppedSlot, ImageRecord

#: engine field names whose API name is not simply their capitalised parts
_NAMES = {"keyframe": "KeyFrame"}


def api_names(record: ImageRecord | DroppedSlot) -> dict[str, Any]:
    """A record with the API's names, unset optional fields left out."""
    return {_NAMES.get(key) or pascal_case(key): value for key, value in asdict(record).items() if value is not None}


def artifact_record(artifact: Artifact) -> dict[str, Any]:
    """A written file as the job records it (GetSnapshotJob's `Artifacts`)."""
    record: dict[str, Any] = {"Key": artifact.key, "ContentType": artifact.content_type, "Bytes": artifact.bytes}
    if artifact.stream_inf:
        record["StreamInf"] = artifact.stream_inf
    return record


class CaptureStats(TypedDict, total=False):
    """What a capture cost (a job's `Stats`; absent for a job that never ran): the input's duration, the
    frames decoded and the non-reference ones skipped on the way, the input bytes read, the capture's
    wall time, the shards it ran as, the capture processes they ran in and the workers those were on."""

    DurationMs: int
    FramesDecoded: int
    FramesSkipped: int
    BytesRead: int
    CaptureMs: int
    Shards: int
    Processes: int
    Workers: int


def capture_stats(result: CaptureResult) -> CaptureStats:
    """What the capture cost: a job's `Stats`, and the event's `Summary` with the counts added."""
    return {
        "DurationMs": result.duration_ms,
        "FramesDecoded": result.frames_decoded,
        "FramesSkipped": result.frames_skipped,
        "BytesRead": result.bytes_read,
        "CaptureMs": result.capture_ms,
        "Shards": result.shards,
        "Processes": result.processes,
        "Workers": result.worker_count,
    }
