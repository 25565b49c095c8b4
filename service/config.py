"""Settings: one source of truth, read from `SNAPSHOTD_*` environment variables.

`Settings.from_env(environ)` builds and validates everything at start-up, so a bad value stops the
process with a message naming the variable before anything is served. Each field's description is
what `snapshotd --help` prints. Tests pass a dict instead of touching `os.environ`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PREFIX = "SNAPSHOTD_"


class ConfigError(ValueError):
    """A setting has a value the service cannot run with."""


def setting(default: Any, help: str, *, env: str | None = None, secret: bool = False) -> Any:
    """A dataclass field carrying its env var name, one-line description and whether to hide it in logs."""
    return field(default=default, metadata={"help": help, "env": env, "secret": secret})


def _cpu_count() -> int:
    # os.process_cpu_count honours the affinity mask (a pod's cpuset); Python 3.13+.
    counter: Callable[[], int | None] = getattr(os, "process_cpu_count", os.cpu_count)
    return max(1, counter() or 1)


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = setting("postgresql://postgres@127.0.0.1:5432/postgres", "PostgreSQL DSN", env="DATABASE_URL")
    pool_min: int = setting(1, "connections opened at start-up", env="DATABASE_POOL_MIN")
    pool_max: int = setting(10, "maximum connections in the pool", env="DATABASE_POOL_MAX")


@dataclass(frozen=True, slots=True)
class AmqpSettings:
    url: str = setting("amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL", env="AMQP_URL")
    jobs_queue: str = setting("snapshotd.jobs", "queue the workers consume", env="AMQP_JOBS_QUEUE")
    jobs_exchange: str = setting(
        "snapshotd.dispatch", "direct exchange jobs are published to", env="AMQP_JOBS_EXCHANGE"
    )
    events_exchange: str = setting(
        "snapshotd.events", "topic exchange of completion events", env="AMQP_EVENTS_EXCHANGE"
    )
    event_user_id: int = setting(0, "UserId carried in completion events", env="EVENT_USER_ID")
    confirm_timeout_s: float = setting(5.0, "seconds to wait for a publisher confirm", env="AMQP_CONFIRM_TIMEOUT_S")


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = setting("127.0.0.1", "address the API listens on", env="HTTP_HOST")
    port: int = setting(8080, "port the API listens on", env="HTTP_PORT")
    api_processes: int = setting(
        1,
        "API processes of `api` and `up` sharing the port (SO_REUSEPORT) under a supervisor that restarts "
        "a dead one (0: one per CPU)",
        env="API_PROCESSES",
    )
    relay: str = setting(
        "inline",
        "who publishes what the API puts in the outbox: inline (a relay in each API process) or none "
        "(`snapshotd relay` processes, woken by a PostgreSQL NOTIFY; the API's loop serves requests only)",
        env="API_RELAY",
    )
    max_body_kb: int = setting(1024, "largest request body accepted, KiB", env="HTTP_MAX_BODY_KB")
    max_url_kb: int = setting(64, "largest request URL (path and query string) accepted, KiB", env="HTTP_MAX_URL_KB")
    host_id: str = setting("snapshotd", "HostId reported in error responses", env="HOST_ID")
    public_base_url: str = setting(
        "",
        "base URL clients reach the API at, for /files/ URLs: local-storage objects, storyboards (empty: each request's own scheme and host)",
        env="PUBLIC_BASE_URL",
    )
    docs_url: str = setting(
        "",
        "where an error's Recommend points (empty: this API's own /docs/errors page)",
        env="DOCS_URL",
    )
    url_signing_key: str = setting(
        "",
        "HMAC key signing /files/ URLs; the same on every API replica (empty: random per process)",
        env="URL_SIGNING_KEY",
        secret=True,
    )
    cors_origins: str = setting(
        "*",
        "origins whose pages may fetch /files/ URLs (storyboards, images) cross-origin, comma-separated "
        "scheme://host[:port]; * for any (the URL's signature is the access control); empty for none",
        env="CORS_ORIGINS",
    )

    @property
    def process_count(self) -> int:
        """API_PROCESSES with 0 resolved to the CPUs this process may use."""
        return self.api_processes or _cpu_count()

    def allowed_origins(self) -> frozenset[str] | None:
        """The origins CORS_ORIGINS allows, normalised as browsers send them; None means any origin."""
        return parse_origins(self.cors_origins)


@dataclass(frozen=True, slots=True)
class StorageSettings:
    backend: str = setting(
        "local", "object store: local (a directory) or s3 (any S3-compatible endpoint)", env="STORAGE_BACKEND"
    )
    root: str = setting("./data/storage", "local backend root; one sub-directory per bucket", env="STORAGE_ROOT")
    s3_endpoint_url: str = setting(
        "", "S3-compatible endpoint URL (empty: AWS default); credentials from AWS_*", env="S3_ENDPOINT_URL"
    )
    s3_region: str = setting("us-east-1", "S3 region name", env="S3_REGION")
    s3_addressing_style: str = setting("path", "S3 addressing style: path or virtual", env="S3_ADDRESSING_STYLE")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    processes: int = setting(0, "capture processes in the pool (0: one per CPU)", env="WORKER_PROCESSES")
    decode_threads: int = setting(1, "FFmpeg decode threads per capture process", env="DECODE_THREADS")
    job_shards: int = setting(
        0,
        "most pieces (GOP-aligned shards) one job is split into across the pool's idle processes "
        "(0: one per capture process; 1: never split)",
        env="JOB_SHARDS",
    )
    shard_min_frames: int = setting(
        60,
        "least work a shard gets, in decoded frames (an image rendered counts as 4): smaller jobs stay in one process",
        env="SHARD_MIN_FRAMES",
    )
    fanout_min_targets: int = setting(
        200,
        "a job with at least this many targets, over more GOPs than the worker has capture processes, is cut "
        "into shards that any worker runs, when other workers consume the jobs queue (0: never fan out)",
        env="FANOUT_MIN_TARGETS",
    )
    fanout_shards: int = setting(
        32,
        "most shards a job fanned out across workers is cut into (more than the cluster's busy processes lets "
        "the faster ones take more)",
        env="FANOUT_SHARDS",
    )
    max_tasks_per_child: int = setting(
        200,
        "pool tasks a capture process runs before it is replaced (a job is 1 task, or a plan, its shards "
        "and an assembly)",
        env="MAX_TASKS_PER_CHILD",
    )
    capture_memory_mb: int = setting(
        768,
        "memory one capture process may use, MiB: its hard cap, and what the frame and sheet limits derive from",
        env="CAPTURE_MEMORY_MB",
    )
    jpeg_quality: int = setting(88, "JPEG quality of output images (1-95)", env="JPEG_QUALITY")
    scratch_dir: str = setting("", "directory for scratch files (empty: the system temp dir)", env="SCRATCH_DIR")
    max_attempts: int = setting(3, "attempts before a job fails for good", env="MAX_ATTEMPTS")
    shutdown_grace_s: float = setting(30.0, "seconds in-flight jobs get to finish on SIGTERM", env="SHUTDOWN_GRACE_S")
    job_timeout_s: float = setting(600.0, "longest any job may run", env="JOB_TIMEOUT_S")
    job_timeout_base_s: float = setting(
        60.0, "a job's time limit before its images are counted", env="JOB_TIMEOUT_BASE_S"
    )
    job_timeout_per_image_s: float = setting(2.0, "time limit added per requested image", env="JOB_TIMEOUT_PER_IMAGE_S")

    def job_timeout(self, images: int) -> float:
        """A job's time limit, derived from its size and capped by JOB_TIMEOUT_S."""
        return min(self.job_timeout_s, self.job_timeout_base_s + images * self.job_timeout_per_image_s)

    lease_s: float = setting(60.0, "seconds a claimed job stays owned without renewal", env="LEASE_S")
    upload_concurrency: int = setting(8, "parallel uploads per job", env="UPLOAD_CONCURRENCY")
    heartbeat_file: str = setting(
        "", "file the worker touches while healthy, for a liveness probe (empty: none)", env="HEARTBEAT_FILE"
    )
    heartbeat_s: float = setting(10.0, "seconds between heartbeats", env="HEARTBEAT_S")
    metrics_port: int = setting(
        0, "port of the worker's own /metrics (0: none; `up` serves them on the API)", env="WORKER_METRICS_PORT"
    )

    @property
    def pool_size(self) -> int:
        return self.processes or _cpu_count()

    @property
    def capture_memory_bytes(self) -> int:
        return self.capture_memory_mb * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LimitSettings:
    max_count: int = setting(10000, "largest Count a job may ask for", env="MAX_COUNT")
    max_input_pixels: int = setting(
        0,
        "largest decoded frame accepted, pixels (0: the most CAPTURE_MEMORY_MB decodes; 8K UHD at the default)",
        env="MAX_INPUT_PIXELS",
    )
    max_user_data_bytes: int = setting(1024, "largest UserData accepted, bytes", env="MAX_USER_DATA_BYTES")
    max_input_mb: int = setting(51200, "largest input file accepted, MiB (0: no limit)", env="MAX_INPUT_MB")
    max_duration_s: int = setting(43200, "longest input video accepted, seconds (0: no limit)", env="MAX_DURATION_S")


