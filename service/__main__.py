"""`snapshotd` command line: api | worker | up | migrate (and run, the one-shot local capture; bucket-cors)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import shutil
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from service import run_cli
from service.config import ConfigError, Settings, describe, unknown_variables

log = logging.getLogger("service")

COMMANDS = {
    "up": "api + worker in one process: the single-node mode",
    "api": "the HTTP API (ICE actions on POST /)",
    "worker": "the job consumer with its capture process pool",
    "relay": "the outbox relay alone, woken by the API's notifications (for SNAPSHOTD_API_RELAY=none)",
    "migrate": "apply migrations/*.sql in order under an advisory lock (safe to run concurrently)",
    "worker-alive": "exit 0 if the worker's heartbeat file is fresh (a liveness probe)",
}


def build_parser() -> argparse.ArgumentParser:
    settings_help = "\n".join(f"  {var:<34} {help_} (default: {default!r})" for var, default, help_ in describe())
    parser = argparse.ArgumentParser(
        prog="snapshotd",
        description="Self-hosted video snapshot jobs speaking Alibaba Cloud ICE's SubmitSnapshotJob API.",
        epilog="settings (environment variables):\n" + settings_help + "\n  AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"
        "  S3 credentials (the standard AWS chain)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers = {name: commands.add_parser(name, help=help_, description=help_) for name, help_ in COMMANDS.items()}
    # Set by the supervisor of SNAPSHOTD_API_PROCESSES on its children (service/api/processes.py).
    parsers["api"].add_argument("--supervised", action="store_true", help=argparse.SUPPRESS)
    run_help = "one-shot local capture of a file or URL into a directory, no services needed"
    run_cli.add_arguments(commands.add_parser("run", help=run_help, description=run_help))
    cors_help = (
        "give S3 buckets the CORS rule that lets pages of SNAPSHOTD_CORS_ORIGINS load their presigned images "
        "(replaces each bucket's CORS configuration)"
    )
    cors = commands.add_parser("bucket-cors", help=cors_help, description=cors_help)
    cors.add_argument("buckets", nargs="+", metavar="BUCKET")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        # one-shot and self-contained: no settings, no logging set-up, so no environment is needed
        return run_cli.run(args)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"snapshotd: invalid setting: {exc}", file=sys.stderr)
        return 2
    if args.command == "worker-alive":
        from service.worker.heartbeat import is_alive

        alive = bool(settings.worker.heartbeat_file) and is_alive(
            settings.worker.heartbeat_file, settings.worker.heartbeat_s
        )
        return 0 if alive else 1
    from service.logs import setup_logging

    setup_logging(settings.log.level, settings.log.format)
    log.info("settings: %s", settings.masked())
    for name, closest in unknown_variables(os.environ):
        hint = f"; did you mean {closest}?" if closest else ""
        log.warning("%s is not a setting and is ignored%s", name, hint)
    supervised = bool(getattr(args, "supervised", False))
    metrics_dir = ""
    if args.command in ("api", "up") and not supervised and settings.http.process_count > 1:
        from service.api.processes import prepare_metrics_dir

        # Before anything imports prometheus-client: it reads the variable at import.
        metrics_dir = prepare_metrics_dir(os.environ)
    runners: dict[str, Callable[[Settings], Coroutine[Any, Any, None]]] = {
        "api": functools.partial(run_api, supervised=supervised, metrics_dir=metrics_dir),
        "worker": run_worker,
        "relay": run_relay,
        "up": functools.partial(run_up, metrics_dir=metrics_dir),
        "migrate": run_migrate,
    }
    runner = (
        functools.partial(run_bucket_cors, buckets=args.buckets)
        if args.command == "bucket-cors"
        else runners[args.command]
    )
    try:
        run_event_loop(runner(settings), settings.runtime.event_loop)
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        log.error("snapshotd %s stopped: %s", args.command, reason(exc))
        return 1
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def reason(exc: BaseException) -> str:
    """Why a command stopped; for `up`, whose api and worker run in one task group, each one's reason."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(reason(inner) for inner in exc.exceptions))
    return str(exc)


