"""The fault suite leaves the machine's own PostgreSQL and RabbitMQ alone: it has servers of its own."""

from __future__ import annotations

import pytest

from tests.conftest import AMQP_URL, PG_URL
from tests.faults.host_services import HostServices, listener, listening_ports, snapshot
from tests.faults.servers import PrivatePostgres, PrivateRabbitMQ

pytestmark = [pytest.mark.slow]

#: the host broker's usual ports: AMQP, distribution, management UI, Prometheus
RABBITMQ_HOST_PORTS = {5672, 25672, 15672, 15692}


def test_private_servers_use_their_own_ports(
    private_postgres: PrivatePostgres, private_rabbitmq: PrivateRabbitMQ
) -> None:
    node = listener(private_rabbitmq.port)
    assert node is not None and node.pid is not None
    # Only its AMQP and distribution ports: no management plugin, nothing the host broker uses.
    assert listening_ports(node.pid) == {private_rabbitmq.port, private_rabbitmq.dist_port}
    assert not RABBITMQ_HOST_PORTS & {private_rabbitmq.port, private_rabbitmq.dist_port}
    assert not private_rabbitmq.node.startswith("rabbit@")
    host_broker = listener(5672)
    assert host_broker is None or host_broker.pid != node.pid
    assert private_postgres.port != 5432
    assert listener(private_postgres.port) is not None


async def test_host_services_are_untouched(host_services_before: HostServices) -> None:
    """Runs last (tests/faults/conftest.py): same postmaster start time, same broker listener and process."""
    after = await snapshot(PG_URL, AMQP_URL)

    assert after == host_services_before
