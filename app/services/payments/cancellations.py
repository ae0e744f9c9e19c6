"""Cancellations carried out: the parent's « Annuler », staff's decisions on late requests, and
staff cancelling on a family's behalf with the outcome they choose.

What may happen is the booking rule's answer (`booking.cancellation.quote`); this module does the
money side, which payments owns: an avoir (credit note) to the household that paid, or a refund to
the card that paid (the part of a week paid with credit goes back as credit: money is conserved,
DESIGN.md §3.9). In the same transaction, under the week locks, the freed place and bus seat go to
the waiting list (`offer_freed_places`, §3.8).

Locks, in the order every writer takes them: basket → reservation → weeks (inside the waiting-list
cascade) → payment → the credit-note counter. A parent and staff cancelling the same week are
serialised on the basket row: the second finds the week already cancelled.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import (
    Basket,
    CancellationOutcome,
    CancellationRequest,
    CancellationRequestStatus,
    CreditNoteKind,
    Payment,
    PaymentStatus,
    Reservation,
    ReservationStatus,
    db,
    utcnow,
)
from app.services import audit
from app.services.booking.cancellation import QuoteOutcome, add_request, amount_due_back, pending_request, quote
from app.services.booking.waitlist_offers import offer_freed_places
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.localize import euros
from app.services.payments.common import _db_id, _lines_context, _lock, _mail
from app.services.payments.credits import credit_of_payment, issue_credit_note
from app.services.payments.refunds import _create_refund, _document_refund, _send_refunds, refundable_cents
from app.services.transactions import unit_of_work

STAFF_OUTCOMES = (CancellationOutcome.CREDIT, CancellationOutcome.REFUND, "none")


@dataclass(frozen=True)
class CancelResult:
    outcome: str  # credit, refund, pending_review, refused
    amount_cents: int
    message: str
    reservation_id: int
    request_id: int | None = None
    code: str | None = None
    credit_cents: int = 0  # of which credited (a refund's part paid with credit comes back as credit)
    refund_cents: int = 0


def _locked_line(reservation_id, household_id: int | None = None) -> Reservation:
    line = db.session.get(Reservation, reservation_id) if _db_id(reservation_id) else None
    if line is None or (household_id is not None and line.household_id != household_id):
        raise NotFound(_("Inscription introuvable."), code="reservation_not_found")
    _lock(Basket, line.basket_id)
    return _lock(Reservation, line.id)


def _basket_payment(basket_id: int) -> Payment | None:
    payment_id = db.session.execute(
        select(Payment.id).where(Payment.basket_id == basket_id,
                                 Payment.status.in_((PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED,
                                                     PaymentStatus.REFUNDED)))
        .order_by(Payment.id.desc()).limit(1)).scalar_one_or_none()
    return _lock(Payment, payment_id) if payment_id else None


def _carry_out(line: Reservation, outcome: str, amount: int, reason: str, *, actor,
               now: datetime) -> tuple[int, int, list[int]]:
    """Inside a block holding the basket and reservation locks: cancel the week, free its place for
    the waiting list, then credit or refund `amount` (the rule's `amount_due_back`, read under these
    locks). Returns (credited, refunded, refund ids to send)."""
    before = {"status": line.status}
    line.status = ReservationStatus.CANCELLED
    line.ended_at = now
    line.cancel_reason = reason
    offer_freed_places([line.week_id], now)  # the place and the bus seat go to the list at once
    credited = refunded = 0
    refund_ids: list[int] = []
    if outcome == CancellationOutcome.REFUND and amount > 0:
        payment = _basket_payment(line.basket_id)
        if payment is not None:
            # The basket's credit part is not on the card: at most the card's share of this week.
            card_share = payment.amount_cents
            paid_total = card_share + credit_of_payment(payment.id)
            share = amount if paid_total <= 0 else amount * card_share // paid_total
            refunded = min(share, refundable_cents(payment))
            if refunded > 0:
                row = _create_refund(payment, refunded, _("Annulation : %(reason)s", reason=reason),
                                     actor=actor, reservation_id=line.id)
                _document_refund(row, actor=actor)  # the credit note (AV) of the refunded part
                refund_ids.append(row.id)
        credited = amount - refunded
    elif outcome == CancellationOutcome.CREDIT:
        credited = amount
    if credited > 0:
        issue_credit_note(line.household_id, credited, CreditNoteKind.CANCELLATION,
                          _("Annulation : %(line)s", line=_line_text(line)), reservation_id=line.id,
                          actor=actor, now=now)
    audit.record("reservation.cancelled", "reservation", line.id, actor=actor, household_id=line.household_id,
                 before=before, after={"status": line.status, "reason": reason, "outcome": outcome,
                                       "credit_cents": credited, "refund_cents": refunded})
    _mail("reservation_cancelled", line.household,
          _("Annulation d'une inscription — %(child)s", child=line.child.full_name), "cancellation_done",
          dedupe_key=f"reservation-{line.id}-cancelled", line=_lines_context([line])[0], reason=reason,
          credit_cents=credited, refund_cents=refunded)
    return credited, refunded, refund_ids


def _line_text(line: Reservation) -> str:
    return f"{line.child.first_name} — {line.week.label}"


def cancel_by_parent(household_id: int, reservation_id, *, document_id=None, reason: str | None = None, actor=None,
                     now: datetime | None = None) -> CancelResult:
    """« Annuler » on a confirmed week: before the deadline, done at once with the rule's outcome;
    after it, a request with a justification for staff; otherwise refused with the reason."""
    refund_ids: list[int] = []
    with unit_of_work():
        line = _locked_line(reservation_id, household_id)
        now = now or utcnow()  # after the lock: the rule is read as the next writer will see it
        answer = quote(line, now)
        if answer.outcome == QuoteOutcome.REFUSED:
            return CancelResult(answer.outcome, 0, answer.message, line.id, code=answer.code)
        if answer.outcome == QuoteOutcome.PENDING_REVIEW:
            document_id = _household_document(household_id, document_id)
            if document_id is None and not (reason or "").strip():
                return CancelResult(QuoteOutcome.REFUSED, 0, _(
                    "Le délai d'annulation gratuite est passé : joignez un justificatif (certificat médical…) "
                    "pour que le Pôle Jeunesse examine votre demande."), line.id, code="justification_required")
            request = add_request(line, document_id=document_id, reason=reason, actor=actor)
            _mail("cancellation_requested", line.household,
                  _("Demande d'annulation reçue — %(child)s", child=line.child.full_name), "cancellation_request",
                  dedupe_key=f"cancellation-request-{request.id}", line=_lines_context([line])[0],
                  amount_cents=answer.amount_cents, outcome=answer.rule_outcome)
            return CancelResult(answer.outcome, answer.amount_cents, _(
                "Votre demande d'annulation est envoyée au Pôle Jeunesse, qui vous répondra par e-mail."),
                line.id, request_id=request.id)
        credited, refunded, refund_ids = _carry_out(line, answer.outcome, answer.amount_cents,
                                                    _("annulée par la famille"), actor=actor, now=now)
        result = CancelResult(answer.outcome, answer.amount_cents, _done_message(credited, refunded), line.id,
                              credit_cents=credited, refund_cents=refunded)
    _send_refunds(refund_ids)
    return result


def _done_message(credited: int, refunded: int) -> str:
    parts = [_("L'inscription est annulée.")]
    if credited:
        parts.append(_("Un avoir de %(amount)s est crédité sur votre compte.", amount=euros(credited)))
    if refunded:
        parts.append(_("%(amount)s vous sont remboursés sur votre carte.", amount=euros(refunded)))
    return " ".join(parts)


def _household_document(household_id: int, document_id) -> int | None:
    """A justification must be one of the household's own documents (another's id → not found)."""
    if document_id in (None, ""):
        return None
    from app.services.household.documents import household_document

    return household_document(household_id, document_id).id


# --- staff --------------------------------------------------------------------------------------

def decide_request(request_id, *, accept: bool, note: str | None = None, actor) -> CancelResult:
    """Staff decide a late request: accept → the period's outcome; refuse → the reason is mailed."""
    note = (note or "").strip()[:1000]
    if not accept and not note:
        raise ValidationFailed(_("Indiquez à la famille le motif du refus."), code="reason_required")
    refund_ids: list[int] = []
    with unit_of_work():
        found = db.session.get(CancellationRequest, request_id) if _db_id(request_id) else None
        if found is None:
            raise NotFound(_("Demande d'annulation introuvable."), code="request_not_found")
        line = _locked_line(found.reservation_id)
        request = _lock(CancellationRequest, found.id)
        if request.status != CancellationRequestStatus.PENDING:
            raise Conflict(_("Cette demande a déjà été traitée."), code="request_decided")
        now = utcnow()
        before = {"status": request.status}
        request.decided_at, request.decided_by_id, request.decision_note = now, getattr(actor, "id", None), note or None
        if not accept or line.status != ReservationStatus.CONFIRMED:
            request.status = CancellationRequestStatus.REFUSED
            message = note or _("L'inscription n'est plus confirmée.")
            _mail("cancellation_refused", line.household,
                  _("Demande d'annulation refusée — %(child)s", child=line.child.full_name), "cancellation_refused",
                  dedupe_key=f"cancellation-request-{request.id}-refused", line=_lines_context([line])[0],
                  note=message)
            audit.record("cancellation.refused", "cancellation_request", request.id, actor=actor,
                         household_id=line.household_id, before=before, after={"status": request.status, "note": note})
            return CancelResult(QuoteOutcome.REFUSED, 0, message, line.id, request_id=request.id, code="refused")
        request.status = CancellationRequestStatus.ACCEPTED
        audit.record("cancellation.accepted", "cancellation_request", request.id, actor=actor,
                     household_id=line.household_id, before=before, after={"status": request.status, "note": note})
        outcome = quote_rule_outcome(line)
        credited, refunded, refund_ids = _carry_out(line, outcome, amount_due_back(line),
                                                    note or _("justificatif accepté"), actor=actor, now=now)
        result = CancelResult(outcome, credited + refunded, _done_message(credited, refunded), line.id,
                              request_id=request.id, credit_cents=credited, refund_cents=refunded)
    _send_refunds(refund_ids)
    return result


