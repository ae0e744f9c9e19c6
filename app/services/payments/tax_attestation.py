"""The yearly attestation of childcare costs (frais de garde, article 200 quater B of the tax code).

Rules, one place for the parent's page, the API and staff's bulk run:
* Per household and calendar year: what *this* household paid (its invoices issued that year, Paris
  time). Separated parents are two households: each gets only what its own baskets paid.
* Only children under 6 on 1 January of that year, and only day-care (ALSH weeks): séjours with
  overnight stays are not childcare under that article.
* Meals are excluded (the tariff's meal share, copied on the invoice line when issued); so is the
  bus, which is transport, not care.
* Net of what went back for that line (its credit notes: a card refund has one too): the eligible
  part shrinks in proportion to what was returned, so a week refunded in full counts nothing.
  A week paid with credit counts: that credit came from money the family paid, netted on the line
  it came from.
* Parents ask for year N from 1 January of N+1 (the year must be over); staff may print any past year.
Aids received directly by the organiser (e.g. CAF aid paid to the organiser) are already outside the
invoiced price, so nothing else is deducted here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.models import CreditNote, Household, Invoice, InvoiceLine, db, utcnow
from app.services.errors import NotFound, ValidationFailed
from app.services.localize import PARIS, to_paris
from app.services.payments.common import _db_id

CHILDCARE_KIND = "alsh"
MAX_AGE = 6


@dataclass
class AttestationLine:
    week_label: str
    establishment_name: str
    invoice_number: str
    eligible_cents: int


@dataclass
class ChildCosts:
    child_name: str
    birth_date: date
    lines: list[AttestationLine] = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(line.eligible_cents for line in self.lines)


@dataclass
class Attestation:
    household_id: int
    household_name: str
    year: int
    children: list[ChildCosts]

    @property
    def total_cents(self) -> int:
        return sum(child.total_cents for child in self.children)


def under_six_on_first_january(birth_date: date | None, year: int) -> bool:
    """Under 6 on 1 January of `year` (a child born during the year counts too): born after
    1 January of year − 6 (a child born that very day turns 6 on the 1 January)."""
    return birth_date is not None and birth_date > date(year - MAX_AGE, 1, 1)


def _returned_cents(reservation_id: int | None) -> int:
    """What went back for a week: its credit notes. A card refund of a week has its own credit note
    (invoices.document_refund), so the refund rows are not added again."""
    if reservation_id is None:
        return 0
    return db.session.execute(select(func.coalesce(func.sum(CreditNote.amount_cents), 0)).where(
        CreditNote.reservation_id == reservation_id)).scalar_one()


def eligible_cents(line: InvoiceLine) -> int:
    care = max(line.price_cents - line.meal_share_cents, 0)
    if line.total_cents <= 0:
        return 0
    kept = max(line.total_cents - _returned_cents(line.reservation_id), 0)
    return care * kept // line.total_cents


def attestation(household_id: int, year: int) -> Attestation:
    """The attestation's content for `household_id` and `year` (staff's entry point: any year)."""
    start, end = _year_bounds(year)
    rows = db.session.execute(
        select(InvoiceLine, Invoice.number).join(Invoice).where(
            Invoice.household_id == household_id, Invoice.issued_at >= start, Invoice.issued_at < end,
            InvoiceLine.establishment_kind == CHILDCARE_KIND)
        .order_by(InvoiceLine.child_name, InvoiceLine.week_starts_on, InvoiceLine.id)).all()
    children: dict[tuple, ChildCosts] = {}
    for line, number in rows:
        if not under_six_on_first_january(line.child_birth_date, year):
            continue
        amount = eligible_cents(line)
        if amount <= 0:
            continue
        key = (line.child_id, line.child_name)
        child = children.setdefault(key, ChildCosts(line.child_name, line.child_birth_date))
        child.lines.append(AttestationLine(line.week_label, line.establishment_name, number, amount))
    household = db.session.get(Household, household_id)
    return Attestation(household_id, household.name if household else "", year, list(children.values()))


def parent_attestation(household_id: int, year, *, now: datetime | None = None) -> Attestation:
    """The parent's request: a finished year only (from 1 January of the next one)."""
    current = to_paris(now or utcnow()).year
    if not isinstance(year, int) or not 2000 <= year < current:
        raise ValidationFailed(_("L'attestation d'une année est disponible à partir du 1er janvier suivant : "
                                 "choisissez une année écoulée."), code="attestation_year")
    return attestation(household_id, year)


def parent_years(household_id: int, *, now: datetime | None = None) -> list[int]:
    """The finished years a parent may ask for: those in which the household was invoiced, newest first."""
    current = to_paris(now or utcnow()).year
    issued = db.session.execute(select(Invoice.issued_at).where(Invoice.household_id == household_id)).scalars()
    return sorted({year for year in (to_paris(at).year for at in issued) if year < current}, reverse=True)


def households_for_year(year: int) -> list[int]:
    """Staff's bulk run: every household with at least one invoice that year."""
    start, end = _year_bounds(year)
    return list(db.session.execute(select(Invoice.household_id).where(
        Invoice.issued_at >= start, Invoice.issued_at < end).distinct().order_by(Invoice.household_id)).scalars())


def households_of_year(year: int) -> list[Household]:
    """Staff's list of the year: the households invoiced that year, by name."""
    ids = households_for_year(year)
    return list(db.session.execute(select(Household).where(Household.id.in_(ids or [0]))
                                   .order_by(Household.name, Household.id)).scalars())


def staff_attestation(household_id, year: int) -> Attestation:
    """Staff print one household's attestation, any year: an unknown household is « introuvable »."""
    if not _db_id(household_id) or db.session.get(Household, household_id) is None:
        raise NotFound(_("Dossier famille introuvable."), code="household_not_found")
    return attestation(household_id, year)


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=PARIS), datetime(year + 1, 1, 1, tzinfo=PARIS)
