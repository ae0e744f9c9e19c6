"""The household's daily job (issue 19): erase the households whose last activity is older than the
retention period (GDPR, app.services.operations.privacy.apply_retention), then mail the families
whose proofs expire soon (app.services.household.validity_reminders).

Scheduled like the sweeper: it re-schedules itself with one unique job id per day (03:00 UTC), so
there is at most one per day however many workers start it; a worker (re)start calls
`ensure_retention_job`.
"""
from __future__ import annotations

import logging
from datetime import datetime, time, timedelta, timezone

from flask import Flask, current_app

from app.jobs.context import job
from app.services import tasks as job_queue

log = logging.getLogger(__name__)

RUN_AT = time(3, 0)


def next_run(now: datetime | None = None) -> datetime:
    now = now or datetime.now(timezone.utc)
    at = datetime.combine(now.date(), RUN_AT, tzinfo=timezone.utc)
    return at if at > now else at + timedelta(days=1)


def ensure_retention_job(app: Flask, now: datetime | None = None) -> None:
    at = next_run(now)
    job_queue.enqueue(retention_job, job_id=f"retention-{at:%Y%m%d}", at=at, unique=True, app=app)


@job
def retention_job() -> None:
    try:
        from app.services.operations.privacy import apply_retention

        result = apply_retention()
        log.info("retention: %d household(s) erased, %d waiting for a blocker to clear",
                 len(result["erased"]), len(result["blocked"]))
    except Exception:
        log.exception("retention failed")
        from app.models import db

        db.session.rollback()
    try:
        from app.services.household.validity_reminders import send_expiry_reminders, send_opening_reminders

        log.info("document expiry reminders: %d mail(s)", send_expiry_reminders())
        log.info("reminders before a period opens: %d mail(s)", send_opening_reminders())
        from app.services.household.qf_campaign import send_deadline_reminders

        log.info("QF campaign reminders: %d mail(s)", send_deadline_reminders())
    finally:
        ensure_retention_job(current_app._get_current_object())