def quote_rule_outcome(line: Reservation) -> str:
    from app.services.booking.cancellation import rules_for

    return rules_for(line.week.period_id).outcome


def cancel_for_family(reservation_id, *, outcome: str, reason: str, actor) -> CancelResult:
    """Staff cancel on a family's behalf, whatever the deadline, choosing the outcome (credit,
    refund, or none: the money is kept, e.g. a no-show the rules do not excuse)."""
    reason = (reason or "").strip()[:1000]
    if not reason:
        raise ValidationFailed(_("Indiquez le motif de l'annulation."), code="reason_required")
    if outcome not in STAFF_OUTCOMES:
        raise ValidationFailed(_("Choisissez avoir, remboursement ou sans compensation."), code="invalid_outcome")
    refund_ids: list[int] = []
    with unit_of_work():
        line = _locked_line(reservation_id)
        if line.status != ReservationStatus.CONFIRMED:
            raise Conflict(_("Seule une inscription confirmée peut être annulée."), code="not_confirmed")
        pending = pending_request(line.id)
        if pending is not None:  # staff's own cancellation settles the family's request
            pending.status, pending.decided_at = CancellationRequestStatus.ACCEPTED, utcnow()
            pending.decided_by_id, pending.decision_note = getattr(actor, "id", None), reason
        credited, refunded, refund_ids = _carry_out(line, outcome, amount_due_back(line), reason, actor=actor,
                                                    now=utcnow())
        result = CancelResult(outcome, credited + refunded, _done_message(credited, refunded), line.id,
                              credit_cents=credited, refund_cents=refunded)
    _send_refunds(refund_ids)
    return result


def cancel_reservation(reservation_id, *, reason: str, refund: bool = False, outcome: str | None = None,
                       actor) -> Reservation:
    """Staff's « Annuler » on the payment and desk screens: the same rule as every cancellation
    (`cancel_for_family`), with the outcome chosen on the form; the older `refund` flag means a
    refund to the card (else nothing). A week paid partly by credit gets that part back as credit;
    a refund asked where no card payment can take it becomes credit too: money is conserved."""
    if outcome is None:
        outcome = CancellationOutcome.REFUND if refund else "none"
    result = cancel_for_family(reservation_id, outcome=outcome, reason=reason, actor=actor)
    return db.session.get(Reservation, result.reservation_id)
