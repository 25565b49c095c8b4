"""Completion event envelope, MNS-style as ICE documents it (event list, §8.3 of the API notes).

The event name and MessageBody are an assumption: ICE publishes no SnapshotJob event schema, so we
follow the IMS envelope and VOD's `SnapshotComplete`. `MessageId` is fresh per event so consumers
can de-duplicate redeliveries.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, TypedDict

EVENT_TYPE = "SnapshotComplete"


class SnapshotCompleteBody(TypedDict):
    JobId: str
    Status: str
    Code: str
    Message: str
    Type: str
    Count: int
    Output: dict[str, Any]
    UserData: str
    Summary: dict[str, Any]


class EventEnvelope(TypedDict):
    EventType: str
    EventTime: str
    UserId: int
    MessageId: str
    Version: int
    MessageBody: SnapshotCompleteBody


def ice_time(moment: datetime) -> str:
    """ICE's timestamp shape: `yyyy-MM-ddTHH:mm:ssZ`, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def snapshot_complete(body: SnapshotCompleteBody, *, user_id: int, now: datetime | None = None) -> EventEnvelope:
    return {
        "EventType": EVENT_TYPE,
        "EventTime": ice_time(now or datetime.now(UTC)),
        "UserId": user_id,
        "MessageId": uuid.uuid4().hex,
        "Version": 1,
        "MessageBody": body,
    }


def routing_key(envelope: EventEnvelope) -> str:
    """Topic routing key: `<EventType>.<Status>`, so subscribers can bind to `SnapshotComplete.*`."""
    return f"{envelope['EventType']}.{envelope['MessageBody']['Status']}"
