"""Completion event envelope, MNS-style as ICE documents it (event list, §8.3 of the API notes).

The event name and MessageBody are an assumption: ICE publishes no SnapshotJob event schema, so we
follow the IMS envelope and VOD's `SnapshotComplete`. `MessageId` is fresh per event so consumers
can de-duplicate redeliveries.

These TypedDicts are the events' one declaration: the code builds payloads from them and the AsyncAPI
document (`GET /asyncapi.json`) is derived from them (service/events/schema.py), descriptions included.
A new event type is one MessageBody TypedDict and one entry of EVENT_TYPES.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypedDict, TypeVar, get_args, get_type_hints

from service.domain.models import JobStatus, SnapshotType
from service.domain.records import CaptureStats
from service.events.schema import Doc

#: ICE timestamps, as `ice_time` writes them: `yyyy-MM-ddTHH:mm:ssZ`, UTC
ICE_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"

#: the statuses a finished job reports, and so the second half of a completion event's routing key
FinalStatus = Literal[JobStatus.SUCCESS, JobStatus.FAIL]


class JobSummary(CaptureStats):
    """Dropped slots and Artifacts written; the capture's figures (GetSnapshotJob's Stats) when it ran."""

    Dropped: Annotated[int, Doc("Slots that produced no image.", minimum=0)]
    Artifacts: Annotated[int, Doc("Objects written.", minimum=0)]


class SnapshotCompleteBody(TypedDict):
    """A snapshot job reached its final state."""

    JobId: Annotated[str, Doc("The job's id, as SubmitSnapshotJob answered it.")]
    Status: Annotated[FinalStatus, Doc("The job's final status; also the routing key's second half.")]
    Code: Annotated[str, Doc("Why the job failed, an ICE error code; '' on success.")]
    Message: Annotated[str, Doc("The failure in words; '' on success.")]
    Type: Annotated[str, Doc("The snapshot type.", enum=[t.value for t in SnapshotType])]
    Count: Annotated[int, Doc("The job's Count, as GetSnapshotJob reports it.", minimum=0)]
    Output: Annotated[
        dict[str, Any],
        Doc(
            "The job's Output as submitted.",
            properties={"Type": {"type": "string"}, "Media": {"type": "string"}},
            required=["Media"],
            additionalProperties=True,
        ),
    ]
    UserData: Annotated[str, Doc("The UserData given at submission; '' when none was.")]
    Summary: Annotated[JobSummary, Doc("Counts, and the capture's figures for a job that ran.")]


class MediaInfoCompleteBody(TypedDict):
    """A probe job reached its final state: SubmitMediaInfoJob's, or the one RegisterMediaInfo starts."""

    JobId: Annotated[str, Doc("The probe job's id (GetMediaInfoJob).")]
    MediaId: Annotated[str, Doc("The media asset the probe's result was written to; '' for a probe of a URL.")]
    Status: Annotated[FinalStatus, Doc("The job's final status; also the routing key's second half.")]
    Code: Annotated[str, Doc("Why the probe failed, an ICE error code; '' on success.")]
    Message: Annotated[str, Doc("The failure in words; '' on success.")]
    Input: Annotated[
        dict[str, Any],
        Doc(
            "The job's Input: {Type: OSS, Media: url} or {Type: Media, Media: MediaId}.",
            properties={"Type": {"type": "string"}, "Media": {"type": "string"}},
            required=["Type", "Media"],
            additionalProperties=True,
        ),
    ]
    TriggerSource: Annotated[str, Doc("API (SubmitMediaInfoJob) or RegisterMediaInfo.")]
    UserData: Annotated[str, Doc("The UserData given at submission; '' when none was.")]
    FileBasicInfo: Annotated[
        dict[str, Any],
        Doc(
            "The file as GetMediaInfoJob's MediaInfoProperty.FileBasicInfo describes it (the SDK's strings: "
            "FileSize, Duration, Bitrate, Width, Height, FormatName, …); {} when the probe failed.",
            additionalProperties=True,
        ),
    ]


Body = TypeVar("Body")


class EventEnvelope(TypedDict, Generic[Body]):
    """MNS-style envelope: which event, when, for whom, and its MessageBody."""

    EventType: Annotated[str, Doc("The event type: which MessageBody follows; the routing key's first half.")]
    EventTime: Annotated[str, Doc("When the event was raised, UTC.", pattern=ICE_TIME_PATTERN)]
    UserId: Annotated[int, Doc("The account the job belongs to (SNAPSHOTD_EVENT_USER_ID).")]
    MessageId: Annotated[str, Doc("Fresh per event, and the AMQP message_id: de-duplicate redeliveries by it.")]
    Version: Annotated[Literal[1], Doc("The envelope's version.")]
    MessageBody: Body


@dataclass(frozen=True, slots=True)
class EventType:
    """One event type: its name (EventType, and its routing keys' first half) and its MessageBody."""

    name: str
    body: type[Any]
    summary: str

    @property
    def statuses(self) -> tuple[str, ...]:
        """The routing keys' second halves: the values of the body's `Status` Literal."""
        return tuple(str(status) for status in get_args(get_type_hints(self.body)["Status"]))

    def routing_keys(self) -> tuple[str, ...]:
        return tuple(f"{self.name}.{status}" for status in self.statuses)


SNAPSHOT_COMPLETE = EventType(
    "SnapshotComplete", SnapshotCompleteBody, "A snapshot job finished: Success (images written) or Fail."
)
MEDIA_INFO_COMPLETE = EventType(
    "MediaInfoComplete", MediaInfoCompleteBody, "A probe job finished: Success (the file described) or Fail."
)
#: every event type the service publishes on the events exchange, in the AsyncAPI document's order
EVENT_TYPES: tuple[EventType, ...] = (SNAPSHOT_COMPLETE, MEDIA_INFO_COMPLETE)


def final_status(status: JobStatus) -> FinalStatus:
    """A finished job's status, as an event reports it; an unfinished job has no completion event."""
    if status is JobStatus.SUCCESS or status is JobStatus.FAIL:
        return status
    raise ValueError(f"a {status.value} job has no completion event")


def ice_time(moment: datetime) -> str:
    """ICE's timestamp shape: `yyyy-MM-ddTHH:mm:ssZ`, UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(event: EventType, body: Body, *, user_id: int, now: datetime | None = None) -> EventEnvelope[Body]:
    return {
        "EventType": event.name,
        "EventTime": ice_time(now or datetime.now(UTC)),
        "UserId": user_id,
        "MessageId": uuid.uuid4().hex,
        "Version": 1,
        "MessageBody": body,
    }


def snapshot_complete(
    body: SnapshotCompleteBody, *, user_id: int, now: datetime | None = None
) -> EventEnvelope[SnapshotCompleteBody]:
    return envelope(SNAPSHOT_COMPLETE, body, user_id=user_id, now=now)


def media_info_complete(
    body: MediaInfoCompleteBody, *, user_id: int, now: datetime | None = None
) -> EventEnvelope[MediaInfoCompleteBody]:
    return envelope(MEDIA_INFO_COMPLETE, body, user_id=user_id, now=now)


def routing_key(event: EventEnvelope[Any]) -> str:
    """Topic routing key: `<EventType>.<Status>`, so subscribers can bind to `SnapshotComplete.*`."""
    return f"{event['EventType']}.{event['MessageBody']['Status']}"
