"""Fulfilment: a paid payment confirms its basket, once, all lines or none (DESIGN.md §3.4); and how
a payment page ends (paid, failed, expired) when the basket's hold runs out or the parent leaves it.

* One fulfilment function (`fulfil` → `_fulfil_locked`), row-locked and idempotent: the basket row,
  then the payment row, then the week rows (the same order as every other writer, so no deadlock).
  A payment already paid is a no-op; all lines of a basket are confirmed together or none is.
* A payment landing after the hold lapsed takes its places again if all of them are still free
  (the booking package's capacity primitive answers); otherwise it is refunded in full, the family
  gets a mail saying so, and the payment is flagged for staff. A second payment for a basket
  already paid is refunded the same way.
* Holds are exact and never extended here. Publik's "grace" for a basket sent to payment is
  obtained differently: the late-payment path re-takes places that are still free, which is the
  common case for a payment that lands a minute late, without letting an unpaid basket keep
  places past the countdown the parent saw.
"""
from __future__ import annotations

import logging
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.models import (
    Basket,
    BasketStatus,
    Payment,
    PaymentStatus,
    Reservation,
    ReservationStatus,
    TransportMode,
    db,
    utcnow,
)
from app.services import audit
from app.services.booking.capacity import Demand, check_places, lock_weeks
from app.services.booking.waitlist_offers import offer_freed_places, record_accepted
from app.services.errors import NotFound
from app.services.payments.common import (
    BASKET_FIELDS,
    PAID_STATES,
    FulfilOutcome,
    FulfilResult,
    _checkout_request,
    _db_id,
    _flag,
    _lines_context,
    _lock,
    _mail,
    _payment_snapshot,
    _pending_payment,
)
from app.services.payments.credits import apply_checkout_uses
from app.services.payments.invoices import issue_invoice
from app.services.payments.provider import CheckoutRequest, CheckoutStatus, ProviderError, ProviderUnavailable
from app.services.payments.refunds import _refund_everything, _send_refunds
from app.services.payments.registry import get_provider
from app.services.transactions import refusals_as_errors, unit_of_work

log = logging.getLogger(__name__)


def fulfil(payment_id: int, *, source: str, provider_payment_ref: str | None = None,
           now: datetime | None = None, actor=None) -> FulfilResult:
    """The provider says this payment is paid: confirm its basket (once, all lines or none)."""
    with unit_of_work():
        payment = db.session.get(Payment, payment_id) if _db_id(payment_id) else None
        if payment is None:
            raise NotFound(_("Paiement introuvable."), code="payment_not_found")
        basket_id = payment.basket_id
        basket = _lock(Basket, basket_id)
        payment = _lock(Payment, payment_id)
        outcome, refund_ids = _fulfil_locked(basket, payment, source=source,
                                             provider_payment_ref=provider_payment_ref, now=now, actor=actor)
    _send_refunds(refund_ids)
    return FulfilResult(payment_id, basket_id, outcome)


