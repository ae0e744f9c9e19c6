"""Row scoping for the Parent role: the one place that maps a login to its household and checks that
an id given by a parent belongs to that household (DESIGN.md §3.6). Every parent page, API route and
action goes through these functions; another household's id is simply "not found"."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Child, Household, HouseholdChild, db
from app.services.errors import NotFound
from app.services.household import identity


def household_for_user(user) -> Household | None:
    if user is None or not getattr(user, "id", None):
        return None
    known, household = identity.known_household(user)  # read with the request's identity
    if known and household is not None:
        return household
    return db.session.execute(select(Household).where(Household.owner_id == user.id)).scalar_one_or_none()


def require_household(user) -> Household:
    household = household_for_user(user)
    if household is None:
        raise NotFound(_("Aucun dossier famille n'est associé à ce compte."), code="no_household")
    return household


def child_link(household_id: int, child_id: int) -> HouseholdChild:
    """The link of `child_id` to `household_id`, or NotFound (whatever the child's other households)."""
    link = db.session.execute(
        select(HouseholdChild).where(HouseholdChild.household_id == household_id,
                                     HouseholdChild.child_id == child_id)
    ).scalar_one_or_none()
    if link is None:
        raise NotFound(_("Cet enfant n'est pas rattaché à votre dossier."), code="not_found")
    return link


def household_child(household_id: int, child_id: int) -> Child:
    return child_link(household_id, child_id).child
