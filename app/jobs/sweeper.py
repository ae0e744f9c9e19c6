"""The sweeper: every minute, catch up with whatever a lost or late job left behind.

It re-schedules itself with one unique job id per minute, so there is at most one per minute
however many workers start it; a worker (re)start calls `ensure_sweeper`.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from flask import Flask, current_app

from app.jobs.context import job
from app.services import tasks as job_queue

log = logging.getLogger(__name__)


def _next_slot(interval: int, now: datetime | None = None) -> datetime:
    """The start of the next slot after `now`: every worker computes the same one, hence one job id."""
    now = now or datetime.now(timezone.utc)
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % interval + interval, timezone.utc)


def ensure_sweeper(app: Flask, now: datetime | None = None) -> None:
    interval = app.config["SWEEP_INTERVAL_SECONDS"]
    at = _next_slot(interval, now)
    job_queue.enqueue(sweep_job, job_id=f"sweep-{int(at.timestamp())}", at=at, unique=True, app=app)


@job
def sweep_job() -> None:
    """No clock argument: a job queued for a minute reads the time when it runs, not when it was queued."""
    try:
        from app.services.maintenance import sweep

        sweep()
    finally:
        ensure_sweeper(current_app._get_current_object())
