"""The household's credit account (avoirs): credit notes in, uses out (DESIGN.md §3.9, §3.10).

Rules kept here, whatever the entry point:
* A credit belongs to the household that paid: a credit note is always issued to the household of
  the cancelled reservation (the one whose basket paid it), never to the child's other household.
* Credit notes are numbered AV-<year>-<000001>, gapless per year: the number comes from a counter
  row locked FOR UPDATE in the issuing transaction, so a rolled-back issue uses no number.
* Spending credit at checkout is a use tied to the payment of that attempt: it holds the money
  while the payment is pending (so two checkouts cannot spend the same credit; the household row is
  locked while the available credit is read and taken) and counts for good once fulfilment
  confirms the basket (`apply_checkout_uses`). A payment that fails, expires or is refused without
  confirming anything simply stops holding it: nothing to undo, no job to wait for.
* Book balance (what the money invariant counts) = Σ notes − Σ uses applied; available balance
  (what the parent may spend) also deducts the uses held by pending payments.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.models import (
    CreditNote,
    CreditNoteKind,
    CreditUse,
    CreditUseKind,
    DocumentCounter,
    Household,
    Payment,
    PaymentStatus,
    db,
    utcnow,
)
from app.services import audit
from app.services.errors import NotFound, ValidationFailed
from app.services.localize import euros, to_paris
from app.services.payments.common import _actor_id, _db_id, _lock, _mail
from app.services.transactions import unit_of_work

log = logging.getLogger(__name__)

CREDIT_NOTE_PREFIX = "AV"
USE_LABELS = {
    CreditUseKind.CHECKOUT: "Utilisé pour le panier",
    CreditUseKind.WITHDRAWAL: "Retiré par le Pôle Jeunesse",
    CreditUseKind.REFUND_CARD: "Remboursé sur votre carte",
    CreditUseKind.REFUND_REGIE: "Remboursé par la régie",
}


# --- numbers ------------------------------------------------------------------------------------

def next_number(kind: str, year: int) -> int:
    """Inside the issuing transaction: the next number of `kind` for `year`, its counter row locked
    until the commit (a second issuer waits, then reads the number after ours)."""
    dialect = db.session.get_bind().dialect.name
    values = {"kind": kind, "year": year, "last_number": 0}
    if dialect == "postgresql":
        db.session.execute(pg_insert(DocumentCounter).values(**values).on_conflict_do_nothing(
            index_elements=["kind", "year"]))
    elif dialect == "sqlite":
        db.session.execute(sqlite_insert(DocumentCounter).values(**values).on_conflict_do_nothing(
            index_elements=["kind", "year"]))
    else:  # pragma: no cover - the portal runs on PostgreSQL or SQLite
        if db.session.execute(select(DocumentCounter.id).where(DocumentCounter.kind == kind,
                                                               DocumentCounter.year == year)).first() is None:
            db.session.add(DocumentCounter(**values))
            db.session.flush()
    counter = db.session.execute(
        select(DocumentCounter).where(DocumentCounter.kind == kind, DocumentCounter.year == year)
        .with_for_update().execution_options(populate_existing=True)).scalar_one()
    counter.last_number += 1
    return counter.last_number


def issue_credit_note(household_id: int, amount_cents: int, kind: str, reason: str, *,
                      reservation_id: int | None = None, actor=None, now: datetime | None = None) -> CreditNote:
    """Inside the caller's block: a numbered avoir for `household_id`."""
    now = now or utcnow()
    year = to_paris(now).year
    sequence = next_number(CREDIT_NOTE_PREFIX, year)
    note = CreditNote(number=f"{CREDIT_NOTE_PREFIX}-{year}-{sequence:06d}", year=year, sequence=sequence,
                      household_id=household_id, kind=kind, amount_cents=amount_cents, reason=reason,
                      reservation_id=reservation_id, created_at=now, created_by_id=_actor_id(actor))
    db.session.add(note)
    db.session.flush()
    audit.record("credit_note.issued", "credit_note", note.id, actor=actor, household_id=household_id,
                 after={"number": note.number, "kind": kind, "amount_cents": amount_cents, "reason": reason,
                        "reservation_id": reservation_id})
    return note