def _fulfil_locked(basket: Basket, payment: Payment, *, source: str, provider_payment_ref: str | None = None,
                   now: datetime | None = None, actor=None) -> tuple[str, list[int]]:
    """Inside a transaction holding the basket and payment locks. Returns (outcome, refund ids to
    send after the commit)."""
    if payment.status in PAID_STATES:
        return FulfilOutcome.ALREADY, []
    before = _payment_snapshot(payment)
    basket_before = audit.snapshot(basket, BASKET_FIELDS)
    if provider_payment_ref:
        payment.provider_payment_ref = provider_payment_ref
    lines = [line for line in basket.lines if line.status in (ReservationStatus.HELD, ReservationStatus.EXPIRED)]
    lock_weeks(line.week_id for line in lines)
    now = now or utcnow()  # read after the locks: what we see is what every later writer sees
    payment.status = PaymentStatus.PAID
    payment.paid_at = now
    household_id = basket.household_id

    other_paid = db.session.execute(
        select(func.count()).select_from(Payment).where(
            Payment.basket_id == basket.id, Payment.id != payment.id, Payment.status.in_(PAID_STATES),
            Payment.amount_cents > 0)
    ).scalar()
    if basket.status == BasketStatus.PAID or other_paid or not lines:
        reason = _("Paiement reçu pour un panier déjà réglé : remboursé automatiquement.")
        refund_ids = _refund_everything(payment, basket, reason, before, now, mail_kind="duplicate")
        audit.record("payment.duplicate_refunded", "payment", payment.id, household_id=household_id,
                     before=before, after=_payment_snapshot(payment))
        log.warning("payment %s: basket %s already paid, refunding (%s)", payment.id, basket.id, source)
        return FulfilOutcome.DUPLICATE_REFUNDED, refund_ids

    hold_live = (basket.status in BasketStatus.ACTIVE and basket.expires_at > now
                 and all(line.status == ReservationStatus.HELD for line in lines))
    if hold_live:
        outcome = FulfilOutcome.CONFIRMED
    elif _places_still_free(lines, now):
        outcome = FulfilOutcome.LATE_CONFIRMED
    else:
        reason = _("Paiement arrivé après l'expiration du panier et places reprises entre-temps : "
                   "remboursé automatiquement.")
        for line in lines:
            if line.status == ReservationStatus.HELD:
                line.status = ReservationStatus.EXPIRED
                line.ended_at = now
        if basket.status in BasketStatus.ACTIVE:
            basket.status = BasketStatus.EXPIRED
            basket.expired_at = basket.expired_at or now
        refund_ids = _refund_everything(payment, basket, reason, before, now, mail_kind="late", lines=lines)
        offer_freed_places([line.week_id for line in lines], now)  # a lapsed place not yet taken: to the list
        audit.record("basket.late_payment_refused", "basket", basket.id, household_id=household_id,
                     before=basket_before, after=audit.snapshot(basket, BASKET_FIELDS))
        audit.record("payment.late_refunded", "payment", payment.id, household_id=household_id,
                     before=before, after=_payment_snapshot(payment))
        log.warning("payment %s arrived after the hold of basket %s and its places are gone: refunding",
                    payment.id, basket.id)
        return FulfilOutcome.LATE_REFUNDED, refund_ids

    for line in lines:
        line_before = {"status": line.status}
        line.status = ReservationStatus.CONFIRMED
        line.confirmed_at = now
        line.ended_at = None
        audit.record("reservation.confirmed", "reservation", line.id, household_id=household_id,
                     before=line_before, after={"status": line.status, "payment_id": payment.id})
    basket.status = BasketStatus.PAID
    basket.confirmed_at = now
    record_accepted([line.id for line in lines], now)  # a waiting-list offer paid is accepted now
    credit_cents = apply_checkout_uses(payment)  # the avoirs this attempt held are spent for good
    invoice = issue_invoice(basket, payment, lines, credit_cents, now=now)  # numbered in this transaction
    if payment.amount_cents + credit_cents != sum(line.total_cents for line in lines):
        _flag(payment, _("Montant payé différent du total des lignes : à vérifier."))
    audit.record("basket.paid", "basket", basket.id, actor=actor, household_id=household_id,
                 before=basket_before, after=audit.snapshot(basket, BASKET_FIELDS))
    audit.record("payment.late_paid" if outcome == FulfilOutcome.LATE_CONFIRMED else "payment.paid",
                 "payment", payment.id, actor=actor, household_id=household_id, before=before,
                 after={**_payment_snapshot(payment), "source": source})
    _mail("payment_confirmation", basket.household,
          _("Inscriptions confirmées — panier n° %(id)s", id=basket.id), "payment_confirmation",
          dedupe_key=f"basket-{basket.id}-confirmed", basket=basket, payment=payment,
          lines=_lines_context(lines), total_cents=sum(line.total_cents for line in lines),
          receipt_path=f"/famille/recu/{basket.id}", invoice_number=invoice.number,
          invoice_path=f"/famille/factures/{invoice.id}/pdf", attachments=[("invoice", invoice.id)])
    return outcome, []


def _places_still_free(lines: list[Reservation], now: datetime) -> bool:
    """Can every line of a lapsed basket be taken again? Called with the week rows locked."""
    ours = {line.id for line in lines}
    # A child may have been booked again on the same week meanwhile (by this or another household).
    for line in lines:
        other = db.session.execute(
            select(Reservation.id).where(
                Reservation.child_id == line.child_id, Reservation.week_id == line.week_id,
                Reservation.status.in_(ReservationStatus.LIVE), Reservation.id.not_in(ours)).limit(1)
        ).scalar_one_or_none()
        if other is not None:
            return False
    # Our own lines never count against us, whether their hold is still live or not.
    demands = [Demand(line.week_id, line.circuit_id if line.transport_mode == TransportMode.BUS else None)
               for line in lines]
    return not check_places(demands, now=now, lock=False, exclude_reservation_ids=ours)


def _checkout_ended(payment_id: int, status: str, *, reason: str, actor=None) -> str:
    """Inside a block: the page can no longer be paid (expired) or the payment failed: close this
    attempt and let the parent try again while the hold lasts."""
    payment = db.session.get(Payment, payment_id)
    basket = _lock(Basket, payment.basket_id)
    payment = _lock(Payment, payment_id)
    if payment.status != PaymentStatus.PENDING:
        return "unchanged"
    before = _payment_snapshot(payment)
    payment.status = status
    audit.record(f"payment.{status}", "payment", payment.id, actor=actor, household_id=payment.household_id,
                 before=before, after={**_payment_snapshot(payment), "reason": reason})
    if basket.status == BasketStatus.CHECKOUT:
        other_pending = db.session.execute(select(func.count()).select_from(Payment).where(
            Payment.basket_id == basket.id, Payment.status == PaymentStatus.PENDING, Payment.id != payment.id)
        ).scalar()
        if not other_pending:
            basket_before = audit.snapshot(basket, BASKET_FIELDS)
            basket.status = BasketStatus.OPEN
            audit.record("basket.checkout_released", "basket", basket.id, actor=actor,
                         household_id=basket.household_id, before=basket_before,
                         after=audit.snapshot(basket, BASKET_FIELDS))
    return status


