"""Prometheus metrics: every metric the service exports, defined in one place.

The API serves them at `/metrics`; a separate worker process serves its own on
`SNAPSHOTD_WORKER_METRICS_PORT`. In `snapshotd up` both live in one process and one registry.
Gauges that describe shared state (jobs by state, outbox backlog) are read from PostgreSQL at
scrape time, so every replica reports the same truth.

With `SNAPSHOTD_API_PROCESSES` > 1 the supervisor gives its children one PROMETHEUS_MULTIPROC_DIR
(prometheus-client's multiprocess mode): each process writes its values to files there, and any
process's `/metrics` adds them up (`exposition`), so a scrape that lands on one child reports all of
them, and counters keep what a child that died had counted. The variable must be set before
prometheus-client is imported, which is why the supervisor passes it in the environment.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

from service.api.processes import MULTIPROC_DIR_ENV

#: request latency buckets: the SDK's read timeout is 10 s, the target p99 is 50 ms
_REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
#: job-scale buckets: a keyframe snapshot takes tens of ms, a long sprite job minutes
_JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

REQUESTS = Counter("snapshotd_requests_total", "API requests by action and HTTP status", ["action", "status"])
REQUEST_SECONDS = Histogram(
    "snapshotd_request_duration_seconds", "API request latency by action", ["action"], buckets=_REQUEST_BUCKETS
)
# Shared state, set at scrape time: in multiprocess mode the latest process's reading is the truth.
JOBS_BY_STATE = Gauge(
    "snapshotd_jobs", "Jobs by state (read from PostgreSQL at scrape time)", ["state"], multiprocess_mode="mostrecent"
)
OUTBOX_BACKLOG = Gauge(
    "snapshotd_outbox_backlog", "Messages waiting in the outbox to be published", multiprocess_mode="mostrecent"
)
JOB_SECONDS = Histogram(
    "snapshotd_job_duration_seconds", "Time from claim to final state", ["type", "status"], buckets=_JOB_BUCKETS
)
QUEUE_WAIT_SECONDS = Histogram(
    "snapshotd_job_queue_wait_seconds", "Time from submission to a worker's claim", buckets=_JOB_BUCKETS
)
FRAMES_DECODED = Counter("snapshotd_frames_decoded_total", "Video frames decoded by the capture engine")
BYTES_READ = Counter("snapshotd_input_bytes_read_total", "Input bytes fetched over HTTP range requests")
IMAGES_WRITTEN = Counter("snapshotd_images_total", "Images captured")
UPLOAD_SECONDS = Histogram(
    "snapshotd_upload_duration_seconds", "Time to store one output object", buckets=_REQUEST_BUCKETS
)
OUTBOX_NOTIFY_FAILURES = Counter(
    "snapshotd_outbox_notifications_failed_total",
    "Wake-ups of a separate relay that could not be sent (it finds the rows by its one-second poll instead)",
)
CALLBACK_ATTEMPTS = Counter("snapshotd_callback_attempts_total", "HTTP callback attempts by outcome", ["outcome"])
# A worker's own: in multiprocess mode (`up` with API processes) the live worker's value.
POOL_BUSY = Gauge(
    "snapshotd_pool_busy",
    "Jobs capturing in the pool (a job in shards keeps several processes busy)",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge("snapshotd_pool_size", "Capture processes in the pool", multiprocess_mode="livesum")


def exposition() -> bytes:
    """The Prometheus text of this process, or of every process sharing the multiprocess directory."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()