# --- balances -----------------------------------------------------------------------------------

def _balance(household_id: int, *, include_pending: bool) -> int:
    """Σ credit notes − Σ uses that count, in one statement (two scalar subqueries)."""
    counted = or_(CreditUse.kind != CreditUseKind.CHECKOUT, CreditUse.applied.is_(True))
    if include_pending:
        counted = or_(counted, CreditUse.payment_id.in_(
            select(Payment.id).where(Payment.status == PaymentStatus.PENDING)))
    notes = (select(func.coalesce(func.sum(CreditNote.amount_cents), 0))
             .where(CreditNote.household_id == household_id).scalar_subquery())
    uses = (select(func.coalesce(func.sum(CreditUse.amount_cents), 0))
            .where(CreditUse.household_id == household_id, counted).scalar_subquery())
    return int(db.session.execute(select(notes - uses)).scalar_one())


def book_balance(household_id: int) -> int:
    """The household's credit as the books see it (DESIGN.md §3.9)."""
    return _balance(household_id, include_pending=False)


def available_credit(household_id: int) -> int:
    """What the household may spend now: the book balance less what pending payments hold."""
    return _balance(household_id, include_pending=True)


def lock_household(household_id: int) -> Household:
    household = _lock(Household, household_id) if _db_id(household_id) else None
    if household is None:
        raise NotFound(_("Dossier famille introuvable."), code="household_not_found")
    return household


# --- checkout -----------------------------------------------------------------------------------

def credit_to_take(household_id: int, total_cents: int) -> int:
    """Inside start_checkout's block, the basket locked: how much of the basket's total the
    household's available credit pays. The household row is locked until the commit, so two
    checkouts of one household read and take the credit in turn."""
    lock_household(household_id)
    return min(max(available_credit(household_id), 0), max(total_cents, 0))


def reserve_for_checkout(payment: Payment, amount_cents: int, *, actor=None) -> CreditUse | None:
    """Inside the same block, after `credit_to_take`: the credit held by this payment attempt."""
    if amount_cents <= 0:
        return None
    use = CreditUse(household_id=payment.household_id, kind=CreditUseKind.CHECKOUT, amount_cents=amount_cents,
                    payment_id=payment.id, reason=_("Panier n° %(id)s", id=payment.basket_id),
                    created_by_id=_actor_id(actor))
    db.session.add(use)
    db.session.flush()
    audit.record("credit.reserved", "credit_use", use.id, actor=actor, household_id=payment.household_id,
                 after={"payment_id": payment.id, "basket_id": payment.basket_id, "amount_cents": amount_cents})
    return use


def checkout_use(payment_id: int) -> CreditUse | None:
    return db.session.execute(select(CreditUse).where(CreditUse.payment_id == payment_id)).scalar_one_or_none()


def credit_of_payment(payment_id: int) -> int:
    use = checkout_use(payment_id)
    return use.amount_cents if use is not None else 0


def apply_checkout_uses(payment: Payment) -> int:
    """Inside fulfilment, when the basket is confirmed: the credit held by this payment is spent.
    A credit spent meanwhile elsewhere (a payment that landed after its page had expired) is not
    taken twice: the payment is flagged for staff with what remains due."""
    use = checkout_use(payment.id)
    if use is None or use.applied:
        return 0
    lock_household(payment.household_id)
    free = book_balance(payment.household_id) - _held_by_other_pending(payment)
    if free < use.amount_cents:
        from app.services.payments.common import _flag

        _flag(payment, _("Avoir de %(amount)s déjà utilisé ailleurs : %(due)s restent dus par la famille.",
                         amount=euros(use.amount_cents), due=euros(use.amount_cents - max(free, 0))))
    use.applied = True
    audit.record("credit.used", "credit_use", use.id, household_id=payment.household_id,
                 after={"payment_id": payment.id, "amount_cents": use.amount_cents})
    return use.amount_cents


