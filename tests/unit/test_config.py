"""Settings: read from a mapping, validated with a message naming the variable, passwords masked."""

from __future__ import annotations

import asyncio

import pytest

from service.__main__ import build_parser, run_event_loop
from service.config import ConfigError, Settings, describe


def test_defaults_point_at_local_services() -> None:
    settings = Settings.from_env({})

    assert settings.http.port == 8080
    assert settings.storage.backend == "local"
    assert settings.storage.root == "./data/storage"
    assert settings.amqp.url.startswith("amqp://")
    assert settings.runtime.startup_timeout_s == 0  # wait for PostgreSQL and RabbitMQ forever


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SNAPSHOTD_HTTP_PORT": "eighty"}, "SNAPSHOTD_HTTP_PORT"),
        ({"SNAPSHOTD_HTTP_PORT": "70000"}, "SNAPSHOTD_HTTP_PORT"),
        ({"SNAPSHOTD_STORAGE_BACKEND": "ftp"}, "SNAPSHOTD_STORAGE_BACKEND"),
        ({"SNAPSHOTD_DATABASE_URL": "mysql://x"}, "SNAPSHOTD_DATABASE_URL"),
        ({"SNAPSHOTD_WORKER_PROCESSES": "-1"}, "SNAPSHOTD_WORKER_PROCESSES"),
        ({"SNAPSHOTD_JOB_SHARDS": "-1"}, "SNAPSHOTD_JOB_SHARDS"),
        ({"SNAPSHOTD_SHARD_MIN_FRAMES": "0"}, "SNAPSHOTD_SHARD_MIN_FRAMES"),
        ({"SNAPSHOTD_JPEG_QUALITY": "100"}, "SNAPSHOTD_JPEG_QUALITY"),
        ({"SNAPSHOTD_EVENT_LOOP": "tokio"}, "SNAPSHOTD_EVENT_LOOP"),
        ({"SNAPSHOTD_CORS_ORIGINS": "*, https://a.example"}, "SNAPSHOTD_CORS_ORIGINS"),
        ({"SNAPSHOTD_CORS_ORIGINS": "https://a.example/player"}, "SNAPSHOTD_CORS_ORIGINS"),
        ({"SNAPSHOTD_CORS_ORIGINS": "a.example"}, "SNAPSHOTD_CORS_ORIGINS"),
        ({"SNAPSHOTD_CORS_ORIGINS": "ftp://a.example"}, "SNAPSHOTD_CORS_ORIGINS"),
        ({"SNAPSHOTD_CORS_ORIGINS": "https://a.example:99999"}, "SNAPSHOTD_CORS_ORIGINS"),
        ({"SNAPSHOTD_STARTUP_TIMEOUT_S": "-1"}, "SNAPSHOTD_STARTUP_TIMEOUT_S"),
        ({"SNAPSHOTD_STARTUP_TIMEOUT_S": "nan"}, "SNAPSHOTD_STARTUP_TIMEOUT_S"),
        ({"SNAPSHOTD_STARTUP_TIMEOUT_S": "soon"}, "SNAPSHOTD_STARTUP_TIMEOUT_S"),
        ({"SNAPSHOTD_API_PROCESSES": "-1"}, "SNAPSHOTD_API_PROCESSES"),
        # nonces in one process's memory cannot refuse a replay sent to another process
        (
            {"SNAPSHOTD_API_PROCESSES": "2", "SNAPSHOTD_NONCE_STORE": "memory", "SNAPSHOTD_ACCESS_KEYS": "a:b"},
            "SNAPSHOTD_NONCE_STORE",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("raw", "origins"),
    [
        ("*", None),
        (" * ", None),
        ("", frozenset()),
        # spelled as a browser's Origin header spells them: lower case, default port left out
        (
            "HTTPS://Player.Example:443, http://localhost:3000/",
            frozenset({"https://player.example", "http://localhost:3000"}),
        ),
        ("http://[::1]:8000", frozenset({"http://[::1]:8000"})),
    ],
)
def test_cors_origins_are_normalised(raw: str, origins: frozenset[str] | None) -> None:
    assert Settings.from_env({"SNAPSHOTD_CORS_ORIGINS": raw}).http.allowed_origins() == origins


def test_cors_origins_default_to_any() -> None:
    assert Settings.from_env({}).http.allowed_origins() is None


def test_masked_hides_passwords() -> None:
    settings = Settings.from_env({"SNAPSHOTD_AMQP_URL": "amqp://user:hunter2@broker:5672/vhost"})

    masked = settings.masked()
    assert "hunter2" not in str(masked)
    assert masked["SNAPSHOTD_AMQP_URL"] == "amqp://user:***@broker:5672/vhost"


def test_help_lists_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])

    printed = capsys.readouterr().out
    for variable, _, _ in describe():
        assert variable in printed


@pytest.mark.parametrize(("event_loop", "loop_module"), [("uvloop", "uvloop"), ("asyncio", "asyncio")])
def test_the_event_loop_setting_picks_the_loop(event_loop: str, loop_module: str) -> None:
    seen: list[str] = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    run_event_loop(main(), event_loop)

    assert len(seen) == 1 and seen[0].startswith(loop_module)


def test_an_unknown_variable_is_named_with_the_closest_setting() -> None:
    from service.config import unknown_variables

    env = {
        "SNAPSHOTD_WORKER_PROCESS": "2",
        "SNAPSHOTD_WORKER_PROCESSES": "2",
        "SNAPSHOTD_TEST_PG_URL": "x",
        "HOME": "/",
    }
    assert unknown_variables(env) == [("SNAPSHOTD_WORKER_PROCESS", "SNAPSHOTD_WORKER_PROCESSES")]


def test_the_command_warns_at_start_up_about_a_typo(pg_url: str) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SNAPSHOTD_DATABASE_URL": pg_url, "SNAPSHOTD_WORKER_PROCESS": "2"}
    done = subprocess.run(
        [sys.executable, "-m", "service", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert (
        "SNAPSHOTD_WORKER_PROCESS is not a setting and is ignored; did you mean SNAPSHOTD_WORKER_PROCESSES?"
        in done.stderr
    )


def test_api_processes_zero_means_one_per_cpu() -> None:
    assert Settings.from_env({"SNAPSHOTD_API_PROCESSES": "3"}).http.process_count == 3
    cpus = Settings.from_env({"SNAPSHOTD_WORKER_PROCESSES": "0"}).worker.pool_size  # the same count of CPUs
    assert Settings.from_env({"SNAPSHOTD_API_PROCESSES": "0"}).http.process_count == cpus
    # one process may keep its nonces in memory
    one = {"SNAPSHOTD_API_PROCESSES": "1", "SNAPSHOTD_NONCE_STORE": "memory", "SNAPSHOTD_ACCESS_KEYS": "a:b"}
    assert Settings.from_env(one).http.process_count == 1
