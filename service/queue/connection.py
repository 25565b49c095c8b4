"""Opening the RabbitMQ connection (and a channel with the topology), with failures translated once.

Any failure to connect is QueueUnavailable, which start-up retries (service/retry.py): besides
OSError and AMQPError, aiormq was seen raising StopAsyncIteration when a proxy in front of the broker
loses its upstream mid-handshake, so nothing narrower is safe. Only a refusal an operator must fix
(wrong credentials, no authentication mechanism in common, a queue declared with other arguments)
is DependencyMisconfigured, which is not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.connection import make_url

from service.config import AmqpSettings, mask_url
from service.errors import DependencyMisconfigured, QueueUnavailable
from service.queue import topology
from service.queue.topology import Topology

log = logging.getLogger(__name__)

#: a first connection attempt that has not completed by then failed (aio-pika waits forever)
CONNECT_TIMEOUT_S = 10.0

#: the broker said no, and will say it again: access refused (403), or no common auth mechanism;
#: a queue redeclared with other arguments (406) or a vhost we may not configure (403 on a channel)
MISCONFIGURED: tuple[type[BaseException], ...] = (
    aiormq.exceptions.ProbableAuthenticationError,
    aiormq.exceptions.AuthenticationError,
    aiormq.exceptions.ChannelPreconditionFailed,
    aiormq.exceptions.ChannelAccessRefused,
)


@contextlib.contextmanager
def reaching(settings: AmqpSettings) -> Iterator[None]:
    try:
        yield
    except MISCONFIGURED as exc:
        raise DependencyMisconfigured(f"RabbitMQ at {mask_url(settings.url)} refused: {exc!r}") from exc
    except Exception as exc:
        raise QueueUnavailable(f"RabbitMQ at {mask_url(settings.url)} is not reachable: {exc!r}") from exc


async def connect(settings: AmqpSettings, name: str) -> AbstractRobustConnection:
    """A robust (auto-reconnecting) connection, named so it is recognisable in the management UI.

    Built by hand rather than with `aio_pika.connect_robust`, to hold the connection while its first
    attempt runs: an attempt that fails, times out or is cancelled (start-up's own time limit, or
    `stop`) closes it, where connect_robust would leave it reconnecting in the background, out of
    reach, and ignoring the cancellation that ends the event loop.
    """
    connection = aio_pika.RobustConnection(make_url(settings.url), client_properties={"connection_name": name})
    try:
        with reaching(settings):
            await connection.connect(timeout=CONNECT_TIMEOUT_S)
    except BaseException:
        # Shielded: a second cancellation arriving mid-close (the attempt's own cancel, then its
        # caller's) would leave the connection half-closed, to be garbage-collected with a pending task.
        with contextlib.suppress(Exception):
            await asyncio.shield(connection.close())
        raise
    log.info("connected to RabbitMQ at %s as %s", mask_url(settings.url), name)
    return connection


@dataclass(frozen=True, slots=True)
class BrokerSession:
    connection: AbstractRobustConnection
    channel: AbstractChannel
    topology: Topology
    #: the jobs-queue consumer's tag, when the session was opened with a consumer
    consumer_tag: str | None = None


async def open_session(
    settings: AmqpSettings,
    name: str,
    *,
    prefetch: int = 0,
    consumer: Callable[[AbstractIncomingMessage], Awaitable[None]] | None = None,
) -> BrokerSession:
    """Connect, open a confirming channel (QoS `prefetch` when set), declare the topology and, given a
    `consumer`, consume the jobs queue. A broker lost half-way is QueueUnavailable like a broker never
    reached, and nothing is left open."""
    connection = await connect(settings, name)
    try:
        with reaching(settings):
            channel = await connection.channel(publisher_confirms=True)
            if prefetch:
                await channel.set_qos(prefetch_count=prefetch)
            declared = await topology.declare(channel, settings)
            tag = await declared.jobs_queue.consume(consumer) if consumer is not None else None
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(connection.close())
        raise
    return BrokerSession(connection, channel, declared, tag)