def _held_by_other_pending(payment: Payment) -> int:
    return db.session.execute(select(func.coalesce(func.sum(CreditUse.amount_cents), 0)).where(
        CreditUse.household_id == payment.household_id, CreditUse.kind == CreditUseKind.CHECKOUT,
        CreditUse.applied.is_(False), CreditUse.payment_id != payment.id,
        CreditUse.payment_id.in_(select(Payment.id).where(Payment.status == PaymentStatus.PENDING)))).scalar_one()


# --- the account as the parent reads it ---------------------------------------------------------

@dataclass(frozen=True)
class AccountLine:
    date: datetime
    label: str
    amount_cents: int  # signed: + credit note, − use
    number: str | None
    kind: str


def account(household_id: int) -> dict:
    """{"credit_cents": available balance, "credits": the credit notes and uses, newest first}."""
    notes = db.session.execute(select(CreditNote).where(CreditNote.household_id == household_id)).scalars().all()
    uses = db.session.execute(select(CreditUse).where(CreditUse.household_id == household_id)).scalars().all()
    lines = [AccountLine(n.created_at, n.reason, n.amount_cents, n.number, n.kind) for n in notes]
    for use in uses:
        if use.kind == CreditUseKind.CHECKOUT and not use.applied:
            if use.payment is None or use.payment.status != PaymentStatus.PENDING:
                continue  # an attempt that never paid: the credit never left
        label = _(USE_LABELS[use.kind])
        if use.kind == CreditUseKind.CHECKOUT:
            label = f"{label} n° {use.payment.basket_id}"
            if not use.applied:
                label += " " + _("(paiement en cours)")
        elif use.reason:
            label = f"{label} : {use.reason}"
        lines.append(AccountLine(use.created_at, label, -use.amount_cents, None, use.kind))
    lines.sort(key=lambda line: line.date, reverse=True)
    return {"credit_cents": available_credit(household_id), "book_cents": book_balance(household_id),
            "credits": [{"date": line.date, "label": line.label, "amount_cents": line.amount_cents,
                         "number": line.number, "kind": line.kind} for line in lines]}


# --- staff: grant, withdraw, refund the balance --------------------------------------------------

def households_with_credit(limit: int = 500) -> list[tuple[Household, int]]:
    """Staff's list: every household whose book balance is not zero, largest first (two grouped
    queries, whatever the number of households)."""
    notes = dict(db.session.execute(select(CreditNote.household_id, func.sum(CreditNote.amount_cents))
                                    .group_by(CreditNote.household_id)).all())
    if not notes:
        return []
    counted = or_(CreditUse.kind != CreditUseKind.CHECKOUT, CreditUse.applied.is_(True))
    uses = dict(db.session.execute(select(CreditUse.household_id, func.sum(CreditUse.amount_cents))
                                   .where(counted).group_by(CreditUse.household_id)).all())
    balances = {hid: total - uses.get(hid, 0) for hid, total in notes.items() if total - uses.get(hid, 0) != 0}
    households = {h.id: h for h in db.session.execute(
        select(Household).where(Household.id.in_(list(balances)))).scalars()}
    rows = [(households[hid], cents) for hid, cents in balances.items() if hid in households]
    rows.sort(key=lambda row: (-row[1], row[0].name))
    return rows[:limit]


def _amount_and_reason(amount_cents, reason: str | None) -> tuple[int, str]:
    try:
        amount = int(amount_cents)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Montant invalide."), code="invalid_amount") from None
    if amount <= 0 or amount > 10_000_00:
        raise ValidationFailed(_("Le montant doit être positif (en centimes, 10 000 € au plus)."),
                               code="invalid_amount")
    reason = (reason or "").strip()[:500]
    if not reason:
        raise ValidationFailed(_("Indiquez le motif."), code="reason_required")
    return amount, reason


