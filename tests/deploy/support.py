"""Shared helpers of the deployment tests: where the artifacts are, how to load them, which settings exist."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from service.config import describe

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
KEDA_COMPONENT = K8S / "components" / "keda"
#: not a resource of the kustomization on purpose: its example passwords must never be applied
SECRET_EXAMPLE = K8S / "secret.example.yaml"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
UV_LOCK = ROOT / "uv.lock"
#: what the project's wheel is built from: the image's builder copies these, the wheel test builds from them
BUILD_CONTEXT = ("pyproject.toml", "setup.py", "README.md", "service", "migrations")

#: Kubernetes version the manifests are validated against: the oldest one we support
KUBERNETES_VERSION = "1.30.0"

#: the worker's own process beside its capture processes: event loop, clients, upload buffers (~150 MiB seen)
WORKER_PARENT_MEMORY_MIB = 256

#: variables the service reads that are not SNAPSHOTD_* settings (botocore's standard chain)
AWS_VARIABLES = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})

Doc = dict[str, Any]


def known_settings() -> frozenset[str]:
    """Every SNAPSHOTD_* variable the code reads, from the single source of truth."""
    return frozenset(var for var, _default, _help in describe())


def load_docs(path: Path) -> list[Doc]:
    """The YAML documents of a file, empty documents dropped."""
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def manifest_files() -> list[Path]:
    """Every Kubernetes YAML file under k8s/ that is not a kustomization."""
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


def base_docs() -> list[Doc]:
    """The resources of the default kustomization (the plain files it lists)."""
    kustomization = load_docs(K8S / "kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in load_docs(K8S / name)]


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def workloads(docs: list[Doc]) -> Iterator[Doc]:
    yield from (d for d in docs if d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"))


def configmap_data() -> dict[str, str]:
    return dict(find(base_docs(), "ConfigMap", "snapshotd-config")["data"])


def secret_data(name: str) -> dict[str, str]:
    return dict(find(load_docs(SECRET_EXAMPLE), "Secret", name)["stringData"])


def container_env(doc: Doc) -> dict[str, str]:
    """The environment the (single) container of a workload sees: ConfigMap, Secret, then `env` overrides."""
    (container,) = pod_spec(doc)["containers"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            assert source["configMapRef"]["name"] == "snapshotd-config"
            env.update(configmap_data())
        if "secretRef" in source:
            env.update(secret_data(source["secretRef"]["name"]))
    for item in container.get("env", []):
        env[item["name"]] = item["value"]
    return env


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G)?$")
_FACTORS = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def quantity(value: str | int | float) -> float:
    """A Kubernetes quantity as a number: "500m" -> 0.5, "1Gi" -> 1073741824."""
    match = _QUANTITY.match(str(value))
    assert match, f"not a quantity: {value!r}"
    return float(match.group(1)) * _FACTORS[match.group(2)]


def tool(name: str) -> str | None:
    """An executable from the test venv (next to this interpreter) or PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)