@dataclass(frozen=True, slots=True)
class CallbackSettings:
    max_attempts: int = setting(
        15, "attempts of an HTTP callback before it is kept as Failed", env="CALLBACK_MAX_ATTEMPTS"
    )
    backoff_s: float = setting(
        10.0, "first retry delay of a callback; tripled per attempt, capped at an hour", env="CALLBACK_BACKOFF_S"
    )
    timeout_s: float = setting(10.0, "time a callback receiver gets to answer", env="CALLBACK_TIMEOUT_S")
    ssrf_allow: str = setting(
        "", "addresses/CIDRs outbound fetches may reach despite the SSRF guard, comma-separated", env="SSRF_ALLOW"
    )


@dataclass(frozen=True, slots=True)
class AuthSettings:
    mode: str = setting("auto", "request signatures: on, off, or auto (on when access keys are set)", env="AUTH")
    access_keys: str = setting(
        "", "access keys as id:secret,id2:secret2, or the path of a file holding that", env="ACCESS_KEYS", secret=True
    )
    clock_skew_s: int = setting(
        900, "accepted distance between a request's signing time and ours", env="AUTH_CLOCK_SKEW_S"
    )
    nonce_store: str = setting(
        "postgres",
        "where signature nonces are remembered: postgres (every replica refuses a replay) or memory (one API process)",
        env="NONCE_STORE",
    )
    rate_per_s: float = setting(0.0, "requests per second allowed per access key (0: no limit)", env="RATE_LIMIT_PER_S")
    rate_burst: int = setting(100, "requests an access key may send in a burst", env="RATE_LIMIT_BURST")

    def keys(self) -> dict[str, str]:
        """The configured access keys: inline `id:secret,…`, or read from a file (a Kubernetes secret)."""
        raw = self.access_keys.strip()
        if raw and ":" not in raw:  # no id:secret pair inline: it names a file
            try:
                with open(raw, encoding="utf-8") as handle:
                    raw = handle.read()
            except OSError as exc:
                raise ConfigError(f"{PREFIX}ACCESS_KEYS: cannot read {raw}: {exc.strerror}") from None
        keys: dict[str, str] = {}
        for entry in raw.replace("\n", ",").split(","):
            entry = entry.strip()
            if not entry:
                continue
            key_id, sep, secret = entry.partition(":")
            if not sep or not key_id or not secret:
                raise ConfigError(f"{PREFIX}ACCESS_KEYS: entries must look like id:secret")
            keys[key_id.strip()] = secret.strip()
        return keys

    @property
    def enabled(self) -> bool:
        return self.mode == "on" or (self.mode == "auto" and bool(self.access_keys.strip()))


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = setting("INFO", "log level", env="LOG_LEVEL")
    format: str = setting("text", "log format: text or json", env="LOG_FORMAT")


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    event_loop: str = setting(
        "uvloop", "event loop of api, worker and up: uvloop (faster) or asyncio (the standard one)", env="EVENT_LOOP"
    )
    startup_timeout_s: float = setting(
        0.0,
        "seconds api, worker, up and migrate wait for PostgreSQL and RabbitMQ at start-up before exiting (0: wait forever)",
        env="STARTUP_TIMEOUT_S",
    )