def grant(household_id: int, amount_cents, reason: str, *, actor) -> CreditNote:
    """Staff grant a credit (a goodwill gesture, a correction) with a reason: an avoir like any other."""
    amount, reason = _amount_and_reason(amount_cents, reason)
    with unit_of_work():
        household = lock_household(household_id)
        note = issue_credit_note(household_id, amount, CreditNoteKind.GRANT, reason, actor=actor)
        _mail_change(household, amount, CreditNoteKind.GRANT, reason, f"credit-note-{note.id}", number=note.number)
        return note


def _mail_change(household: Household, change: int, kind: str, reason: str, dedupe_key: str,
                 number: str | None = None) -> None:
    """Staff's grant, withdrawal or refund of a credit is mailed to the family with its new balance."""
    _mail("credit_changed", household, _("Votre avoir au Pôle Jeunesse a changé"), "credit_changed",
          dedupe_key=dedupe_key, change=change, change_kind=kind, reason=reason, number=number,
          balance=available_credit(household.id))


def _take(household_id: int, amount: int, kind: str, reason: str, actor) -> CreditUse:
    """Inside a block: money out of the account, never more than is available."""
    household = lock_household(household_id)
    available = available_credit(household_id)
    if amount > available:
        raise ValidationFailed(_("Montant trop élevé : le solde disponible est de %(left)s.", left=euros(available)),
                               code="amount_too_high")
    use = CreditUse(household_id=household_id, kind=kind, amount_cents=amount, reason=reason, applied=True,
                    created_by_id=_actor_id(actor))
    db.session.add(use)
    db.session.flush()
    audit.record(f"credit.{kind}", "credit_use", use.id, actor=actor, household_id=household_id,
                 after={"amount_cents": amount, "reason": reason})
    _mail_change(household, -amount, kind, reason, f"credit-use-{use.id}")
    return use


def withdraw(household_id: int, amount_cents, reason: str, *, actor) -> CreditUse:
    amount, reason = _amount_and_reason(amount_cents, reason)
    with unit_of_work():
        return _take(household_id, amount, CreditUseKind.WITHDRAWAL, reason, actor)


def refund_by_regie(household_id: int, amount_cents, reason: str, *, actor) -> CreditUse:
    """The régie pays the balance back by transfer (its reference in `reason`)."""
    amount, reason = _amount_and_reason(amount_cents, reason)
    with unit_of_work():
        return _take(household_id, amount, CreditUseKind.REFUND_REGIE, reason, actor)


def refund_to_card(household_id: int, amount_cents, reason: str, *, actor) -> CreditUse:
    """The balance goes back to the cards that paid, newest payment first, through the ordinary
    refunds (each a Refund row sent after the commit, retried by the sweeper)."""
    from app.services.payments.refunds import _create_refund, _send_refunds, refundable_cents

    amount, reason = _amount_and_reason(amount_cents, reason)
    with unit_of_work():
        use = _take(household_id, amount, CreditUseKind.REFUND_CARD, reason, actor)
        payment_ids = db.session.execute(
            select(Payment.id).where(Payment.household_id == household_id, Payment.amount_cents > 0,
                                     Payment.status.in_((PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)))
            .order_by(Payment.id.desc())).scalars().all()
        left, refund_ids = amount, []
        for payment_id in payment_ids:
            payment = _lock(Payment, payment_id)
            part = min(left, refundable_cents(payment))
            if part > 0:
                refund_ids.append(_create_refund(payment, part, _("Avoir remboursé : %(reason)s", reason=reason),
                                                 actor=actor, reservation_id=None).id)
                left -= part
            if left == 0:
                break
        if left:
            raise ValidationFailed(_("Les paiements par carte de cette famille ne permettent de rembourser que "
                                     "%(max)s : remboursez le reste par la régie.", max=euros(amount - left)),
                                   code="not_refundable")
        use_id = use.id
    _send_refunds(refund_ids)
    return db.session.get(CreditUse, use_id)
