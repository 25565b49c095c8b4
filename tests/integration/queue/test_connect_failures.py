"""Opening the broker session: any failure to reach RabbitMQ is QueueUnavailable (retried at start-up),
a refusal of our credentials is DependencyMisconfigured (not retried), and nothing is left half-open."""

from __future__ import annotations

import asyncio
import dataclasses
from urllib.parse import urlsplit, urlunsplit

import pytest

from service.config import Settings
from service.errors import DependencyMisconfigured, QueueUnavailable
from service.queue.connection import open_session
from tests.tcp_proxy import proxy_to

pytestmark = [pytest.mark.amqp]


async def test_a_broker_cut_at_any_point_of_the_handshake_is_queue_unavailable(settings: Settings) -> None:
    # How many bytes the broker sends for a whole session (connection, channel, topology) ...
    async with proxy_to(settings.amqp.url) as whole:
        session = await open_session(dataclasses.replace(settings.amqp, url=whole.url(settings.amqp.url)), "probe")
        needed = whole.bytes_down
        await session.connection.close()
    assert needed > 300

    # ... then the same session with the broker's answer cut short at every 10th of those bytes.
    outcomes: dict[int, str] = {}
    for limit in range(0, needed, 10):
        async with proxy_to(settings.amqp.url, limit_bytes=limit) as cut:
            amqp = dataclasses.replace(settings.amqp, url=cut.url(settings.amqp.url))
            try:
                async with asyncio.timeout(15):
                    await (await open_session(amqp, "probe")).connection.close()
                outcomes[limit] = "connected"
            except QueueUnavailable:
                outcomes[limit] = "QueueUnavailable"
    assert {limit for limit, outcome in outcomes.items() if outcome != "QueueUnavailable"} == set()


async def test_a_broker_that_is_gone_is_queue_unavailable(settings: Settings) -> None:
    async with proxy_to(settings.amqp.url, cut="reset") as proxy:
        with pytest.raises(QueueUnavailable, match="not reachable"):
            await open_session(dataclasses.replace(settings.amqp, url=proxy.url(settings.amqp.url)), "probe")
    assert proxy.accepted == 1


async def test_wrong_credentials_are_not_worth_retrying(settings: Settings) -> None:
    parts = urlsplit(settings.amqp.url)
    wrong = urlunsplit(parts._replace(netloc=f"snapshotd-nobody:wrong@{parts.hostname}:{parts.port or 5672}"))

    with pytest.raises(DependencyMisconfigured, match="refused") as caught:
        await open_session(dataclasses.replace(settings.amqp, url=wrong), "probe")
    assert "wrong" not in caught.value.message  # the password is masked
