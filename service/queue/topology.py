"""Every exchange and queue snapshotd uses, declared in one place.

Declarations are idempotent and run at API and worker start-up alike, so whichever starts first
creates the topology and the other finds it:

    jobs exchange (direct) ──"job"──▶ jobs queue (durable, priorities 1..10) ──dead letters──▶
        <jobs exchange>.dlx (fanout) ──▶ <jobs queue>.dead
    events exchange (topic): routing key "<EventType>.<Status>", e.g. "SnapshotComplete.Success"
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from service.config import AmqpSettings
from service.domain.request_fields import PRIORITY
from service.domain.routing import JOB_ROUTING_KEY

#: pipeline Priority maps straight onto AMQP message priority
MAX_PRIORITY = PRIORITY.high
#: subscribers bind by pattern (`SnapshotComplete.*`), and the exchange outlives broker restarts; the
#: AsyncAPI document describes the exchange from these
EVENTS_EXCHANGE_TYPE = aio_pika.ExchangeType.TOPIC
EVENTS_EXCHANGE_DURABLE = True


@dataclass(frozen=True, slots=True)
class Topology:
    jobs_exchange: AbstractExchange
    jobs_queue: AbstractQueue
    events_exchange: AbstractExchange


async def declare(channel: AbstractChannel, settings: AmqpSettings) -> Topology:
    """Declare (or find) the whole topology on `channel`."""
    dlx_name = f"{settings.jobs_exchange}.dlx"
    dlx = await channel.declare_exchange(dlx_name, aio_pika.ExchangeType.FANOUT, durable=True)
    dead = await channel.declare_queue(f"{settings.jobs_queue}.dead", durable=True)
    await dead.bind(dlx)

    jobs_exchange = await channel.declare_exchange(settings.jobs_exchange, aio_pika.ExchangeType.DIRECT, durable=True)
    jobs_queue = await channel.declare_queue(
        settings.jobs_queue,
        durable=True,
        arguments={"x-max-priority": MAX_PRIORITY, "x-dead-letter-exchange": dlx_name},
    )
    await jobs_queue.bind(jobs_exchange, routing_key=JOB_ROUTING_KEY)

    events_exchange = await channel.declare_exchange(
        settings.events_exchange, EVENTS_EXCHANGE_TYPE, durable=EVENTS_EXCHANGE_DURABLE
    )
    return Topology(jobs_exchange, jobs_queue, events_exchange)