def run_event_loop(main: Coroutine[Any, Any, None], event_loop: str) -> None:
    """Run `main` on uvloop (libuv; less CPU per request) or the standard loop."""
    if event_loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


async def run_migrate(settings: Settings) -> None:
    from service.config import mask_url
    from service.retry import Deadline, wait_until_connected
    from service.signals import stop_on_signals
    from service.store.migrate import migrate

    stop = asyncio.Event()
    stop_on_signals(stop)
    # Safe to repeat after a lost connection: each file applies in its own transaction, under a lock.
    applied = await wait_until_connected(
        f"PostgreSQL at {mask_url(settings.database.url)}",
        lambda: migrate(settings.database.url),
        deadline=Deadline(settings.runtime.startup_timeout_s),
        stop=stop,
    )
    if applied is None:
        log.info("migrate stopped before PostgreSQL was reachable")
        return
    log.info("migrations applied: %s", ", ".join(applied) if applied else "none (up to date)")


async def run_bucket_cors(settings: Settings, buckets: Sequence[str]) -> None:
    """Private buckets serve other origins only with a CORS rule; this one mirrors the API's own."""
    from service.storage.s3 import S3Storage

    if settings.storage.backend != "s3":
        raise ValueError("bucket-cors is for SNAPSHOTD_STORAGE_BACKEND=s3; the local backend's files come from the API")
    origins = settings.http.allowed_origins()
    async with await S3Storage.open(settings.storage) as storage:
        for bucket in buckets:
            await storage.put_bucket_cors(bucket, origins)
            log.info(
                "bucket %s: CORS allows %s", bucket, "any origin" if origins is None else ", ".join(sorted(origins))
            )


async def run_api(
    settings: Settings, stop: asyncio.Event | None = None, *, supervised: bool = False, metrics_dir: str = ""
) -> None:
    """One API process; with `metrics_dir` (API_PROCESSES > 1, prepared by `main`), the supervisor of
    that many; `supervised`, one of those children (SO_REUSEPORT, stops if the supervisor is gone)."""
    from service.signals import first_of, stop_on_signals

    stop = stop or asyncio.Event()
    stop_on_signals(stop)
    if metrics_dir:
        from service.api.processes import Supervisor

        await Supervisor(settings, settings.http.process_count, stop, os.environ, metrics_dir).run()
        return
    # Imported here: `snapshotd run` and `worker-alive` should not pay for loading the web stack.
    from aiohttp import web

    from service.api.app import create_app
    from service.api.keys import STARTUP
    from service.api.processes import watch_supervisor
    from service.heap import freeze_startup_heap

    watch = asyncio.create_task(watch_supervisor(stop)) if supervised else None
    app = create_app(settings)
    startup = app[STARTUP]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.http.host, settings.http.port, reuse_port=supervised or None)
        await site.start()
        log.info("API listening on http://%s:%d/ (pid %d)", settings.http.host, settings.http.port, os.getpid())
        freeze_startup_heap()
        # PostgreSQL and RabbitMQ connect in the background; only a start-up that gave up ends this early.
        await first_of(stop, startup.failed)
        if startup.error is not None and not stop.is_set():
            raise startup.error
    finally:
        # aiohttp stops listening, lets in-flight requests finish (up to its 60 s), then closes.
        await runner.cleanup()
        if watch is not None:
            watch.cancel()


async def run_worker(settings: Settings) -> None:
    from service.worker.app import run_worker as worker

    await worker(settings)


async def run_relay(settings: Settings) -> None:
    from service.queue.relay_process import run_relay as relay

    await relay(settings)


async def run_up(settings: Settings, metrics_dir: str = "") -> None:
    """API and worker in one process; with API_PROCESSES > 1, the worker beside the API's supervisor."""
    from service.signals import stop_on_signals
    from service.worker.app import run_worker as worker

    stop = asyncio.Event()
    stop_on_signals(stop)
    async with asyncio.TaskGroup() as group:
        group.create_task(run_api(settings, stop, metrics_dir=metrics_dir))
        group.create_task(worker(settings, stop, handle_signals=False))


if __name__ == "__main__":
    sys.exit(main())
