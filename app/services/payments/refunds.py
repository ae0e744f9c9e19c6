"""Refunds: staff refunds, the automatic refund of a payment that cannot be kept (staff cancellations
are app.services.payments.cancellations: one rule for parents and staff).

Money is never lost and never paid back twice (DESIGN.md §3.4, §3.9): a refund is a row first
(status pending, committed), then sent to the provider with an idempotency key derived from the
row id, then its outcome is written in a second short transaction. A refund whose answer was lost
stays pending and is sent again by the sweeper (`retry_pending_refunds`) with the same key.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Basket, Payment, PaymentStatus, Refund, Reservation, db
from app.services import audit
from app.services.errors import Busy, Conflict, NotFound, ValidationFailed
from app.services.payments.common import (
    PAID_STATES,
    _actor_id,
    _db_id,
    _flag,
    _lines_context,
    _lock,
    _mail,
    _payment_snapshot,
)
from app.services.payments.provider import ProviderError, ProviderUnavailable
from app.services.payments.registry import get_provider
from app.services.transactions import unit_of_work

log = logging.getLogger(__name__)

# Called inside the block that creates a refund tied to a sale (staff refund, cancellation refunded):
# invoices.document_refund issues its credit note (registered by app/services/payments/__init__.py;
# a hook, because the invoices depend on the credit notes, which depend on these refunds).
_REFUND_DOCUMENTERS: list[Callable[..., object]] = []


def register_refund_documenter(documenter: Callable[..., object]) -> None:
    if documenter not in _REFUND_DOCUMENTERS:
        _REFUND_DOCUMENTERS.append(documenter)


def _document_refund(refund: Refund, *, actor) -> None:
    for documenter in _REFUND_DOCUMENTERS:
        documenter(refund, actor=actor)


def _apply_refund_success(payment: Payment, refund: Refund, ref: str | None) -> None:
    refund.status = "succeeded"
    refund.provider_ref = ref or refund.provider_ref
    payment.refunded_cents = min(payment.amount_cents, payment.refunded_cents + refund.amount_cents)
    if payment.status in PAID_STATES:
        payment.status = (PaymentStatus.REFUNDED if payment.refunded_cents >= payment.amount_cents
                          else PaymentStatus.PARTIALLY_REFUNDED)


def _refund_everything(payment: Payment, basket: Basket, reason: str, before: dict, now: datetime, *,
                       mail_kind: str, lines: list[Reservation] | None = None) -> list[int]:
    """Inside the fulfilment's transaction: a payment that cannot be kept is refunded in full (the
    row now, the provider call after the commit), flagged for staff, and the family is told why."""
    refund_ids = []
    if payment.amount_cents > 0:
        refund = Refund(payment_id=payment.id, amount_cents=payment.amount_cents, reason=reason, status="pending")
        db.session.add(refund)
        db.session.flush()
        refund_ids.append(refund.id)
        audit.record("refund.requested", "refund", refund.id, household_id=payment.household_id,
                     after={"payment_id": payment.id, "amount_cents": refund.amount_cents, "reason": reason})
    _flag(payment, reason)
    _mail(f"payment_{mail_kind}_refunded", basket.household,
          _("Votre paiement vous est remboursé — panier n° %(id)s", id=basket.id), "payment_late_refunded",
          dedupe_key=f"payment-{payment.id}-refunded", basket=basket, payment=payment, reason_kind=mail_kind,
          lines=_lines_context(lines or [line for line in basket.lines]), amount_cents=payment.amount_cents)
    return refund_ids


def _send_refund(refund_id: int) -> Refund | None:
    """Send one pending refund to its provider (idempotent: the key is the refund row's id)."""
    with unit_of_work():  # a read, ended before the network call
        refund = db.session.get(Refund, refund_id)
        if refund is None or refund.status != "pending":
            return refund
        payment = refund.payment
        provider = get_provider(name=payment.provider)
        args = dict(payment_ref=payment.provider_payment_ref, checkout_ref=payment.provider_ref,
                    amount_cents=refund.amount_cents, idempotency_key=f"portail-refund-{refund.id}",
                    reason=refund.reason)
        basket_id, payment_id = payment.basket_id, payment.id
    error: ProviderError | None = None
    outcome = None
    try:
        outcome = provider.refund(**args)
    except ProviderError as exc:
        error = exc
    with unit_of_work():
        _lock(Basket, basket_id)
        payment = _lock(Payment, payment_id)
        refund = _lock(Refund, refund_id)
        if refund.status == "pending":  # else a concurrent retry got there first
            _record_refund_outcome(payment, refund, outcome, error)
    return db.session.get(Refund, refund_id)


def _record_refund_outcome(payment: Payment, refund: Refund, outcome, error: ProviderError | None) -> None:
    before = _payment_snapshot(payment)
    if outcome is not None:
        _apply_refund_success(payment, refund, outcome.ref)
        audit.record("refund.succeeded", "refund", refund.id, household_id=payment.household_id,
                     after={"amount_cents": refund.amount_cents, "provider_ref": refund.provider_ref})
        audit.record("payment.refunded", "payment", payment.id, household_id=payment.household_id,
                     before=before, after=_payment_snapshot(payment))
    elif isinstance(error, ProviderUnavailable):
        _flag(payment, _("Remboursement n° %(id)s en attente : le service de paiement ne répondait pas "
                         "(nouvel essai automatique).", id=refund.id))
        audit.record("refund.retry_scheduled", "refund", refund.id, household_id=payment.household_id,
                     after={"error": error.message})
    else:
        refund.status = "failed"
        _flag(payment, _("Remboursement n° %(id)s refusé par le prestataire : à traiter à la main.", id=refund.id))
        audit.record("refund.failed", "refund", refund.id, household_id=payment.household_id,
                     after={"error": getattr(error, "message", str(error)),
                            "provider_message": getattr(error, "details", {}).get("provider_message")})


def _send_refunds(refund_ids: list[int]) -> None:
    for refund_id in refund_ids:
        try:
            _send_refund(refund_id)
        except Busy:
            log.warning("refund %s: lock busy, the sweeper will retry", refund_id)


def retry_pending_refunds(limit: int = 100) -> int:
    """Sweeper hook: send again the refunds whose provider answer was lost."""
    with unit_of_work():
        ids = db.session.execute(
            select(Refund.id).where(Refund.status == "pending").order_by(Refund.id).limit(limit)
        ).scalars().all()
    for refund_id in ids:
        try:
            _send_refund(refund_id)  # each of its blocks rolled back whatever failed
        except Exception:
            log.exception("refund %s retry failed", refund_id)
    return len(ids)


def refundable_cents(payment: Payment) -> int:
    pending = sum(r.amount_cents for r in payment.refunds if r.status == "pending")
    return max(0, payment.amount_cents - payment.refunded_cents - pending)


def refund(payment_id: int, amount_cents: int, reason: str, *, actor, reservation_id: int | None = None) -> Refund:
    """Staff refund, full or partial, through the payment's provider. Returns the Refund row
    (status succeeded, or pending when the provider did not answer: it is retried automatically)."""
    try:
        amount_cents = int(amount_cents)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Montant invalide."), code="invalid_amount") from None
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Indiquez le motif du remboursement."), code="reason_required")
    with unit_of_work():
        payment = db.session.get(Payment, payment_id) if _db_id(payment_id) else None
        if payment is None:
            raise NotFound(_("Paiement introuvable."), code="payment_not_found")
        _lock(Basket, payment.basket_id)
        payment = _lock(Payment, payment_id)
        row = _create_refund(payment, amount_cents, reason, actor=actor, reservation_id=reservation_id)
        _document_refund(row, actor=actor)  # the credit note (AV) of the invoice it pays back
        refund_id = row.id
    result = _send_refund(refund_id)
    if result is not None and result.status == "failed":
        raise ProviderError(_("Le remboursement a été refusé par le service de paiement. Le paiement est "
                              "signalé pour un traitement manuel."), code="refund_failed")
    return result


def _create_refund(payment: Payment, amount_cents: int, reason: str, *, actor, reservation_id: int | None) -> Refund:
    """Inside a block holding the payment's lock; a refusal raised here rolls the block back."""
    if payment.status not in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED):
        raise Conflict(_("Seul un paiement encaissé peut être remboursé."), code="not_refundable")
    if amount_cents <= 0:
        raise ValidationFailed(_("Le montant à rembourser doit être positif."), code="invalid_amount")
    available = refundable_cents(payment)
    if amount_cents > available:
        from app.services.localize import euros

        raise ValidationFailed(_("Montant trop élevé : il reste %(left)s remboursables sur ce paiement.",
                                 left=euros(available)), code="amount_too_high")
    refund_row = Refund(payment_id=payment.id, reservation_id=reservation_id, amount_cents=amount_cents,
                        reason=reason, status="pending", created_by_id=_actor_id(actor))
    db.session.add(refund_row)
    db.session.flush()
    audit.record("refund.requested", "refund", refund_row.id, actor=actor, household_id=payment.household_id,
                 after={"payment_id": payment.id, "amount_cents": amount_cents, "reason": reason,
                        "reservation_id": reservation_id})
    return refund_row


