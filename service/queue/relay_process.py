"""`snapshotd relay`: the outbox relay alone, woken by the API's notifications (SNAPSHOTD_API_RELAY=none).

It publishes what the API (and the workers) put in the outbox and sweeps expired leases, like the relay
inside an API process, but on its own core: the API's event loop then serves requests only. Any number
can run (rows are shared out with SKIP LOCKED). It starts before PostgreSQL and RabbitMQ and waits for
both, and SIGTERM stops it after the batch in flight (what it did not delete is published again).
"""

from __future__ import annotations

import asyncio
import logging
import os

from service.config import Settings
from service.queue.relay import RELAY_LANES, OutboxRelay
from service.queue.wakeup import listen
from service.signals import finish, stop_on_signals
from service.store.pool import create_empty_pool

log = logging.getLogger(__name__)

#: after a notification, rows are let gather this long before a batch is taken: measured at 1,000
#: submits/s, a relay taking each notification's one or two rows at once cost more CPU, its own and
#: PostgreSQL's, than the API's relay did inline
LINGER_S = 0.005


async def run_relay(settings: Settings, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    pool = await create_empty_pool(settings.database, max_size=RELAY_LANES)
    relay = OutboxRelay(
        pool,
        settings.amqp,
        name=f"snapshotd-relay {os.getpid()}",
        sweep_every_s=settings.worker.lease_s / 2,
        lanes=RELAY_LANES,
        linger_s=LINGER_S,
    )
    tasks = [
        asyncio.create_task(relay.run(stop), name="outbox relay"),
        asyncio.create_task(listen(settings.database, relay.poke, stop), name="outbox listener"),
    ]
    log.info("relay started (pid %d)", os.getpid())
    try:
        await stop.wait()
    finally:
        stop.set()
        await finish(tasks)
        await pool.close()
    log.info("relay stopped")
