"""The QF with its dates and its source: each value staff read on a proof (CAF or MSA attestation,
tax notice) holds from `valid_from` to `valid_to` (inclusive, open-ended when blank), and the price of
a week uses the QF valid at the week's start (`quotient_on`, called by booking's pricing).

Why dated records rather than one column: a QF changed in January must not reprice a Christmas week
already priced, and a family whose attestation lapsed pays the top bracket for weeks after it rather
than keeping an old QF forever. `Household.quotient` stays as the value valid today, for lists and
for files validated before records existed (a household without any record keeps being priced
with it).

A new record closes the open-ended one before it (its `valid_to` becomes the day before); records
never overlap, so "the QF valid on a day" has one answer.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Mapping

from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.models import Household, QuotientRecord, QuotientSource, db
from app.services import audit
from app.services.errors import Conflict
from app.services.household.inputs import Input
from app.services.localize import QUOTIENT_SOURCE_LABELS, date_fr, paris_today

MAX_QUOTIENT = 100000


_CACHE = "quotient_records"


def records_of(household_id: int) -> list[QuotientRecord]:
    """The household's QF history, newest first. Read once per transaction: a page pricing twenty
    lines of one household asks the database once, not twenty times (tests/test_query_counts.py)."""
    cache = db.session.info.setdefault(_CACHE, {})
    if household_id not in cache:
        cache[household_id] = list(db.session.execute(
            select(QuotientRecord).where(QuotientRecord.household_id == household_id)
            .order_by(*newest_first())
        ).scalars())
    return cache[household_id]


def remember_records(household_id: int, records: list[QuotientRecord]) -> None:
    """Records the caller read with something else in the same statement (newest first, as
    `records_of` orders them): this transaction then prices from them without asking again."""
    db.session.info.setdefault(_CACHE, {})[household_id] = list(records)


def newest_first():
    """`records_of`'s order, for a caller that reads the records in its own statement."""
    return QuotientRecord.valid_from.desc(), QuotientRecord.id.desc()


@event.listens_for(Session, "after_flush")
def _forget_written_records(session: Session, _context) -> None:
    if any(isinstance(obj, QuotientRecord) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info.pop(_CACHE, None)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget_records(session: Session, *_args) -> None:
    session.info.pop(_CACHE, None)


def record_on(household: Household, day: date) -> QuotientRecord | None:
    for record in records_of(household.id):
        if record.valid_from <= day and (record.valid_to is None or day <= record.valid_to):
            return record
    return None


def quotient_on(household: Household, day: date) -> int | None:
    """The QF that prices a week starting on `day`; None means the top bracket (file not validated,
    no CAF number, or no proof covering that day)."""
    if not household.is_validated:
        return None
    if not records_of(household.id):
        return household.quotient  # validated before dated records existed
    record = record_on(household, day)
    return record.value if record is not None else None


def _place(household: Household, value: int, source: str, valid_from: date, valid_to: date | None,
           staff, note: str | None) -> QuotientRecord:
    """Insert a record without overlap: the open-ended one before it is closed the day before;
    any other overlap is refused (staff correct the older record instead of stacking two)."""
    for other in records_of(household.id):
        other_end = other.valid_to or date.max
        new_end = valid_to or date.max
        if other.valid_from < valid_from and other.valid_to is None:
            old = {"valid_to": None}
            other.valid_to = valid_from - timedelta(days=1)
            audit.record("quotient.closed", "quotient_record", other.id, actor=staff, household_id=household.id,
                         before=old, after={"valid_to": other.valid_to})
        elif other.valid_from <= new_end and valid_from <= other_end:
            raise Conflict(_("Un QF de %(value)d € est déjà enregistré du %(start)s au %(end)s : ces dates le "
                             "chevauchent.", value=other.value, start=date_fr(other.valid_from),
                             end=date_fr(other.valid_to) if other.valid_to else _("sans fin")),
                           code="overlap")
    record = QuotientRecord(household_id=household.id, value=value, source=source, valid_from=valid_from,
                            valid_to=valid_to, entered_by_id=getattr(staff, "id", None), note=note)
    db.session.add(record)
    db.session.flush()
    before = {"quotient": household.quotient}
    current = record_on(household, paris_today())
    household.quotient = current.value if current is not None else household.quotient
    audit.record("quotient.recorded", "quotient_record", record.id, actor=staff, household_id=household.id,
                 before=before, after={"value": value, "source": source, "valid_from": valid_from,
                                       "valid_to": valid_to, "note": note, "quotient": household.quotient})
    return record


def record_quotient(household: Household, data: Mapping[str, Any], staff) -> QuotientRecord:
    """Staff enter a QF read on a proof, from the staff form or the API: same checks, same messages."""
    form = Input(data)
    value = form.integer("value", 0, MAX_QUOTIENT, required=True,
                         message=_("Saisissez le quotient familial lu sur le justificatif."))
    source = form.choice("source", QuotientSource.ALL, required=True,
                         message=_("Indiquez d'où vient ce QF (CAF, MSA ou avis d'imposition)."))
    valid_from = form.date("valid_from")
    valid_to = form.date("valid_to", required=False)
    note = form.long_text("note", 500)
    if valid_from and valid_to and valid_to < valid_from:
        form.errors["valid_to"] = _("La fin de validité doit suivre le début.")
    form.check()
    assert value is not None and source is not None and valid_from is not None  # form.check() refused blanks
    record = _place(household, value, source, valid_from, valid_to, staff, note)
    db.session.commit()
    return record


def from_validation(household: Household, quotient: int | None, staff) -> QuotientRecord | None:
    """Validating a file with a QF records it, read on the CAF attestation, from today on."""
    if quotient is None:
        return None
    return _place(household, quotient, QuotientSource.CAF, paris_today(), None, staff, None)


def source_label(code: str) -> str:
    return _(QUOTIENT_SOURCE_LABELS.get(code, code))

