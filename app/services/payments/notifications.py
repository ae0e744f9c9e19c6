"""Provider notifications (Stripe webhooks): verify, de-duplicate by event id, act, in one transaction.

A replayed event is found by the unique constraint on (provider, event id): the insert is refused,
the whole transaction is rolled back, and the answer is "duplicate" (the provider stops retrying).
A lock that cannot be had in time is Busy: the webhook answers 503 and the provider retries later.
"""
from __future__ import annotations

import logging
from typing import Mapping

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Basket, Payment, PaymentStatus, ProviderEvent, Refund, db
from app.services import audit
from app.services.errors import ServiceError
from app.services.payments.common import (
    PAID_STATES,
    NotificationResult,
    _flag,
    _lock,
    _payment_snapshot,
)
from app.services.payments.fulfilment import _checkout_ended, _fulfil_locked
from app.services.payments.provider import Notification, NotificationKind
from app.services.payments.refunds import _apply_refund_success, _send_refunds
from app.services.payments.registry import get_provider
from app.services.transactions import unit_of_work

log = logging.getLogger(__name__)


class _EventAlreadySeen(ServiceError):
    """The provider sent this event before: it was processed then (never shown to anyone)."""

    code = "duplicate_event"


# PostgreSQL names the constraint; SQLite names its columns.
_EVENT_SEEN = {"uq_provider_event": lambda: _EventAlreadySeen("duplicate"),
               "provider_event.provider": lambda: _EventAlreadySeen("duplicate")}


def _find_payment(provider_name: str, note: Notification) -> Payment | None:
    payment = None
    if note.payment_id:
        payment = db.session.get(Payment, note.payment_id)
        if payment is not None and (payment.provider != provider_name
                                    or (note.checkout_ref and payment.provider_ref
                                        and payment.provider_ref != note.checkout_ref)):
            log.error("notification %s names payment %s but does not match it", note.event_id, note.payment_id)
            payment = None
    if payment is None and note.checkout_ref:
        payment = db.session.execute(select(Payment).where(
            Payment.provider == provider_name, Payment.provider_ref == note.checkout_ref)).scalar_one_or_none()
    if payment is None and note.payment_ref:
        payment = db.session.execute(select(Payment).where(
            Payment.provider == provider_name, Payment.provider_payment_ref == note.payment_ref)
        ).scalars().first()
    return payment


def handle_notification(provider_name: str, raw_body: bytes, headers: Mapping[str, str]) -> NotificationResult:
    """A provider notification (Stripe webhook): verify, de-duplicate by event id, act.
    Raises InvalidNotification (→ 400) and Busy (→ 503, the provider retries)."""
    provider = get_provider(name=provider_name)
    note = provider.verify_and_parse_notification(raw_body, headers)
    try:
        with unit_of_work(_EVENT_SEEN):
            result, refund_ids = _process(provider_name, note)
    except _EventAlreadySeen:
        return NotificationResult("duplicate", note.event_id)
    _send_refunds(refund_ids)
    return result


def _process(provider_name: str, note: Notification) -> tuple[NotificationResult, list[int]]:
    """Inside handle_notification's block. Returns the answer and the refunds to send after it."""
    payment = _find_payment(provider_name, note)
    basket = None
    if payment is not None:
        # Locks first, in the usual order (basket, payment), then the event row: inserting the
        # event takes a key-share lock on its payment, which taken first would deadlock with a
        # concurrent fulfilment (success page) holding the basket and waiting for the payment.
        payment_id = payment.id
        basket = _lock(Basket, payment.basket_id)
        payment = _lock(Payment, payment_id)
    db.session.add(ProviderEvent(provider=provider_name, event_id=note.event_id, type=note.event_type,
                                 payment_id=payment.id if payment else None, payload=note.payload[:100_000]))
    db.session.flush()  # a replay stops here: the unique constraint refuses it, nothing else is done
    if payment is None:
        if note.kind != NotificationKind.IGNORED:
            log.error("notification %s (%s) for an unknown payment", note.event_id, note.event_type)
        return NotificationResult("ignored" if note.kind == NotificationKind.IGNORED else "unknown_payment",
                                  note.event_id), []
    if note.kind == NotificationKind.PAYMENT_SUCCEEDED:
        if note.amount_cents is not None and note.amount_cents != payment.amount_cents:
            _flag(payment, _("Montant reçu (%(got)s centimes) différent du montant attendu.", got=note.amount_cents))
        if note.extra.get("currency"):
            _flag(payment, _("Devise inattendue : %(cur)s.", cur=note.extra["currency"]))
        outcome, refund_ids = _fulfil_locked(basket, payment, source=f"notification:{note.event_type}",
                                             provider_payment_ref=note.payment_ref)
        return NotificationResult("processed", note.event_id, outcome), refund_ids
    if note.kind in (NotificationKind.PAYMENT_FAILED, NotificationKind.CHECKOUT_EXPIRED):
        status = PaymentStatus.FAILED if note.kind == NotificationKind.PAYMENT_FAILED else PaymentStatus.EXPIRED
        outcome = _checkout_ended(payment.id, status, reason=note.event_type)
        return NotificationResult("processed", note.event_id, outcome), []
    if note.kind == NotificationKind.REFUNDED and note.amount_refunded_cents is not None:
        outcome = _sync_refunds(payment.id, note.amount_refunded_cents)
        return NotificationResult("processed", note.event_id, outcome), []
    if note.kind == NotificationKind.PAYMENT_PENDING:
        audit.record("payment.processing", "payment", payment.id, household_id=payment.household_id,
                     after={"event": note.event_type})
    return NotificationResult("ignored", note.event_id), []


def _sync_refunds(payment_id: int, amount_refunded_cents: int) -> str:
    """The provider reports the total refunded on a payment: settle our pending refunds with it,
    and record as a refund whatever was refunded outside the portal (Stripe dashboard)."""
    payment = db.session.get(Payment, payment_id)
    _lock(Basket, payment.basket_id)
    payment = _lock(Payment, payment_id)
    before = _payment_snapshot(payment)
    known = payment.refunded_cents
    changed = False
    for refund_row in sorted(payment.refunds, key=lambda r: r.id):
        if refund_row.status == "pending" and known + refund_row.amount_cents <= amount_refunded_cents:
            _apply_refund_success(payment, refund_row, refund_row.provider_ref)
            known = payment.refunded_cents
            changed = True
    extra = min(amount_refunded_cents, payment.amount_cents) - payment.refunded_cents
    if extra > 0 and payment.status in PAID_STATES:
        row = Refund(payment_id=payment.id, amount_cents=extra, status="pending",
                     reason=_("Remboursement effectué directement chez le prestataire de paiement."))
        db.session.add(row)
        db.session.flush()
        _apply_refund_success(payment, row, None)
        changed = True
    if changed:
        audit.record("payment.refund_synced", "payment", payment.id, household_id=payment.household_id,
                     before=before, after=_payment_snapshot(payment))
        return "synced"
    return "unchanged"
