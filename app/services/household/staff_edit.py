"""Staff correct a household file through the parent's own services (`dossier`): the same checks and
the same French messages whatever the door, audited with before/after under staff's name.

Why not FAB's generated edit forms: they would write columns directly, with none of the file's rules
(postcode, CAF number, phone, birth date…) and without the audit. Here each function finds the row
under a lock, runs the parent's function inside `resubmission.staff_change()` — staff's own
correction does not send a validated file back to staff's queue — and the parent's function audits
and commits. Staff may also change a confirmed child's names and birth date (they read the birth
certificate), which a parent may not.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Child, Guardian, Household, HouseholdStatus, db, utcnow
from app.services import audit
from app.services.errors import Conflict, NotFound
from app.services.household import dossier
from app.services.household.resubmission import _mail, staff_change


def locked_household(household_id: int) -> Household:
    household = db.session.execute(
        select(Household).where(Household.id == household_id).with_for_update()
    ).scalar_one_or_none()
    if household is None:
        raise NotFound(_("Dossier introuvable."), code="not_found")
    return household


def update_household(household_id: int, data: Mapping[str, Any], staff) -> list[str]:
    household = locked_household(household_id)
    with staff_change():
        return dossier.update_household(household, data, actor=staff)


def save_guardian(household_id: int, data: Mapping[str, Any], staff, guardian_id: int | None = None) -> Guardian:
    household = locked_household(household_id)
    with staff_change():
        return dossier.save_guardian(household, data, guardian_id=guardian_id, actor=staff)


def remove_guardian(household_id: int, guardian_id: int, staff) -> None:
    household = locked_household(household_id)
    with staff_change():
        dossier.remove_guardian(household, guardian_id, actor=staff)


def add_child(household_id: int, data: Mapping[str, Any], staff) -> dossier.AddedChild:
    household = locked_household(household_id)
    with staff_change():
        return dossier.add_child(household, data, actor=staff)


def update_child(household_id: int, child_id: int, data: Mapping[str, Any], staff) -> Child:
    household = locked_household(household_id)
    with staff_change():
        return dossier.update_child(household, child_id, data, actor=staff, identity=True)


def update_health(household_id: int, child_id: int, data: Mapping[str, Any], staff) -> Child:
    household = locked_household(household_id)
    with staff_change():
        return dossier.update_health(household, child_id, data, actor=staff)


def add_pickup(household_id: int, child_id: int, data: Mapping[str, Any], staff):
    household = locked_household(household_id)
    with staff_change():
        return dossier.add_pickup(household, child_id, data, actor=staff)


def remove_pickup(household_id: int, pickup_id: int, staff) -> None:
    household = locked_household(household_id)
    with staff_change():
        dossier.remove_pickup(household, pickup_id, actor=staff)


def reopen(household_id: int, staff, note: str | None = None) -> Household:
    """Put a validated file back in the review queue (a change staff learnt of by phone, a proof to
    check again). Reservations already made are kept; new bookings wait for the next validation."""
    household = locked_household(household_id)
    if household.status != HouseholdStatus.VALIDATED:
        db.session.rollback()
        raise Conflict(_("Seul un dossier validé peut être rouvert : ce dossier est %(status)s.",
                         status=dossier.status_label(household).lower()), code="not_validated")
    note = (note or "").strip()[:2000] or None
    before = {"status": household.status}
    household.status = HouseholdStatus.SUBMITTED
    household.submitted_at = utcnow()
    audit.record("household.reopened", "household", household.id, actor=staff, household_id=household.id,
                 before=before, after={"status": household.status, "note": note})
    _mail(household, "dossier_received", _("Votre dossier famille est en cours de vérification"),
          "dossier_received", changed=True)
    db.session.commit()
    return household