# --- closing a checkout (expiry job, parent going back to the basket) ----------------------------

def _probe_inputs(payment: Payment) -> tuple[str, str | None, CheckoutRequest | None]:
    """What `_probe_checkout` needs, read inside a block so that the call itself holds nothing:
    (provider name, page reference, the request that finds a page we never heard back about)."""
    provider = get_provider(name=payment.provider)
    request = _checkout_request(payment) if payment.provider_ref is None and provider.online else None
    return payment.provider, payment.provider_ref, request


def _probe_checkout(provider_name: str, checkout_ref: str | None,
                    request: CheckoutRequest | None) -> tuple[str | None, str, str | None]:
    """Network only, no database: make the payment's page unpayable and say how it ended.
    Returns (checkout_ref, CheckoutStatus, provider payment ref). Raises ProviderUnavailable when
    the provider cannot say, or when a payment is in progress on the page (retry later)."""
    provider = get_provider(name=provider_name)
    if checkout_ref is None and request is not None:
        try:  # the page may exist even though we never heard back: the same key finds it
            checkout_ref = provider.start_checkout(request).ref
        except ProviderUnavailable:
            raise
        except ProviderError:
            checkout_ref = None  # refused: it was never created
    if checkout_ref is None:
        return None, CheckoutStatus.EXPIRED, None
    state = provider.expire_checkout(checkout_ref)
    if state.status == CheckoutStatus.OPEN:
        raise ProviderUnavailable(_("Paiement en cours chez le prestataire : nouvel essai dans un instant."))
    return checkout_ref, state.status, state.payment_ref


def _apply_close(basket: Basket, payment: Payment, checkout_ref: str | None, status: str,
                 payment_ref: str | None, *, reason: str, actor=None) -> tuple[str, list[int]]:
    """With the basket and payment locked, inside the caller's block: record how the page ended.
    Returns ("paid", refund ids to send after the commit) or ("released", []): the basket is open
    again."""
    if payment.provider_ref is None and checkout_ref:
        payment.provider_ref = checkout_ref
    if status == CheckoutStatus.PAID:
        _outcome, refund_ids = _fulfil_locked(basket, payment, source=reason, provider_payment_ref=payment_ref)
        return "paid", refund_ids
    before = _payment_snapshot(payment)
    if status == CheckoutStatus.PROCESSING:
        # Completed but not yet paid (delayed method): keep the payment pending; if the money
        # arrives, the late-payment path re-takes the places or refunds it.
        payment.provider_payment_ref = payment_ref or payment.provider_payment_ref
    else:
        payment.status = PaymentStatus.FAILED if status == CheckoutStatus.FAILED else PaymentStatus.EXPIRED
    basket_before = audit.snapshot(basket, BASKET_FIELDS)
    basket.status = BasketStatus.OPEN
    audit.record("payment.checkout_closed", "payment", payment.id, actor=actor, household_id=basket.household_id,
                 before=before, after={**_payment_snapshot(payment), "reason": reason})
    audit.record("basket.checkout_released", "basket", basket.id, actor=actor, household_id=basket.household_id,
                 before=basket_before, after=audit.snapshot(basket, BASKET_FIELDS))
    return "released", []


def settle_before_expiry(basket: Basket) -> str:
    """Called by the basket expiry, inside its transaction, when the basket is in checkout. Expire
    the provider's page first: if the provider says it was already paid, fulfil instead ("paid",
    committed with the expiry's transaction); otherwise the payment is closed and the basket set
    back to open so that the expiry can proceed ("released", left for the caller to commit). A
    network error raises ProviderUnavailable: the job retries, nothing is released on a guess."""
    with refusals_as_errors():  # the expiry owns the transaction: it rolls back on any error
        payment = _pending_payment(basket)
    if payment is None:
        if basket.status == BasketStatus.CHECKOUT:
            basket.status = BasketStatus.OPEN
        return "released"
    checkout_ref, status, payment_ref = _probe_checkout(*_probe_inputs(payment))
    if status != CheckoutStatus.PAID:
        return _apply_close(basket, payment, checkout_ref, status, payment_ref, reason="expiry")[0]
    with unit_of_work():  # the money came: commit the fulfilment now, then send any refund
        _result, refund_ids = _apply_close(basket, payment, checkout_ref, status, payment_ref, reason="expiry")
    _send_refunds(refund_ids)
    return "paid"
