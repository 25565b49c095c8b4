"""Confirmed, persistent publishing of job dispatches and events (the outbox relay's sender).

A message counts as sent only when the broker confirms it (publisher confirms) within the timeout;
`mandatory=True` turns an unroutable message into an error instead of a silent drop. Any failure is
raised (or, for a batch, returned per message) as QueueUnavailable, which callers treat as retryable.

`publish_batch` is the relay's path: every message of a batch is written without waiting for the
socket to drain, and the confirms of the whole batch are awaited together (the broker acknowledges
many at once, `multiple=True`). aio-pika's `Exchange.publish` instead waits for each message's own
write under the channel's lock, so a batch went out one message, one write and one loop pass at a
time (measured alone: 376 µs of CPU per message that way, 329 µs this way; the rest is aiormq's and
pamqp's framing of each message).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractExchange

from service.errors import QueueUnavailable

log = logging.getLogger(__name__)

#: the exceptions a publish raises when the broker or the connection fails it
PUBLISH_ERRORS: tuple[type[BaseException], ...] = (
    TimeoutError,
    aio_pika.exceptions.AMQPError,
    aiormq.exceptions.AMQPError,
    ConnectionError,
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message of a batch, as the broker will receive it."""

    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    priority: int = 0
    #: a dispatch nobody can route is lost work (an error); an event nobody subscribed to is normal
    mandatory: bool = True


def properties(message_id: str, priority: int) -> aiormq.spec.Basic.Properties:
    """Every message: JSON, persistent (survives a broker restart), with its priority and MessageId."""
    return aiormq.spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT.value,
        priority=priority,
        message_id=message_id,
        headers={},
    )


async def publish_json(
    exchange: AbstractExchange,
    routing_key: str,
    body: object,
    *,
    timeout_s: float,
    priority: int = 0,
    message_id: str | None = None,
    mandatory: bool = True,
) -> None:
    """Publish one JSON message and wait for the broker's confirm (aio-pika's own path: one at a time).

    `mandatory` makes an unroutable message an error: right for jobs (a missing queue loses work),
    wrong for events (nobody subscribed is a normal state).
    """
    message = aio_pika.Message(
        orjson.dumps(body),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        priority=priority,
        message_id=message_id or uuid.uuid4().hex,
    )
    try:
        confirmation = await exchange.publish(message, routing_key, mandatory=mandatory, timeout=timeout_s)
    except PUBLISH_ERRORS as exc:
        raise QueueUnavailable(f"The broker did not confirm the message: {exc!r}") from exc
    if not isinstance(confirmation, aiormq.spec.Basic.Ack):
        raise QueueUnavailable(f"The broker refused the message: {confirmation!r}")


async def publish_batch(
    channel: AbstractChannel, messages: Sequence[Outgoing], *, timeout_s: float
) -> list[QueueUnavailable | None]:
    """Publish every message, then wait for all their confirms (within `timeout_s`, for the batch).

    The channel must have publisher confirms on. Returns, in order, None for each message the broker
    confirmed and the QueueUnavailable of each it did not: refused, returned as unroutable, timed out,
    or lost with the connection.
    """
    try:
        # aiormq's Channel: its basic_publish takes `wait`, which the abstract one does not declare.
        underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
    except PUBLISH_ERRORS as exc:
        error = QueueUnavailable(f"The broker channel is not usable: {exc!r}")
        return [error for _ in messages]
    results = await asyncio.gather(
        *(_publish(underlay, message, timeout_s) for message in messages), return_exceptions=True
    )
    out: list[QueueUnavailable | None] = []
    for result in results:
        if isinstance(result, QueueUnavailable | None):
            out.append(result)
        elif isinstance(result, Exception):
            out.append(QueueUnavailable(f"The broker did not confirm the message: {result!r}"))
        else:  # CancelledError and the like: not ours to swallow
            raise result
    return out


async def _publish(channel: aiormq.Channel, message: Outgoing, timeout_s: float) -> None:
    try:
        confirmation = await channel.basic_publish(
            message.body,
            exchange=message.exchange,
            routing_key=message.routing_key,
            properties=properties(message.message_id, message.priority),
            mandatory=message.mandatory,
            timeout=timeout_s,
            # queue the frames and go on: the confirm, not the socket's drain, says it was sent
            wait=False,
        )
    except PUBLISH_ERRORS as exc:
        raise QueueUnavailable(f"The broker did not confirm the message: {exc!r}") from exc
    if not isinstance(confirmation, aiormq.spec.Basic.Ack):
        raise QueueUnavailable(f"The broker refused the message: {confirmation!r}")
