"""Message routing names shared by the writers of the outbox and the broker topology."""

from __future__ import annotations

#: routing key of job dispatch messages on the jobs exchange
JOB_ROUTING_KEY = "job"
