"""Message routing names shared by the writers of the outbox, the broker topology and the workers.

A dispatch message only points at a row: `{"job_id": …}` for a snapshot job, `{"probe_job_id": …}` for a
probe job, `{"job_shard": "<job id>/<number>"}` for one shard of a job fanned out across workers. All
travel the one jobs queue to the same workers, which route on the key.
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
    SHARD = "job_shard"
    #: a fanned-out job's scratch objects, deleted after it ended (the net under its assembler's own delete)
    SCRATCH = "job_scratch"


def shard_id(job_id: str, number: int) -> str:
    """A job shard's id in its dispatch message and its lease calls: `<job id>/<number>`."""
    return f"{job_id}/{number}"


def scratch_message_id(job_id: str) -> str:
    """The message id of a fanned-out job's delayed scratch clean-up: one per job, withdrawn by id."""
    return f"{job_id}/scratch"


def parse_shard_id(value: str) -> tuple[str, int]:
    """(job id, shard number) of a shard id; ValueError when it is not one."""
    job_id, _, number = value.rpartition("/")
    if not job_id or not number.isdigit():
        raise ValueError(f"not a shard id: {value!r}")
    return job_id, int(number)


def dispatch_target(body: Mapping[str, Any]) -> tuple[Dispatch, str]:
    """(kind, row id) of a dispatch message body; KeyError/TypeError/ValueError when it names none (a
    shard id must read as one: a message no retry can make sense of goes to the dead letters)."""
    for kind in Dispatch:
        if kind.value in body:
            target = body[kind.value]
            if not isinstance(target, str) or not target:
                raise TypeError(f"the message's {kind.value} is not an id")
            if kind is Dispatch.SHARD:
                parse_shard_id(target)
            return kind, target
    raise KeyError("the message names no job")
