"""The API benchmark (benchmarks/api/): it signs with the service's own signer, its load generator gets
answers the service accepts, and a short run goes from set-up to report to clean-up."""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from benchmarks.api import loadgen, wire
from service.api.app import create_app
from service.config import Settings
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


@pytest.fixture
async def signed_api(base_env: dict[str, str]) -> AsyncIterator[TestServer]:
    """The API with the benchmark's access key, and only that one."""
    settings = Settings.from_env({**base_env, "SNAPSHOTD_ACCESS_KEYS": f"{wire.KEY_ID}:{wire.SECRET}"})
    async with TestServer(create_app(settings)) as server:
        yield server


def test_no_benchmark_carries_a_signer_of_its_own() -> None:
    for path in BENCHMARKS.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert "hmac" not in imported, f"{path.relative_to(ROOT)} signs by hand: use service.api.auth.signing"
    assert wire.sign_v3.__module__ == "service.api.auth.signing"


async def test_benchmark_calls_are_accepted_and_a_changed_query_is_not(signed_api: TestServer) -> None:
    port = signed_api.port
    assert port is not None
    async with aiohttp.ClientSession() as session:
        status, submitted = await wire.call(session, port, "SubmitSnapshotJob", wire.submit_query(Count=1))
        assert status == 200, submitted
        status, job = await wire.call(session, port, "GetSnapshotJob", [("JobId", submitted["JobId"])])
        assert status == 200, job
        assert job["SnapshotJob"]["JobId"] == submitted["JobId"]

        # The signature covers the query: the same headers over another job id are refused.
        host = f"127.0.0.1:{port}"
        headers = wire.Signer(host).headers("GetSnapshotJob", [("JobId", submitted["JobId"])])
        async with session.post(wire.action_url(host, [("JobId", "other")]), headers=headers) as response:
            refused = await response.json()
        assert (response.status, refused["Code"]) == (400, "SignatureDoesNotMatch"), refused


async def test_the_load_generator_gets_only_successes(
    signed_api: TestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    loadgen.add_arguments(parser)
    opts = parser.parse_args([f"--port={signed_api.port}", "--mode=closed", "--duration=1", "--concurrency=2"])

    await loadgen.loadgen(opts)

    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["START", "STOP"]
    result = json.loads(lines[2].removeprefix("RESULT "))
    assert result["ok"] > 0 and result["errors"] == {}, result
    assert result["latency_ms"]["p50"] > 0


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_short_run_reports_every_phase_and_cleans_up(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.api_throughput",
        *("--log-levels", "WARNING", "--concurrency", "2", "--ramp-duration", "1", "--warmup", "0.5"),
        *("--rates", "20", "--duration", "1", "--e2e-jobs", "1", "--e2e-warmup", "0", "--profile", "never"),
        *("--quiet-wait", "0", "--json", str(figures), "--api-processes", "2", "--relay-messages", "300"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 280)
    text = output.decode()

    assert process.returncode == 0, text
    results = json.loads(figures.read_text(encoding="utf-8"))
    (suite,) = results["suites"]
    assert [run["concurrency"] for run in suite["closed"]] == [2]
    assert [run["offered_rate"] for run in suite["open"]] == [20]
    for run in suite["closed"] + suite["open"]:
        assert run["ok"] > 0 and run["errors"] == {}, run
        assert run["cpu_cores"].get("snapshotd api", 0) > 0, run["cpu_cores"]
    assert suite["api_processes"] == 2
    assert suite["relay"]["messages"] == 300 and suite["relay"]["msgs_per_s"] > 0, suite["relay"]
    assert suite["relay"]["queued"] == 300  # every dispatch reached the jobs queue
    assert results["e2e"]["jobs"] == 1 and results["e2e"]["failed"] == 0
    assert "snapshotd API throughput — summary" in text
    name = next(line.split()[1].rstrip(",") for line in text.splitlines() if line.startswith("database "))
    connection = await asyncpg.connect(PG_URL)
    try:
        assert await connection.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 0
    finally:
        await connection.close()
