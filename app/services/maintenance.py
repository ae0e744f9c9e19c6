"""What the sweeper does every minute. Each task is idempotent and safe to run late or twice."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def sweep() -> None:
    from . import mail

    tasks = [("mails", mail.resend_stuck_mails)]
    try:
        from . import basket

        tasks.append(("expired holds", basket.expire_due_baskets))
    except (ImportError, AttributeError):
        pass
    try:
        from . import dossier

        tasks.append(("staff digest", dossier.send_staff_digest_if_due))
    except (ImportError, AttributeError):
        pass
    for name, task in tasks:
        try:
            task()
        except Exception:
            log.exception("sweeper task %s failed", name)
            from app.models import db

            db.session.rollback()
