"""What the sweeper does every minute. Each task is idempotent and safe to run late or twice;
a failing task is logged and does not stop the others."""
from __future__ import annotations

import logging

from app.models import db

from app.services import mail

from app.services.booking import basket

from app.services.household import dossier
from app.services.payments import retry_pending_refunds

log = logging.getLogger(__name__)

TASKS = (
    ("expired holds", basket.expire_due_baskets),
    ("mails whose job was lost", mail.resend_stuck_mails),
    ("staff digest of late files", dossier.send_staff_digest_if_due),
    ("refunds awaiting the provider", retry_pending_refunds),
)


def sweep() -> None:
    for name, task in TASKS:
        try:
            task()
        except Exception:
            log.exception("sweeper task failed: %s", name)
            db.session.rollback()
