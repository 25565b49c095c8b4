"""k8s/: valid against the Kubernetes schemas (offline, kubernetes-validate), wired together, and sized.

KEDA's ScaledObject is a CRD without a bundled schema: its wiring is checked here instead.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from service.config import Settings
from tests.deploy.support import (
    AWS_VARIABLES,
    K8S,
    KEDA_COMPONENT,
    KUBERNETES_VERSION,
    SECRET_EXAMPLE,
    WORKER_PARENT_MEMORY_MIB,
    Doc,
    base_docs,
    configmap_data,
    container_env,
    find,
    known_settings,
    load_docs,
    manifest_files,
    pod_spec,
    quantity,
    secret_data,
    tool,
    workloads,
)

CRD_API_GROUPS = ("keda.sh/",)


def builtin_docs() -> list[tuple[Path, Doc]]:
    return [
        (path, doc)
        for path in manifest_files()
        for doc in load_docs(path)
        if not doc["apiVersion"].startswith(CRD_API_GROUPS)
    ]


@pytest.mark.parametrize(
    ("path", "doc"), builtin_docs(), ids=lambda v: v.name if isinstance(v, Path) else v["metadata"]["name"]
)
def test_valid_against_the_kubernetes_schema(path: Path, doc: Doc) -> None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_kustomization_lists_every_resource_file() -> None:
    (kustomization,) = load_docs(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    plain = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    # The example Secret is documented, never applied; KEDA is an opt-in component.
    assert listed == plain - {SECRET_EXAMPLE.name}
    assert not any("keda" in entry for entry in listed)
    assert "components" not in kustomization
    assert "namespace" not in kustomization


def test_resources_are_namespace_less() -> None:
    for path in manifest_files():
        for doc in load_docs(path):
            assert "namespace" not in doc["metadata"], f"{path.name}: {doc['metadata']['name']}"


def _kustomize(directory: Path) -> list[Doc]:
    kubectl = tool("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with built-in kustomize) is not installed")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_kustomize_renders_valid_resources() -> None:
    rendered = _kustomize(K8S)
    assert {(d["kind"], d["metadata"]["name"]) for d in rendered} == {
        (d["kind"], d["metadata"]["name"]) for d in base_docs()
    }
    images = {c["image"] for d in workloads(rendered) for c in pod_spec(d)["containers"]}
    assert len(images) == 1, images
    for doc in rendered:
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "snapshotd"
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_keda_component_renders_from_an_overlay(tmp_path: Path) -> None:
    base = os.path.relpath(K8S, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{base}]\ncomponents: [{base}/components/keda]\n",
        encoding="utf-8",
    )
    kinds = {d["kind"] for d in _kustomize(tmp_path)}
    assert {"ScaledObject", "TriggerAuthentication", "Deployment"} <= kinds


def test_every_setting_is_one_the_code_reads() -> None:
    env_names = set(configmap_data()) | set(secret_data("snapshotd-env"))
    for doc in workloads(base_docs()):
        env_names |= set(container_env(doc))
    unknown = {n for n in env_names if n.startswith("SNAPSHOTD_")} - known_settings()
    assert not unknown, sorted(unknown)
    assert not env_names - known_settings() - AWS_VARIABLES


@pytest.mark.parametrize("name", ["snapshotd-api", "snapshotd-worker", "snapshotd-migrate"])
def test_settings_validate(name: str, tmp_path: Path) -> None:
    """Each process would start with its environment (the api reads the mounted access-keys file)."""
    doc = next(d for d in workloads(base_docs()) if d["metadata"]["name"] == name)
    env = container_env(doc)
    mounts = {m["mountPath"]: m["name"] for m in pod_spec(doc)["containers"][0].get("volumeMounts", [])}
    keys_path = env["SNAPSHOTD_ACCESS_KEYS"]
    if Path(keys_path).parent.as_posix() in mounts:
        volume = next(v for v in pod_spec(doc)["volumes"] if v["name"] == mounts[Path(keys_path).parent.as_posix()])
        local = tmp_path / "access-keys"
        local.write_text(secret_data(volume["secret"]["secretName"])[Path(keys_path).name], encoding="utf-8")
        env["SNAPSHOTD_ACCESS_KEYS"] = str(local)
    settings = Settings.from_env(env)
    assert settings.http.host == "0.0.0.0"
    if name == "snapshotd-api":
        assert settings.auth.enabled and settings.auth.keys()


def test_secret_references_exist_in_the_example() -> None:
    names = {d["metadata"]["name"] for d in load_docs(SECRET_EXAMPLE)}
    for doc in workloads(base_docs()):
        spec = pod_spec(doc)
        for source in spec["containers"][0].get("envFrom", []):
            if "secretRef" in source:
                assert source["secretRef"]["name"] in names
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in names


@pytest.mark.parametrize("doc", list(workloads(base_docs())), ids=lambda d: d["metadata"]["name"])
def test_pod_security(doc: Doc) -> None:
    spec = pod_spec(doc)
    assert spec["automountServiceAccountToken"] is False
    account = find(base_docs(), "ServiceAccount", spec["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert isinstance(pod["runAsUser"], int) and pod["runAsUser"] > 0
    assert isinstance(pod["runAsGroup"], int) and pod["runAsGroup"] > 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    ctx = container["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["capabilities"] == {"drop": ["ALL"]}
    assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == pod["runAsUser"]
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in spec["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume


@pytest.mark.parametrize("doc", list(workloads(base_docs())), ids=lambda d: d["metadata"]["name"])
def test_image_resources_and_command(doc: Doc) -> None:
    (container,) = pod_spec(doc)["containers"]
    image = container["image"]
    assert "@sha256:" in image or (":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest")), image
    assert container["imagePullPolicy"] in ("Always", "IfNotPresent")
    # The image's ENTRYPOINT is `snapshotd`: workloads pick the command with args only.
    assert "command" not in container
    kind = doc["metadata"]["labels"]["app.kubernetes.io/component"]
    assert container["args"] == [kind]
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][section]), section
    assert quantity(container["resources"]["requests"]["cpu"]) <= quantity(container["resources"]["limits"]["cpu"])


def test_one_image_everywhere() -> None:
    images = {c["image"] for d in workloads(base_docs()) for c in pod_spec(d)["containers"]}
    assert len(images) == 1, images
    (kustomization,) = load_docs(K8S / "kustomization.yaml")
    assert [i["name"] for i in kustomization["images"]] == [images.pop().rsplit(":", 1)[0]]


def test_api_probes_drain_and_service() -> None:
    docs = base_docs()
    api = find(docs, "Deployment", "snapshotd-api")
    (container,) = pod_spec(api)["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert port["containerPort"] == int(configmap_data()["SNAPSHOTD_HTTP_PORT"])
    assert configmap_data()["SNAPSHOTD_HTTP_HOST"] == "0.0.0.0"
    delay = container["lifecycle"]["preStop"]["exec"]["command"]
    assert delay[0] == "sleep" and 0 < int(delay[1]) < pod_spec(api)["terminationGracePeriodSeconds"]
    service = find(docs, "Service", "snapshotd-api")
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_worker_liveness_is_the_heartbeat_probe() -> None:
    worker = find(base_docs(), "Deployment", "snapshotd-worker")
    (container,) = pod_spec(worker)["containers"]
    assert container["livenessProbe"]["exec"]["command"] == ["snapshotd", "worker-alive"]
    env = container_env(worker)
    assert env["SNAPSHOTD_HEARTBEAT_FILE"].startswith("/tmp/")
    assert env["SNAPSHOTD_SCRATCH_DIR"] == "/tmp"
    # Stale after 3 beats: probing less often than one beat would only delay detection.
    assert container["livenessProbe"]["periodSeconds"] >= float(env["SNAPSHOTD_HEARTBEAT_S"])


def test_worker_outlives_its_drain() -> None:
    worker = find(base_docs(), "Deployment", "snapshotd-worker")
    grace = float(container_env(worker)["SNAPSHOTD_SHUTDOWN_GRACE_S"])
    assert pod_spec(worker)["terminationGracePeriodSeconds"] > grace


def test_worker_is_sized_for_its_decoders() -> None:
    worker = find(base_docs(), "Deployment", "snapshotd-worker")
    env = container_env(worker)
    processes, threads = int(env["SNAPSHOTD_WORKER_PROCESSES"]), int(env["SNAPSHOTD_DECODE_THREADS"])
    assert processes > 0, "0 means one per node CPU on Python 3.11: set it explicitly"
    limits = pod_spec(worker)["containers"][0]["resources"]["limits"]
    assert quantity(limits["cpu"]) >= processes * max(threads, 1)
    # each capture process caps itself at the budget the settings give it: the pod must hold them all
    budget = Settings.from_env({k: v for k, v in env.items() if k.startswith("SNAPSHOTD_CAPTURE")}).worker
    needed_mib = processes * budget.capture_memory_mb + WORKER_PARENT_MEMORY_MIB
    assert quantity(limits["memory"]) >= needed_mib * 2**20


def test_migrate_job_uses_the_same_image() -> None:
    docs = base_docs()
    job = find(docs, "Job", "snapshotd-migrate")
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert job["spec"]["backoffLimit"] >= 1


def test_disruption_budgets_select_their_pods() -> None:
    docs = base_docs()
    for name in ("snapshotd-api", "snapshotd-worker"):
        budget = find(docs, "PodDisruptionBudget", name)
        deployment = find(docs, "Deployment", name)
        assert budget["spec"]["selector"] == deployment["spec"]["selector"]
        assert deployment["spec"]["template"]["metadata"]["labels"].items() >= (
            budget["spec"]["selector"]["matchLabels"].items()
        )


def test_api_autoscales_on_cpu() -> None:
    docs = base_docs()
    hpa = find(docs, "HorizontalPodAutoscaler", "snapshotd-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "snapshotd-api"}
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert hpa["spec"]["minReplicas"] >= 2
    # The HPA owns the count; a `replicas` here would reset it on every apply.
    assert "replicas" not in find(docs, "Deployment", "snapshotd-api")["spec"]


def test_keda_scales_the_worker_on_its_queue() -> None:
    docs = [doc for path in sorted(KEDA_COMPONENT.glob("*.yaml")) for doc in load_docs(path)]
    component = next(d for d in docs if d["kind"] == "Component")
    assert component["apiVersion"] == "kustomize.config.k8s.io/v1alpha1"
    scaled = find(docs, "ScaledObject", "snapshotd-worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "snapshotd-worker"
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == configmap_data()["SNAPSHOTD_AMQP_JOBS_QUEUE"] == "snapshotd.jobs"
    assert trigger["metadata"]["mode"] == "QueueLength"
    auth = find(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "host"
    assert ref["key"] in secret_data(ref["name"])
