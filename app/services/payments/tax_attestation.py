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
  A refund of the payment not tied to a week (its credit note has no week) is shared among all the
  lines the payment invoiced, pro rata of their totals (in cents, the odd cents to the largest
  remainders, then the first line): only the eligible lines' shares lower the attestation.
  A week paid with credit counts: that credit came from money the family paid, netted on the line
  it came from. Except a credit staff granted (a goodwill gesture, a credit note of the grant kind):
  the family never paid it, so what the invoice names as spent from such notes (Invoice.credit_notes)
  is shared among its lines the same way and left out.
* Parents ask for year N from 1 January of N+1 (the year must be over); staff may print any past year.
Aids received directly by the organiser (e.g. CAF aid paid to the organiser) are already outside the
invoiced price, so nothing else is deducted here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.models import CreditNote, CreditNoteKind, Household, Invoice, InvoiceLine, db, utcnow
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


def pro_rata(amount_cents: int, weights: list[int]) -> list[int]:
    """`amount_cents` shared in proportion to `weights`, in whole cents summing to the amount (never
    more than the weights' total): floors first, then one cent each to the largest remainders, ties
    to the earlier weight. Deterministic whatever the order of the database rows."""
    total = sum(max(weight, 0) for weight in weights)
    amount = min(max(amount_cents, 0), total)
    if amount == 0:
        return [0] * len(weights)
    shares = [amount * max(weight, 0) // total for weight in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(amount * max(weights[i], 0) % total), i))
    for index in order[:amount - sum(shares)]:
        shares[index] += 1
    return shares


def _payment_refunds(household_id: int) -> dict[int, int]:
    """{payment id: cents}: the household's credit notes not tied to a week that document a refund of
    a payment (invoices.document_refund), by payment."""
    from app.services.payments.invoices import settling_refund

    notes = db.session.execute(select(CreditNote).where(
        CreditNote.household_id == household_id, CreditNote.reservation_id.is_(None))).scalars()
    totals: dict[int, int] = {}
    for note in notes:
        refund = settling_refund(note)
        if refund is not None and refund.reservation_id is None:
            totals[refund.payment_id] = totals.get(refund.payment_id, 0) + note.amount_cents
    return totals


def _shares_of_payments(payment_refunds: dict[int, int]) -> dict[int, int]:
    """{invoice line id: cents}: each payment-level refund shared among the lines its payment invoiced."""
    shares: dict[int, int] = {}
    for payment_id, amount in sorted(payment_refunds.items()):
        lines = db.session.execute(select(InvoiceLine.id, InvoiceLine.total_cents).join(Invoice).where(
            Invoice.payment_id == payment_id).order_by(InvoiceLine.id)).all()
        for (line_id, _total), share in zip(lines, pro_rata(amount, [total for _id, total in lines]), strict=True):
            shares[line_id] = shares.get(line_id, 0) + share
    return shares


def _shares_of_grants(invoice_ids: set[int]) -> dict[int, int]:
    """{invoice line id: cents}: the credit staff granted that paid each invoice, shared among its lines."""
    from app.services.payments.invoices import spent_credit_notes

    shares: dict[int, int] = {}
    invoices = db.session.execute(select(Invoice).where(Invoice.id.in_(invoice_ids), Invoice.credit_cents > 0)
                                  .order_by(Invoice.id)).scalars()
    for invoice in invoices:
        spent = spent_credit_notes(invoice)
        grants = set(db.session.execute(select(CreditNote.number).where(
            CreditNote.number.in_([number for number, _cents in spent]),
            CreditNote.kind == CreditNoteKind.GRANT)).scalars()) if spent else set()
        granted = sum(cents for number, cents in spent if number in grants)
        if granted:
            lines = sorted(invoice.lines, key=lambda line: line.id)
            for line, share in zip(lines, pro_rata(granted, [line.total_cents for line in lines]), strict=True):
                shares[line.id] = shares.get(line.id, 0) + share
    return shares


def eligible_cents(line: InvoiceLine, also_returned_cents: int = 0) -> int:
    """The line's care share (price less meals, no bus) net of what went back for it: its week's
    credit notes plus `also_returned_cents` (its share of refunds not tied to a week and of
    granted credit that paid it)."""
    care = max(line.price_cents - line.meal_share_cents, 0)
    if line.total_cents <= 0:
        return 0
    kept = max(line.total_cents - _returned_cents(line.reservation_id) - also_returned_cents, 0)
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
    shares = _shares_of_payments(_payment_refunds(household_id)) if rows else {}
    granted = _shares_of_grants({line.invoice_id for line, _number in rows}) if rows else {}
    for line, number in rows:
        if not under_six_on_first_january(line.child_birth_date, year):
            continue
        amount = eligible_cents(line, shares.get(line.id, 0) + granted.get(line.id, 0))
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
