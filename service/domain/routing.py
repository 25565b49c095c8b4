"""Message routing names shared by the writers of the outbox, the broker topology and the workers.

A dispatch message only points at a row: `{"job_id": …}` for a snapshot job, `{"probe_job_id": …}` for a
probe job. Both travel the one jobs queue to the same workers, which route on the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

#: routing key of job dispatch messages on the jobs exchange
JOB_ROUTING_KEY = "job"


class Dispatch(StrEnum):
    """What a dispatch message points at: the key its body names the row by."""

    SNAPSHOT = "job_id"
    PROBE = "probe_job_id"


def dispatch_target(body: Mapping[str, Any]) -> tuple[Dispatch, str]:
    """(kind, row id) of a dispatch message body; KeyError/TypeError when it names none."""
    for kind in Dispatch:
        if kind.value in body:
            return kind, str(body[kind.value])
    raise KeyError("the message names no job")
