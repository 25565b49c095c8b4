"""checkov's Kubernetes policies pass on k8s/ with zero failed checks.

Accepted findings are skipped in the manifests themselves (`checkov.io/skipN: CKV_K8S_xx=reason`
annotations), so each carries its justification. checkov pins old botocore/boto3 versions that conflict
with aiobotocore, so it cannot live in the project's venv: it is run from its own (`pipx install checkov`,
`uv tool install checkov`, or any venv whose `bin/` is on PATH, or named by $CHECKOV).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests.deploy.support import K8S, ROOT, load_docs, manifest_files

JSON = ("-o", "json")


def checkov() -> str:
    found = os.environ.get("CHECKOV") or shutil.which("checkov")
    if not found:
        pytest.skip("checkov is not installed (pipx install checkov, or set $CHECKOV)")
    return found


def test_no_failed_checks() -> None:
    env = {
        **os.environ,
        # Offline: don't fetch the Prisma Cloud guideline mapping (only needed for BC_* skip IDs).
        "BC_SKIP_MAPPING": "TRUE",
        "CHECKOV_NO_UPDATE_CHECK": "TRUE",
    }
    result = subprocess.run(
        [checkov(), "-d", str(K8S.relative_to(ROOT)), "--framework", "kubernetes", "--quiet", "--compact", *JSON],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
        check=False,
    )
    report: Any = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for item in reports
        for check in item.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)
    assert result.returncode == 0, result.stderr
    # --quiet drops passed checks from the output, so check the summary that something was scanned.
    assert sum(item["summary"]["passed"] for item in reports) > 0


def test_every_skip_is_justified() -> None:
    for path in manifest_files():
        for doc in load_docs(path):
            for key, value in doc["metadata"].get("annotations", {}).items():
                if key.startswith("checkov.io/skip"):
                    check_id, sep, reason = value.partition("=")
                    assert check_id.startswith("CKV") and sep and len(reason.strip()) > 10, f"{path.name}: {value}"
