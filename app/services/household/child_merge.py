"""Merging two records of the same child (issue 19): a child typed in twice (by each separated parent,
or at the desk and online) becomes one record; every row that pointed at the duplicate — household
links, bookings, waiting list, wishes, attendance, bus boarding, invoice lines, documents,
authorisations, whatever table a later issue adds — points at the kept record; the duplicate goes.

Refused with the reason when both records hold rows that cannot live together (the same week booked
twice, the same day ticked twice…): staff cancel the double first. The kept record's blank fields are
filled from the duplicate's. Audited with the duplicate's identity.

Found generically, from the foreign keys to child.id in the schema, so a new table that references a
child follows without touching this module.
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.models import Child, ChildConsent, LinkStatus, db
from app.services import audit
from app.services.errors import Conflict, NotFound

FILLABLE = ["sex", "school", "school_level", "allergies", "diet", "pai_details", "medical_notes", "doctor_name",
            "doctor_phone", "health_updated_at"]
IDENTITY = ["first_name", "last_name", "birth_date"]


def _child(child_id: int) -> Child:
    child = db.session.get(Child, child_id)
    if child is None:
        raise NotFound(_("Fiche enfant introuvable : vérifiez son numéro."), code="not_found")
    return child


def possible_duplicates(child: Child) -> list[Child]:
    """Other records with the same birth date and the same first or last name (accents and case aside)."""
    return list(db.session.execute(
        select(Child).where(Child.id != child.id, Child.birth_date == child.birth_date,
                            or_(func.lower(Child.first_name) == child.first_name.lower(),
                                func.lower(Child.last_name) == child.last_name.lower()))
        .order_by(Child.id)).scalars())


def _child_references():
    """(table, column) of every foreign key to child.id."""
    child_table = Child.__table__
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is child_table and table is not child_table:
                yield table, fk.parent


def merge(keep_id: int, duplicate_id: int, staff) -> Child:
    if keep_id == duplicate_id:
        raise Conflict(_("Choisissez deux fiches différentes."), code="same_child")
    keep, duplicate = _child(keep_id), _child(duplicate_id)
    snapshot = {field: getattr(duplicate, field) for field in IDENTITY + FILLABLE}
    # A household linked to both keeps one link: the kept record's (validated wins).
    kept_links = {link.household_id: link for link in keep.household_links}
    for link in list(duplicate.household_links):
        other = kept_links.get(link.household_id)
        if other is not None:
            if link.status == LinkStatus.VALIDATED and other.status != LinkStatus.VALIDATED:
                other.status, other.validated_at = link.status, link.validated_at
            for pickup in list(link.pickups):
                pickup.link = other
            db.session.delete(link)
    # The same authorisation answered on both: the kept record's answer stays.
    for consent in db.session.execute(select(ChildConsent).where(ChildConsent.child_id == duplicate.id)).scalars():
        clash = db.session.execute(select(ChildConsent.id).where(
            and_(ChildConsent.child_id == keep.id, ChildConsent.household_id == consent.household_id,
                 ChildConsent.question_id == consent.question_id))).first()
        if clash:
            db.session.delete(consent)
    db.session.flush()
    moved: dict[str, int] = {}
    for table, column in _child_references():
        try:
            with db.session.begin_nested():
                result = db.session.execute(update(table).where(column == duplicate.id).values({column.name: keep.id}))
        except IntegrityError:
            db.session.rollback()
            raise Conflict(_("Les deux fiches ont des lignes qui se chevauchent (%(table)s : même semaine réservée, "
                             "même jour pointé ou même vœu) : annulez le doublon puis recommencez. Rien n'a été "
                             "modifié.", table=table.name), code="overlap", table=table.name) from None
        if result.rowcount:
            moved[f"{table.name}.{column.name}"] = result.rowcount
    db.session.expire_all()
    keep, duplicate = _child(keep_id), _child(duplicate_id)
    filled = {}
    for field in FILLABLE:
        if getattr(keep, field) in (None, "") and getattr(duplicate, field) not in (None, ""):
            setattr(keep, field, getattr(duplicate, field))
            filled[field] = getattr(duplicate, field)
    for flag in ("pai", "vaccinations_up_to_date", "image_rights"):
        if getattr(duplicate, flag) and not getattr(keep, flag):
            setattr(keep, flag, True)
            filled[flag] = True
    households = [link.household_id for link in keep.household_links]
    db.session.delete(duplicate)
    db.session.flush()
    for household_id in households or [None]:
        audit.record("child.merged", "child", keep.id, actor=staff, household_id=household_id,
                     before={"duplicate_id": duplicate_id, **snapshot},
                     after={"kept_id": keep.id, "moved": moved, "filled": filled})
    db.session.commit()
    return keep

