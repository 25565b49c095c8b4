from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service.api.app import create_app
from service.config import Settings


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[TestClient]:
    """The real API app on a loopback port, with its PostgreSQL and RabbitMQ."""
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client
