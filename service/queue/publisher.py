"""Confirmed, persistent publishing of job dispatches and events (the outbox relay's sender).

A message counts as sent only when the broker confirms it (publisher confirms) within the timeout;
`mandatory=True` turns an unroutable message into an error instead of a silent drop. Any failure is
raised as QueueUnavailable, which callers treat as retryable.
"""

from __future__ import annotations

import logging
import uuid

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractExchange

from service.errors import QueueUnavailable

log = logging.getLogger(__name__)


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
    """Publish one JSON message and wait for the broker's confirm.

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
    except (TimeoutError, aio_pika.exceptions.AMQPError, aiormq.exceptions.AMQPError, ConnectionError) as exc:
        raise QueueUnavailable(f"The broker did not confirm the message: {exc!r}") from exc
    if not isinstance(confirmation, aiormq.spec.Basic.Ack):
        raise QueueUnavailable(f"The broker refused the message: {confirmation!r}")
