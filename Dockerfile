# syntax=docker/dockerfile:1.7
# One image for every process kind: `api` (the default), `worker`, `migrate`, `up`, `worker-alive`.
#   docker build -t snapshotd:local .
#   docker run --rm snapshotd:local --help
# Layout (after astral-sh/uv-docker-example multistage.Dockerfile, with uv's "non-editable installs" for a
# multi-stage build): the project is installed into /app/.venv as the wheel `pip install .` would build, SQL
# migrations included (package data: migrations/ becomes `service.migrations`, see setup.py), and the runtime
# gets that venv only, no source tree.

# The base is pinned by digest so a rebuild gets the same interpreter and Debian packages. This digest was
# copied, not pulled (no registry access where it was written): refresh it with
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# and paste the index digest ("Digest:") here; builder and runtime must stay on the same image, because
# the venv's `python` symlinks to /usr/local/bin/python3.11.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# uv only exists in the builder. Its version matches the one that wrote uv.lock (lock format revision).
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

FROM ${PYTHON_IMAGE} AS builder
COPY --from=uv /uv /uvx /bin/
# Bytecode is compiled at build time: the runtime root filesystem is read-only. Copy mode, because the
# cache mount is a different filesystem from /app. Never download a Python: use the base image's.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=0 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, from the lock only: this layer is reused until uv.lock or pyproject.toml change.
# --locked fails the build when uv.lock is out of date with pyproject.toml (run `uv lock`).
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-install-project --no-dev
# README.md is part of the project metadata (pyproject `readme`), so the build needs it; setup.py maps
# migrations/ into the package.
COPY pyproject.toml uv.lock README.md setup.py ./
COPY service ./service
COPY migrations ./migrations
# Then the project itself, not editable: a wheel built from /app and installed into the venv (bytecode
# compiled by UV_COMPILE_BYTECODE), so the venv holds everything the service runs, its migrations too.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable


FROM ${PYTHON_IMAGE} AS runtime
# A fixed numeric UID/GID (> 10000, so it clashes with no host user) that Kubernetes' runAsUser repeats.
RUN groupadd --system --gid 10001 snapshotd \
 && useradd --system --no-log-init --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin snapshotd
# Owned by root and not writable by the service user: the code cannot be modified at run time.
COPY --from=builder /app/.venv /app/.venv
WORKDIR /app
ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SNAPSHOTD_HTTP_HOST=0.0.0.0 \
    SNAPSHOTD_SCRATCH_DIR=/tmp
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["snapshotd"]
CMD ["api"]
