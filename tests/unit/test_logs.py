"""Structured logs: JSON lines carrying the `extra` fields; text lines append them; no secrets."""

from __future__ import annotations

import logging

import orjson

from service.config import Settings
from service.logs import JsonFormatter, TextFormatter


def record(**extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("service.worker.handler", logging.INFO, __file__, 1, "job %s", ("Success",), None)
    for key, value in extra.items():
        setattr(entry, key, value)
    return entry


def test_json_line_carries_the_extra_fields() -> None:
    line = JsonFormatter().format(record(job_id="abc", action="job_finished", duration_s=0.5))

    parsed = orjson.loads(line)
    assert parsed["message"] == "job Success"
    assert (parsed["job_id"], parsed["action"], parsed["duration_s"]) == ("abc", "job_finished", 0.5)
    assert parsed["level"] == "INFO"


def test_text_line_appends_the_extra_fields() -> None:
    line = TextFormatter().format(record(request_id="R-1"))

    assert line.endswith("job Success request_id=R-1")


def test_logged_settings_hide_secrets() -> None:
    settings = Settings.from_env(
        {
            "SNAPSHOTD_DATABASE_URL": "postgresql://app:pg-secret@db:5432/snapshotd",
            "SNAPSHOTD_ACCESS_KEYS": "LTAIkey:very-secret",
        }
    )

    logged = str(settings.masked())
    assert "pg-secret" not in logged and "very-secret" not in logged
