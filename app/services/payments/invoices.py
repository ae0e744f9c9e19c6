"""Invoices: one per paid basket, numbered FA-<year>-<000001> without gaps (DESIGN.md §3.10).

* Issued by `issue_invoice` inside the fulfilment transaction (`_fulfil_locked`), whatever paid the
  basket (card, PayFiP, desk, credit): the number comes from the same locked counter row as the
  credit notes (`credits.next_number`), so a fulfilment that rolls back uses no number and two
  fulfilments that race get consecutive numbers.
* Everything printed is copied at issue (payer, child, week, establishment, QF and bracket, transport,
  prices, meal share, how paid): the invoice never changes afterwards (the model refuses updates).
* A household reads only its own invoices: the household that paid the basket.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from flask_babel import gettext as _
from sqlalchemy import or_, select

from app.models import (
    Basket,
    CreditNote,
    CreditNoteKind,
    CreditUse,
    CreditUseKind,
    Invoice,
    InvoiceLine,
    Payment,
    Refund,
    Reservation,
    TransportMode,
    db,
    utcnow,
)
from app.services import audit
from app.services.booking.pricing import bracket_for
from app.services.errors import NotFound, ValidationFailed
from app.services.household.quotients import quotient_on
from app.services.localize import to_paris
from app.services.payments.common import _actor_id, _db_id
from app.services.payments.credits import issue_credit_note, next_number

INVOICE_PREFIX = "FA"

_Document = TypeVar("_Document", Invoice, CreditNote)


def _transport(line: Reservation) -> str:
    if line.transport_mode == TransportMode.BUS and line.circuit is not None:
        stop = f" — {line.stop.name}" if line.stop is not None else ""
        return _("Bus %(circuit)s%(stop)s", circuit=line.circuit.name, stop=stop)
    return _("Accueil sur site")


def _payer_address(basket: Basket) -> str:
    household = basket.household
    city = " ".join(part for part in (household.postcode, household.city) if part)
    return "\n".join(part for part in (household.address_line, city) if part)


def _line(line: Reservation) -> InvoiceLine:
    week = line.week
    period = week.period
    household = line.household
    try:
        bracket = bracket_for(household, period, week)
        bracket_label, meal_share = bracket.label, bracket.meal_share_cents or 0
    except ValidationFailed:  # a tariff removed since the basket was priced: print what was charged
        bracket_label, meal_share = "", 0
    return InvoiceLine(
        reservation_id=line.id, child_id=line.child_id, child_name=line.child.full_name,
        child_birth_date=line.child.birth_date, week_label=week.label, week_starts_on=week.starts_on,
        week_ends_on=week.ends_on, establishment_name=period.establishment.name,
        establishment_kind=period.establishment.kind, bracket_label=bracket_label,
        quotient=quotient_on(household, week.starts_on), transport=_transport(line),
        price_cents=line.price_cents, bus_price_cents=line.bus_price_cents,
        meal_share_cents=min(meal_share, line.price_cents), total_cents=line.total_cents)


def issue_invoice(basket: Basket, payment: Payment, lines: list[Reservation], credit_cents: int, *,
                  now: datetime | None = None) -> Invoice:
    """Inside the fulfilment transaction, once the lines are confirmed: the basket's invoice.
    Idempotent: a basket already invoiced keeps its invoice (and its number)."""
    existing = invoice_of_basket(basket.id)
    if existing is not None:
        return existing
    now = now or utcnow()
    year = to_paris(now).year
    sequence = next_number(INVOICE_PREFIX, year)
    invoice = Invoice(
        number=f"{INVOICE_PREFIX}-{year}-{sequence:06d}", year=year, sequence=sequence,
        household_id=basket.household_id, basket_id=basket.id, payment_id=payment.id, issued_at=now,
        payer_name=basket.household.name, payer_address=_payer_address(basket),
        total_cents=sum(line.total_cents for line in lines), card_cents=payment.amount_cents,
        payment_method=payment.method or "card", payment_provider=payment.provider,
        credit_cents=credit_cents, credit_notes=_spent_notes_text(payment, credit_cents))
    invoice.lines = [_line(line) for line in lines]
    db.session.add(invoice)
    db.session.flush()
    audit.record("invoice.issued", "invoice", invoice.id, household_id=basket.household_id,
                 after={"number": invoice.number, "basket_id": basket.id, "payment_id": payment.id,
                        "total_cents": invoice.total_cents, "card_cents": invoice.card_cents,
                        "credit_cents": credit_cents})
    return invoice


# --- « how paid »: which credit notes a checkout spent ------------------------------------------

def notes_spent_by(use: CreditUse) -> list[tuple[CreditNote, int]]:
    """The credit notes a checkout's use spent, with the cents taken from each: first issued, first
    used. The household's other uses that count (applied checkouts, withdrawals, refunds of the
    balance) took the oldest notes first, except the settlement of a documented card refund, which
    takes its own note (`settled_to_card`); this use takes what the notes still hold, oldest first."""
    notes = list(db.session.execute(select(CreditNote).where(CreditNote.household_id == use.household_id)
                                    .order_by(CreditNote.id)).scalars())
    left = {note.id: note.amount_cents for note in notes}
    by_number = {note.number: note for note in notes}
    others = db.session.execute(select(CreditUse).where(
        CreditUse.household_id == use.household_id, CreditUse.id != use.id,
        or_(CreditUse.kind != CreditUseKind.CHECKOUT, CreditUse.applied.is_(True))).order_by(CreditUse.id)).scalars()
    fifo = 0
    for other in others:
        match = re.match(rf"{SETTLED_PREFIX} ([A-Z]{{2}}-[0-9]{{4}}-[0-9]{{6}}),", other.reason or "")
        settled = by_number.get(match.group(1)) if match and other.kind == CreditUseKind.REFUND_CARD else None
        if settled is not None:
            left[settled.id] = max(left[settled.id] - other.amount_cents, 0)
        else:
            fifo += other.amount_cents
    for note in notes:  # what the other uses took, oldest notes first
        taken = min(fifo, left[note.id])
        left[note.id] -= taken
        fifo -= taken
    spent, due = [], use.amount_cents
    for note in notes:
        taken = min(due, left[note.id])
        if taken > 0:
            spent.append((note, taken))
            due -= taken
    return spent


def _spent_notes_text(payment: Payment, credit_cents: int) -> str:
    """What Invoice.credit_notes keeps: « AV-2026-000001:4500,AV-2026-000004:500 » (number:cents)."""
    from app.services.payments.credits import checkout_use

    use = checkout_use(payment.id) if credit_cents > 0 else None
    if use is None:
        return ""
    return ",".join(f"{note.number}:{cents}" for note, cents in notes_spent_by(use))


def spent_credit_notes(invoice: Invoice) -> list[tuple[str, int]]:
    """[(AV number, cents)] of the credit notes that paid part of `invoice` (an entry without cents:
    0)."""
    spent = []
    for item in (invoice.credit_notes or "").split(","):
        number, _sep, cents = item.strip().partition(":")
        if number:
            spent.append((number, int(cents) if cents.isdigit() else 0))
    return spent


def invoice_of_basket(basket_id: int) -> Invoice | None:
    return db.session.execute(select(Invoice).where(Invoice.basket_id == basket_id)).scalar_one_or_none()


def invoice_of_reservation(reservation_id: int | None) -> Invoice | None:
    """The invoice that billed a reservation (a credit note refers to it)."""
    if reservation_id is None:
        return None
    return db.session.execute(select(Invoice).join(InvoiceLine).where(
        InvoiceLine.reservation_id == reservation_id).order_by(Invoice.id.desc()).limit(1)).scalar_one_or_none()


def household_invoices(household_id: int) -> list[Invoice]:
    """« Mes factures »: newest first."""
    return list(db.session.execute(select(Invoice).where(Invoice.household_id == household_id)
                                   .order_by(Invoice.issued_at.desc(), Invoice.id.desc())).scalars())


def _document(model: type[_Document], raw_id, message: str, code: str,
              household_id: int | None = None) -> _Document:
    """The invoice or credit note `raw_id` (from a URL, a form, the API); with `household_id`, only if it
    is that household's (DESIGN.md §3.6). Anything else is « introuvable »: NotFound(message, code)."""
    document = db.session.get(model, raw_id) if _db_id(raw_id) else None
    if document is None or (household_id is not None and document.household_id != household_id):
        raise NotFound(message, code=code)
    return document


