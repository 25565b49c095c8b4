"""End-to-end latency at low load: one-image jobs, one at a time, from submit to their completion event.

`snapshotd worker` (2 capture processes) joins the API; a queue is bound to the events exchange before
the first job. Each job's own timestamps (created, started, finished) split the time into legs, and the
capture time it reports (GetSnapshotJob → Stats.CaptureMs) is subtracted to give the service overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aio_pika
import aiohttp
import orjson

from benchmarks.api.broker import Broker
from benchmarks.api.services import Environment, Service, free_port
from benchmarks.api.stats import summary_ms
from benchmarks.api.wire import call, submit_query
from service.events.payloads import SNAPSHOT_COMPLETE
from service.queue.topology import EVENTS_EXCHANGE_DURABLE, EVENTS_EXCHANGE_TYPE

#: the jobs' own timestamps, seconds since the epoch (microseconds, the database's clock)
TIMELINE = """
SELECT job_id, extract(epoch FROM create_time) AS created, extract(epoch FROM start_time) AS started,
       extract(epoch FROM finish_time) AS finished
FROM jobs WHERE job_id = ANY($1::text[])
"""


async def e2e_suite(env: Environment, opts: argparse.Namespace) -> dict[str, Any]:
    """One-image jobs, one at a time, timed from submit to their SnapshotComplete event."""
    from tests.media_factory import make_video

    clip = env.storage / "media" / "clip.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(make_video, clip, seconds=10)
    port = free_port()
    common = {"SNAPSHOTD_WORKER_PROCESSES": "2"}
    api = await Service.start("api", env.env(port=port, log_level="WARNING", **common), env.work / "e2e-api.log")
    worker = await Service.start(
        "worker", env.env(port=port, log_level="WARNING", **common), env.work / "e2e-worker.log"
    )
    broker = await Broker.open(env)
    events: dict[str, tuple[float, dict[str, Any]]] = {}
    waiting: dict[str, asyncio.Future[None]] = {}
    rows: list[dict[str, Any]] = []
    try:
        await api.wait_ready(port)
        # Events are only routed to queues bound before they are published: bind first.
        exchange = await broker.channel.declare_exchange(
            env.events_exchange, EVENTS_EXCHANGE_TYPE, durable=EVENTS_EXCHANGE_DURABLE
        )
        queue = await broker.channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=f"{SNAPSHOT_COMPLETE.name}.*")

        async def on_event(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            now = time.time()
            async with message.process():
                body = orjson.loads(message.body)
            job_id = body["MessageBody"]["JobId"]
            events[job_id] = (now, body)
            waiter = waiting.pop(job_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

        await queue.consume(on_event)
        await broker.wait_consumer()
        print(f"\n== end-to-end: {opts.e2e_jobs} one-image jobs, one at a time (worker with 2 processes)", flush=True)
        async with aiohttp.ClientSession() as session:
            for n in range(opts.e2e_warmup + opts.e2e_jobs):
                query = submit_query(f"oss://thumbs/bench/e2e-{n}/{{Count}}.jpg", Count=1)
                t0 = time.time()
                status, body = await call(session, port, "SubmitSnapshotJob", query)
                t_accepted = time.time()
                if status != 200:
                    raise RuntimeError(f"submit failed: {status} {body}")
                job_id = body["JobId"]
                if job_id not in events:
                    waiting[job_id] = asyncio.get_running_loop().create_future()
                    await asyncio.wait_for(waiting[job_id], 60)
                t_event, event = events[job_id]
                status, got = await call(session, port, "GetSnapshotJob", [("JobId", job_id)])
                job = got["SnapshotJob"]
                if n >= opts.e2e_warmup:
                    rows.append(
                        {
                            "job_id": job_id,
                            "status": job["Status"],
                            "event_status": event["MessageBody"]["Status"],
                            "submit_s": t_accepted - t0,
                            "e2e_s": t_event - t0,
                            "capture_s": float(job.get("Stats", {}).get("CaptureMs", 0)) / 1000,
                            "t0": t0,
                            "t_event": t_event,
                        }
                    )
                await asyncio.sleep(opts.e2e_gap)
        times = {t["job_id"]: t for t in await broker.pg.fetch(TIMELINE, [r["job_id"] for r in rows])}
        for r in rows:
            t = times[r["job_id"]]
            r["dispatch_s"] = float(t["started"]) - float(t["created"])
            r["run_s"] = float(t["finished"]) - float(t["started"])
            r["event_s"] = r["t_event"] - float(t["finished"])
    finally:
        await broker.close()
        await worker.stop()
        await api.stop()
    failed = [r for r in rows if r["status"] != "Success"]
    return {
        "jobs": len(rows),
        "failed": len(failed),
        "e2e_ms": summary_ms([r["e2e_s"] for r in rows]),
        "capture_ms": summary_ms([r["capture_s"] for r in rows]),
        "overhead_ms": summary_ms([r["e2e_s"] - r["capture_s"] for r in rows]),
        "submit_ms": summary_ms([r["submit_s"] for r in rows]),
        "dispatch_ms": summary_ms([r["dispatch_s"] for r in rows]),
        "run_minus_capture_ms": summary_ms([r["run_s"] - r["capture_s"] for r in rows]),
        "event_ms": summary_ms([r["event_s"] for r in rows]),
        "rows": rows,
    }
