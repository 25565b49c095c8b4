"""schemathesis against `/openapi.json` of the real app (PostgreSQL, RabbitMQ): for every operation,
generated requests that fit the document must never get a 5xx, and every response must match the
document (status listed, content type, body schema).

schemathesis drives requests synchronously (`requests`), so it runs in a worker thread while the test's
event loop serves the app. Examples are derandomised so CI is reproducible; set
SNAPSHOTD_FUZZ_RANDOM=1 to explore new inputs, SNAPSHOTD_FUZZ_EXAMPLES to change the budget.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import hypothesis
import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.api.app import create_app
from service.api.docs import openapi
from service.api.rest import routes as rest
from service.config import Settings

pytestmark = [pytest.mark.pg, pytest.mark.amqp, pytest.mark.timeout(180)]

MAX_EXAMPLES = int(os.environ.get("SNAPSHOTD_FUZZ_EXAMPLES", "30"))
#: NUL characters in strings (refused with a 400); SNAPSHOTD_FUZZ_NUL=0 leaves them out
#: (see test_rest.py::test_nul_in_a_parameter_is_a_400)
ALLOW_NUL = os.environ.get("SNAPSHOTD_FUZZ_NUL", "1") != "0"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[TestServer]:
    app = create_app(settings)
    rest.add_routes(app.router)
    openapi.add_routes(app.router)
    async with TestServer(app) as server:
        yield server


def fuzz(base_url: str) -> list[str]:
    """Run every operation's examples; one failure report per failing operation."""
    # An explicit config: no schemathesis.toml picked up from the working directory.
    config = schemathesis.Config.from_dict({"generation": {"allow-x00": ALLOW_NUL}})
    schema = schemathesis.openapi.from_url(f"{base_url}{openapi.PATH}", config=config)
    failures: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()

            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=not os.environ.get("SNAPSHOTD_FUZZ_RANDOM"),
                # Shrinking can take minutes; the failure report already carries a curl reproduction.
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @hypothesis.given(case=operation.as_strategy())
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=base_url, session=session, checks=CHECKS, timeout=10)

            try:
                check()
            # schemathesis' FailureGroup is a BaseExceptionGroup, which `except Exception` would miss.
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label}: {exc}")
    return failures


async def test_every_operation_conforms_and_never_errors(server: TestServer) -> None:
    base_url = str(server.make_url("")).rstrip("/")
    failures = await asyncio.to_thread(fuzz, base_url)
    assert not failures, "\n\n".join(failures)