_GROUPS: dict[str, type] = {
    "database": DatabaseSettings,
    "amqp": AmqpSettings,
    "http": HttpSettings,
    "storage": StorageSettings,
    "worker": WorkerSettings,
    "limits": LimitSettings,
    "auth": AuthSettings,
    "callbacks": CallbackSettings,
    "log": LogSettings,
    "runtime": RuntimeSettings,
}


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    amqp: AmqpSettings = field(default_factory=AmqpSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    log: LogSettings = field(default_factory=LogSettings)
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every `SNAPSHOTD_*` variable, convert, validate; raise ConfigError naming the culprit."""
        env = os.environ if environ is None else environ
        groups: dict[str, Any] = {}
        for name, group in _GROUPS.items():
            values: dict[str, Any] = {}
            for f in fields(group):
                var = PREFIX + f.metadata["env"]
                if var in env:
                    values[f.name] = _convert(var, env[var], type(f.default))
            groups[name] = group(**values)
        settings = cls(**groups)
        settings.validate()
        return settings

    def validate(self) -> None:
        checks: list[tuple[bool, str]] = [
            (
                urlsplit(self.database.url).scheme in ("postgres", "postgresql"),
                "DATABASE_URL must be a postgresql:// URL",
            ),
            (urlsplit(self.amqp.url).scheme in ("amqp", "amqps"), "AMQP_URL must be an amqp:// URL"),
            (0 < self.http.port < 65536, "HTTP_PORT must be 1..65535"),
            (self.http.api_processes >= 0, "API_PROCESSES must be >= 0 (0: one per CPU)"),
            (self.http.max_body_kb >= 1 and self.http.max_url_kb >= 16, "HTTP_MAX_BODY_KB must be >= 1, _URL_KB >= 16"),
            (self.storage.backend in ("local", "s3"), "STORAGE_BACKEND must be local or s3"),
            (
                self.storage.s3_addressing_style in ("path", "virtual", "auto"),
                "S3_ADDRESSING_STYLE must be path or virtual",
            ),
            (self.worker.processes >= 0, "WORKER_PROCESSES must be >= 0"),
            (self.worker.decode_threads >= 0, "DECODE_THREADS must be >= 0"),
            (self.worker.job_shards >= 0, "JOB_SHARDS must be >= 0"),
            (self.worker.shard_min_frames >= 1, "SHARD_MIN_FRAMES must be >= 1"),
            (self.worker.fanout_min_targets >= 0, "FANOUT_MIN_TARGETS must be >= 0"),
            (self.worker.fanout_shards >= 2, "FANOUT_SHARDS must be >= 2"),
            (1 <= self.worker.jpeg_quality <= 95, "JPEG_QUALITY must be 1..95"),
            (self.worker.max_attempts >= 1, "MAX_ATTEMPTS must be >= 1"),
            (self.worker.lease_s >= 5, "LEASE_S must be >= 5"),
            (self.worker.upload_concurrency >= 1, "UPLOAD_CONCURRENCY must be >= 1"),
            (self.worker.max_tasks_per_child >= 1, "MAX_TASKS_PER_CHILD must be >= 1"),
            (
                self.database.pool_min >= 1 and self.database.pool_max >= self.database.pool_min,
                "DATABASE_POOL_MAX must be >= DATABASE_POOL_MIN >= 1",
            ),
            (self.log.format in ("text", "json"), "LOG_FORMAT must be text or json"),
            (self.runtime.event_loop in ("uvloop", "asyncio"), "EVENT_LOOP must be uvloop or asyncio"),
            (self.runtime.startup_timeout_s >= 0, "STARTUP_TIMEOUT_S must be >= 0 (0: wait forever)"),
            (self.auth.nonce_store in ("postgres", "memory"), "NONCE_STORE must be postgres or memory"),
            (self.http.relay in ("inline", "none"), "API_RELAY must be inline or none"),
            (
                self.log.level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"),
                "LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR",
            ),
        ]
        checks += [
            (self.auth.mode in ("on", "off", "auto"), "AUTH must be on, off or auto"),
            (self.auth.clock_skew_s > 0, "AUTH_CLOCK_SKEW_S must be > 0"),
            (
                self.auth.rate_per_s >= 0 and self.auth.rate_burst >= 1,
                "RATE_LIMIT_PER_S must be >= 0, RATE_LIMIT_BURST >= 1",
            ),
        ]
        checks += [
            (self.callbacks.max_attempts >= 1, "CALLBACK_MAX_ATTEMPTS must be >= 1"),
            (
                self.callbacks.backoff_s > 0 and self.callbacks.timeout_s > 0,
                "CALLBACK_BACKOFF_S and _TIMEOUT_S must be > 0",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(PREFIX + message)
        try:
            from service.net.ssrf import parse_allow_list

            parse_allow_list(self.callbacks.ssrf_allow)
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}SSRF_ALLOW: {exc}") from None
        from service.domain.memory import BASE_BYTES, max_input_pixels

        if self.worker.capture_memory_bytes <= 2 * BASE_BYTES:
            raise ConfigError(f"{PREFIX}CAPTURE_MEMORY_MB must be > {2 * BASE_BYTES // 2**20}")
        fits = max_input_pixels(self.worker.capture_memory_bytes, self.worker.decode_threads or 1)
        if self.limits.max_input_pixels > fits:
            raise ConfigError(
                f"{PREFIX}MAX_INPUT_PIXELS={self.limits.max_input_pixels} needs more memory than "
                f"CAPTURE_MEMORY_MB={self.worker.capture_memory_mb} gives a capture process (it decodes up to "
                f"{fits} pixels): raise CAPTURE_MEMORY_MB or leave MAX_INPUT_PIXELS at 0"
            )
        self.http.allowed_origins()  # raises ConfigError naming the bad entry
        if self.auth.enabled and not self.auth.keys():
            raise ConfigError(PREFIX + "AUTH=on needs SNAPSHOTD_ACCESS_KEYS")
        if self.auth.enabled and self.auth.nonce_store == "memory" and self.http.process_count > 1:
            # A nonce remembered by one process is unknown to the next: a replay would pass there.
            raise ConfigError(
                f"{PREFIX}NONCE_STORE=memory remembers nonces in one process; with API_PROCESSES="
                f"{self.http.api_processes} ({self.http.process_count} processes) use postgres"
            )

    @property
    def input_pixel_limit(self) -> int:
        """MAX_INPUT_PIXELS, or the largest frame a capture process's budget decodes when it is 0."""
        from service.domain.memory import max_input_pixels

        derived = max_input_pixels(self.worker.capture_memory_bytes, self.worker.decode_threads or 1)
        return self.limits.max_input_pixels or derived

    def masked(self) -> dict[str, str]:
        """Every setting by its variable name, passwords masked: safe to log."""
        out: dict[str, str] = {}
        for group_name, group in _GROUPS.items():
            value = getattr(self, group_name)
            for f in fields(group):
                raw = getattr(value, f.name)
                if f.metadata["secret"] and raw:
                    out[PREFIX + f.metadata["env"]] = "***"
                else:
                    out[PREFIX + f.metadata["env"]] = mask_url(raw) if isinstance(raw, str) else str(raw)
        return out


#: the port a browser leaves out of an Origin header, by scheme (RFC 6454 §6.1)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origins(raw: str) -> frozenset[str] | None:
    """`*` → None (any origin); otherwise the set of `scheme://host[:port]` origins, lower-case and
    without a default port, exactly as a browser's `Origin` header spells them. ConfigError on anything else."""
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    if entries == ["*"]:
        return None
    origins = set()
    for entry in entries:
        parts = urlsplit(entry)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (
            parts.scheme.lower() not in _DEFAULT_PORTS
            or not parts.hostname
            or port == -1
            or parts.username is not None
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            raise ConfigError(
                f"{PREFIX}CORS_ORIGINS: {entry!r} is not an origin; use scheme://host[:port] entries or * alone"
            )
        scheme = parts.scheme.lower()
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        origins.add(f"{scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else ""))
    return frozenset(origins)


def describe() -> Iterator[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for `snapshotd --help`."""
    for group in _GROUPS.values():
        for f in fields(group):
            yield PREFIX + f.metadata["env"], str(f.default), f.metadata["help"]


#: SNAPSHOTD_* variables that are not settings: the tests', benchmarks' and fuzzers' own
NOT_SETTINGS = (f"{PREFIX}TEST_", f"{PREFIX}BENCH_", f"{PREFIX}FUZZ_")


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """`SNAPSHOTD_*` variables that name no setting (a typo is ignored otherwise), with the closest setting."""
    known = [variable for variable, _, _ in describe()]
    return [
        (name, next(iter(difflib.get_close_matches(name, known, n=1, cutoff=0.6)), None))
        for name in sorted(environ)
        if name.startswith(PREFIX) and name not in known and not name.startswith(NOT_SETTINGS)
    ]


def mask_url(value: str) -> str:
    """Hide the password of a DSN-shaped value; other strings pass through."""
    parts = urlsplit(value)
    if not parts.scheme or parts.password is None:
        return value
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _convert(var: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return lowered in ("1", "true", "yes", "on")
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        return raw
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not a valid {kind.__name__}") from None
