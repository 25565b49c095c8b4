"""Opening the RabbitMQ connection with a clear error when the broker is unreachable."""

from __future__ import annotations

import logging

import aio_pika
from aio_pika.abc import AbstractRobustConnection

from service.config import AmqpSettings, mask_url
from service.errors import QueueUnavailable

log = logging.getLogger(__name__)


async def connect(settings: AmqpSettings, name: str) -> AbstractRobustConnection:
    """A robust (auto-reconnecting) connection, named so it is recognisable in the management UI."""
    try:
        connection = await aio_pika.connect_robust(settings.url, client_properties={"connection_name": name})
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        raise QueueUnavailable(f"RabbitMQ at {mask_url(settings.url)} is not reachable: {exc!r}") from exc
    log.info("connected to RabbitMQ at %s as %s", mask_url(settings.url), name)
    return connection