def household_invoice(household_id: int, invoice_id) -> Invoice:
    """One of the household's invoices; any other id is « introuvable » (DESIGN.md §3.6)."""
    return _document(Invoice, invoice_id, _("Facture introuvable."), "invoice_not_found", household_id)


def staff_invoice(invoice_id) -> Invoice:
    return _document(Invoice, invoice_id, _("Facture introuvable."), "invoice_not_found")


def invoices_of_payment(payment_id: int) -> list[Invoice]:
    return list(db.session.execute(select(Invoice).where(Invoice.payment_id == payment_id)).scalars())


# --- « Mes factures »: invoices and credit notes together ----------------------------------------

@dataclass
class DocumentRow:
    """One numbered document of a household's list, newest first (page and API alike)."""

    kind: str  # "invoice" | "credit_note"
    id: int
    number: str
    issued_at: datetime
    amount_cents: int
    label: str
    invoice_number: str | None = None  # a credit note: the invoice it refers to


def household_credit_note(household_id: int, note_id) -> CreditNote:
    """One of the household's credit notes; any other id is « introuvable »."""
    return _document(CreditNote, note_id, _("Avoir introuvable."), "credit_note_not_found", household_id)


def staff_credit_note(note_id) -> CreditNote:
    return _document(CreditNote, note_id, _("Avoir introuvable."), "credit_note_not_found")


