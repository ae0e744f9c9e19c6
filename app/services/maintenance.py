"""What the sweeper does every minute. Each task is idempotent and safe to run late or twice;
a failing task is logged and does not stop the others."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from app.models import db, utcnow
from app.services import mail
from app.services.booking import basket, waitlist
from app.services.household import dossier
from app.services.payments import retry_pending_refunds

log = logging.getLogger(__name__)

# A mail still queued this long after it was logged lost its job (Redis was down): queue it again.
MAIL_STUCK_AFTER = timedelta(minutes=2)


def _resend_stuck_mails(now: datetime) -> int:
    """The mail service measures "stuck" against the wall clock: give it the age that puts its
    cut-off at `now` − MAIL_STUCK_AFTER, so the whole sweep reads one clock."""
    return mail.resend_stuck_mails(older_than=MAIL_STUCK_AFTER + (utcnow() - now))


TASKS = (
    ("expired holds", basket.expire_due_baskets),
    ("waiting-list offers that lapsed or were lost", waitlist.sweep),
    ("mails whose job was lost", _resend_stuck_mails),
    ("staff digest of late files", dossier.send_staff_digest_if_due),
    # No clock: a pending refund is sent again whatever the time.
    ("refunds awaiting the provider", lambda now: retry_pending_refunds()),
)


def sweep(now: datetime | None = None) -> None:
    """Run every task at the same instant `now` (default: the current time). Tests pass a later
    `now` to see what the sweep does once holds or offers have lapsed, instead of sleeping."""
    now = now or utcnow()
    for name, task in TASKS:
        try:
            task(now)
        except Exception:
            log.exception("sweeper task failed: %s", name)
            db.session.rollback()
