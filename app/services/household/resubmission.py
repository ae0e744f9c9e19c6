"""A parent's change to a validated file sends it back to review, and the household is told.

Shared by the file (dossier) and its documents, so that neither imports the other."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from flask_babel import gettext as _

from app.models import Household, HouseholdStatus, utcnow
from app.services import audit
from app.services.mail import public_url, queue_mail

log = logging.getLogger(__name__)

HOME_URL = "/famille/"
REVIEW_AREAS = {"address", "guardians", "documents", "caf", "children"}

# Set while staff change a file through the parent's own services (app.services.household.staff_edit):
# the same validation runs, but staff's correction is not a change for staff to review again.
_STAFF_CHANGE: ContextVar[bool] = ContextVar("household_staff_change", default=False)


@contextmanager
def staff_change() -> Iterator[None]:
    token = _STAFF_CHANGE.set(True)
    try:
        yield
    finally:
        _STAFF_CHANGE.reset(token)


# --- mails ---------------------------------------------------------------------------------

def mail_address(household: Household) -> str | None:
    return household.email or (household.owner.email if household.owner else None)


def _mail(household: Household, kind: str, subject: str, template: str, **context) -> None:
    to = mail_address(household)
    if not to:
        log.warning("household %s has no e-mail: %s not sent", household.id, kind)
        return
    queue_mail(kind, to, subject, template, household_id=household.id, household=household,
               home_url=public_url(HOME_URL), **context)



def after_parent_change(household: Household, actor, area: str) -> bool:
    """Called by every parent edit before its commit: a validated file goes back to review when the
    change is one staff must check. Reservations are left exactly as they are. Returns True then."""
    if _STAFF_CHANGE.get() or area not in REVIEW_AREAS or household.status != HouseholdStatus.VALIDATED:
        return False
    before = {"status": household.status}
    household.status = HouseholdStatus.SUBMITTED
    household.submitted_at = utcnow()
    audit.record("household.back_to_review", "household", household.id, actor=actor, household_id=household.id,
                 before=before, after={"status": household.status, "because": area})
    _mail(household, "dossier_received", _("Modification de votre dossier reçue"), "dossier_received",
          changed=True)
    return True