def invoice_numbers_of_reservations(reservation_ids: set[int]) -> dict[int, str]:
    if not reservation_ids:
        return {}
    rows = db.session.execute(select(InvoiceLine.reservation_id, Invoice.number).join(Invoice).where(
        InvoiceLine.reservation_id.in_(reservation_ids)).order_by(Invoice.id)).all()
    return {reservation_id: number for reservation_id, number in rows}


def household_documents(household_id: int) -> list[DocumentRow]:
    """The household's invoices and credit notes, newest first: what « Mes factures » lists."""
    rows = [DocumentRow("invoice", invoice.id, invoice.number, invoice.issued_at, invoice.total_cents,
                        _("Facture du panier n° %(id)s", id=invoice.basket_id))
            for invoice in household_invoices(household_id)]
    notes = list(db.session.execute(select(CreditNote).where(CreditNote.household_id == household_id)).scalars())
    numbers = invoice_numbers_of_reservations({n.reservation_id for n in notes if n.reservation_id})
    rows += [DocumentRow("credit_note", note.id, note.number, note.created_at, note.amount_cents, note.reason,
                         numbers.get(note.reservation_id) if note.reservation_id else None) for note in notes]
    rows.sort(key=lambda row: (row.issued_at, row.id), reverse=True)
    return rows


def credit_notes_of_basket(basket_id: int) -> list[CreditNote]:
    """Staff's payment screen: the credit notes issued for the basket's weeks."""
    return list(db.session.execute(select(CreditNote).join(Reservation, Reservation.id == CreditNote.reservation_id)
                                   .where(Reservation.basket_id == basket_id).order_by(CreditNote.id)).scalars())


# --- refunds to the card: a numbered credit note too ---------------------------------------------

SETTLED_PREFIX = "Avoir"  # a settling use's reason starts « Avoir AV-2026-000012, … » (see settled_to_card)


def settled_to_card(note: CreditNote) -> CreditUse | None:
    """The credit use that settled a credit note issued by `document_refund`, if it was one."""
    return db.session.execute(select(CreditUse).where(
        CreditUse.household_id == note.household_id, CreditUse.kind == CreditUseKind.REFUND_CARD,
        CreditUse.reason.like(f"{SETTLED_PREFIX} {note.number},%"))).scalars().first()


def settling_refund(note: CreditNote) -> Refund | None:
    """The refund a credit note documents (its settling use names it: « …, remboursement n° 12 »)."""
    use = settled_to_card(note)
    match = re.search(r"n° ([0-9]{1,9})$", use.reason or "") if use is not None else None
    return db.session.get(Refund, int(match.group(1))) if match else None


def document_refund(refund: Refund, *, actor=None) -> CreditNote | None:
    """Inside the block that creates a card refund of an invoiced payment: the credit note (AV) that
    documents it, referring to the invoice, and at once its settlement to the card (a credit use
    « remboursé sur votre carte »), so the family's credit balance does not move. A payment that
    confirmed nothing has no invoice to credit: nothing is issued."""
    invoice = invoice_of_reservation(refund.reservation_id)
    if invoice is None:
        invoice = next(iter(invoices_of_payment(refund.payment_id)), None)
    if invoice is None:
        return None
    household_id = invoice.household_id
    kind = CreditNoteKind.CANCELLATION if refund.reservation_id else CreditNoteKind.GRANT
    if refund.payment.provider == "payfip":  # no refund call at PayFiP: the régie pays it back by transfer
        text = _("Remboursé par la régie (facture %(number)s) : %(reason)s", number=invoice.number,
                 reason=refund.reason)
    else:
        text = _("Remboursé sur votre carte (facture %(number)s) : %(reason)s", number=invoice.number,
                 reason=refund.reason)
    note = issue_credit_note(household_id, refund.amount_cents, kind, text, reservation_id=refund.reservation_id,
                             actor=actor)
    use = CreditUse(household_id=household_id, kind=CreditUseKind.REFUND_CARD, amount_cents=refund.amount_cents,
                    reason=f"{SETTLED_PREFIX} {note.number}, " + _("remboursement n° %(id)s", id=refund.id),
                    created_by_id=_actor_id(actor))
    db.session.add(use)
    db.session.flush()
    audit.record("credit.refunded_card", "credit_use", use.id, actor=actor, household_id=household_id,
                 after={"credit_note": note.number, "refund_id": refund.id, "amount_cents": refund.amount_cents})
    return note
