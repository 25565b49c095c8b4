"""docker-compose.yml for laptops: known settings only, the same ones as Kubernetes, healthchecks, start order.

`docker compose config` is not available here (no Compose plugin), so the file is read with PyYAML
(which resolves the `<<:` merge keys the file uses, as Compose does).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from service.config import Settings
from tests.deploy.support import (
    AWS_VARIABLES,
    COMPOSE,
    configmap_data,
    known_settings,
    load_docs,
    secret_data,
)

#: services that run until stopped, each needing a healthcheck
LONG_RUNNING = ("postgres", "rabbitmq", "minio", "api", "worker")
#: services that run once and must exit 0
ONE_SHOT = ("migrate", "createbucket")
SNAPSHOTD_SERVICES = ("migrate", "api", "worker")


def compose() -> dict[str, Any]:
    (doc,) = load_docs(COMPOSE)
    return doc


def services() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


def environment(service: str) -> dict[str, str]:
    env = services()[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment must be a mapping"
    return {str(k): str(v) for k, v in env.items()}


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)", value)
    assert match, value
    return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[match.group(2)]


def test_expected_services() -> None:
    assert set(services()) == set(LONG_RUNNING) | set(ONE_SHOT)


@pytest.mark.parametrize("service", SNAPSHOTD_SERVICES)
def test_every_snapshotd_variable_is_a_setting_the_code_reads(service: str) -> None:
    env = environment(service)
    unknown = {k for k in env if k.startswith("SNAPSHOTD_")} - known_settings()
    assert not unknown, f"{service} sets variables no code reads: {sorted(unknown)}"
    assert not set(env) - known_settings() - AWS_VARIABLES, "only SNAPSHOTD_* and AWS_* variables"


@pytest.mark.parametrize("service", SNAPSHOTD_SERVICES)
def test_settings_validate(service: str) -> None:
    """The service would start with this environment: Settings.from_env accepts it."""
    settings = Settings.from_env(environment(service))
    assert settings.storage.backend == "s3"
    assert settings.http.host == "0.0.0.0"


def test_same_settings_as_kubernetes() -> None:
    kubernetes = set(configmap_data()) | set(secret_data("snapshotd-env"))
    for service in SNAPSHOTD_SERVICES:
        assert set(environment(service)) == kubernetes, service
    shared = ("SNAPSHOTD_WORKER_PROCESSES", "SNAPSHOTD_DECODE_THREADS", "SNAPSHOTD_SHUTDOWN_GRACE_S")
    for name in (*shared, "SNAPSHOTD_AMQP_JOBS_QUEUE", "SNAPSHOTD_HEARTBEAT_FILE", "SNAPSHOTD_AUTH"):
        assert environment("api")[name] == configmap_data()[name], name


def test_one_image_for_every_snapshotd_service() -> None:
    images = {services()[s]["image"] for s in SNAPSHOTD_SERVICES}
    assert images == {"snapshotd:local"}
    for service in SNAPSHOTD_SERVICES:
        assert services()[service]["build"] == "."
    commands = {s: services()[s]["command"] for s in SNAPSHOTD_SERVICES}
    assert commands == {"migrate": ["migrate"], "api": ["api"], "worker": ["worker"]}


@pytest.mark.parametrize("service", SNAPSHOTD_SERVICES)
def test_hardened_like_kubernetes(service: str) -> None:
    spec = services()[service]
    assert spec["read_only"] is True
    assert "/tmp" in spec["tmpfs"]
    assert spec["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in spec["security_opt"]
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", spec["user"])


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_long_running_services_have_healthchecks(service: str) -> None:
    check = services()[service].get("healthcheck")
    assert check and check.get("test"), f"{service} has no healthcheck"
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert not check.get("disable")


def test_healthchecks_use_the_service_probes() -> None:
    api = " ".join(services()["api"]["healthcheck"]["test"])
    assert "/readyz" in api and "8080" in api
    assert services()["worker"]["healthcheck"]["test"] == ["CMD", "snapshotd", "worker-alive"]


@pytest.mark.parametrize("service", LONG_RUNNING + ONE_SHOT)
def test_image_tags_are_pinned(service: str) -> None:
    image = services()[service]["image"]
    assert ":" in image and not image.endswith(":latest"), image


def test_start_order() -> None:
    def depends(service: str) -> dict[str, str]:
        return {name: spec["condition"] for name, spec in services()[service].get("depends_on", {}).items()}

    assert depends("migrate") == {"postgres": "service_healthy"}
    assert depends("createbucket") == {"minio": "service_healthy"}
    for service in ("api", "worker"):
        assert depends(service) == {
            "migrate": "service_completed_successfully",
            "rabbitmq": "service_healthy",
            "createbucket": "service_completed_successfully",
        }, service
    for service in ONE_SHOT:
        assert services()[service].get("restart", "no") == "no", f"{service} must run once"


def test_worker_gets_its_drain_time_on_stop() -> None:
    grace = float(environment("worker")["SNAPSHOTD_SHUTDOWN_GRACE_S"])
    assert seconds(services()["worker"]["stop_grace_period"]) > grace


def test_rabbitmq_has_the_management_ui() -> None:
    rabbitmq = services()["rabbitmq"]
    assert rabbitmq["image"].split(":")[1].endswith("management")
    assert any(str(p).endswith(":15672") for p in rabbitmq["ports"])


def test_bucket_is_created_once() -> None:
    createbucket = services()["createbucket"]
    assert createbucket["image"].startswith("minio/mc:")
    assert "mc mb --ignore-existing local/media" in " ".join(createbucket["command"])


@pytest.mark.parametrize("service", sorted(LONG_RUNNING))
def test_published_ports_bind_to_loopback(service: str) -> None:
    for port in services()[service].get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"{service} publishes {port} beyond the laptop"
