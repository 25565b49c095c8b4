"""/metrics in Prometheus format: requests by action and status, jobs by state, job and engine figures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.config import Settings
from tests.e2e.conftest import running_stack
from tests.ice import call, submit_params

pytestmark = [pytest.mark.pg, pytest.mark.amqp]


async def scrape(api: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await api.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_metrics_follow_a_job(settings: Settings, clip: Path) -> None:
    target = Path(settings.storage.root) / "media" / "clip.mp4"
    target.parent.mkdir(parents=True)
    shutil.copyfile(clip, target)

    async with running_stack(settings) as stack:
        before = await scrape(stack.api)
        _, body = await call(stack.api, "SubmitSnapshotJob", **submit_params(Count=3, Interval=2))
        await call(stack.api, "GetSnapshotJob", JobId="nope")
        await stack.wait_final(body["JobId"])
        after = await scrape(stack.api)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("snapshotd_requests_total", action="SubmitSnapshotJob", status="200") == 1
    assert delta("snapshotd_requests_total", action="GetSnapshotJob", status="404") == 1
    assert delta("snapshotd_request_duration_seconds_count", action="SubmitSnapshotJob") == 1
    assert after[("snapshotd_jobs", (("state", "Success"),))] == 1
    assert after[("snapshotd_outbox_backlog", ())] >= 0
    assert delta("snapshotd_images_total") == 3
    assert delta("snapshotd_job_duration_seconds_count", status="Success", type="Normal") == 1
    assert delta("snapshotd_upload_duration_seconds_count") == 3
    assert delta("snapshotd_frames_decoded_total") >= 3
    assert after[("snapshotd_pool_size", ())] == settings.worker.pool_size
