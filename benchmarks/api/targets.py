"""The issue's targets, and whether a run met them."""

from __future__ import annotations

from typing import Any

#: ≥ 1,000 submissions/s sustained, with p99 ≤ 50 ms
TARGET_RATE = 1000.0
TARGET_P99_MS = 50.0
#: end to end, the service adds at most 100 ms to the capture time (median)
TARGET_E2E_OVERHEAD_MS = 100.0


def sustained(run: dict[str, Any]) -> bool:
    """An open-model run was sustained: all offered requests answered in time, none failed."""
    return (
        run["achieved_rate"] >= 0.98 * run["offered_rate"]
        and not run["errors"]
        and not run["not_sent"]
        and run["latency_ms"].get("p99", float("inf")) < 1000
    )


def targets_met(suite: dict[str, Any]) -> bool:
    """≥ 1,000/s sustained with p99 ≤ 50 ms in an open-model run."""
    return any(
        run["sustained"] and run["offered_rate"] >= TARGET_RATE and run["latency_ms"]["p99"] <= TARGET_P99_MS
        for run in suite["open"]
    )
