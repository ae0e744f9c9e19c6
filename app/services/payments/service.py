"""Checkout, fulfilment, late payments, refunds and cancellations (DESIGN.md §3.4).

Rules this module keeps, whatever the entry point (webhook, success page, expiry job, sandbox page,
desk, API):

* One fulfilment function (`fulfil` → `_fulfil_locked`), row-locked and idempotent: the basket row,
  then the payment row, then the week rows (the same order as every other writer, so no deadlock).
  A payment already paid is a no-op; all lines of a basket are confirmed together or none is.
* Money is never lost and never taken twice. A payment landing after the hold lapsed takes its
  places again if all of them are still free; otherwise it is refunded in full through its
  provider, the family gets a mail saying so, and the payment is flagged for staff. A second
  payment for a basket already paid is refunded the same way.
* Network calls to the provider are never made while holding row locks taken here: state is
  committed first, the call is made, the outcome is written in a second short transaction.
  Refunds are rows first (status pending), sent with an idempotency key derived from the row id,
  so a refund whose answer was lost is retried (`retry_pending_refunds`, run by the sweeper)
  without ever paying back twice.
* Holds are exact and never extended here. Publik's "grace" for a basket sent to payment is
  obtained differently: the late-payment path re-takes places that are still free, which is the
  common case for a payment that lands a minute late, without letting an unpaid basket keep
  places past the countdown the parent saw.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from app.models import (
    Basket,
    BasketStatus,
    Household,
    Payment,
    PaymentStatus,
    ProviderEvent,
    Refund,
    Reservation,
    ReservationStatus,
    TransportMode,
    Week,
    db,
    utcnow,
)
from app.services import audit
from app.services.booking.capacity import BUSY_MESSAGE, circuit_usage, is_lock_timeout, lock_weeks, week_usage
from app.services.errors import Busy, Conflict, NotFound, ValidationFailed
from app.services.booking.pricing import price_line

from app.services.payments.desk import DESK_METHODS
from app.services.payments.provider import (
    CheckoutLine,
    CheckoutRequest,
    CheckoutStatus,
    Notification,
    NotificationKind,
    ProviderError,
    ProviderUnavailable,
)
from app.services.payments.registry import get_provider
from app.services.payments.sandbox import refuse_in_production

log = logging.getLogger(__name__)

PAID_STATES = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
PAYMENT_FIELDS = ["status", "amount_cents", "refunded_cents", "provider", "provider_ref", "provider_payment_ref",
                  "flagged", "flag_reason", "paid_at"]
BASKET_FIELDS = ["status", "expires_at", "confirmed_at", "expired_at"]


# --- results ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckoutResult:
    basket_id: int
    amount_cents: int
    payment_url: str | None
    payment_id: int | None = None
    status: str = "payment_required"  # or "confirmed" (zero total)


class FulfilOutcome:
    CONFIRMED = "confirmed"  # paid within the hold
    LATE_CONFIRMED = "late_confirmed"  # paid after the hold lapsed, places still free
    LATE_REFUNDED = "late_refunded"  # paid after the hold lapsed, places gone: refunded
    DUPLICATE_REFUNDED = "duplicate_refunded"  # the basket was already paid: refunded
    ALREADY = "already"  # nothing to do (a replay)


@dataclass(frozen=True)
class FulfilResult:
    payment_id: int
    basket_id: int
    outcome: str

    @property
    def confirmed(self) -> bool:
        return self.outcome in (FulfilOutcome.CONFIRMED, FulfilOutcome.LATE_CONFIRMED)


@dataclass(frozen=True)
class NotificationResult:
    status: str  # processed, duplicate, ignored, unknown_payment
    event_id: str | None = None
    outcome: str | None = None


# --- locking helpers ----------------------------------------------------------------------------

def _lock(model, row_id: int):
    """SELECT … FOR UPDATE (re-read, never a stale identity-map copy). Lock timeout → Busy."""
    query = (select(model).where(model.id == row_id).with_for_update()
             .execution_options(populate_existing=True))
    try:
        return db.session.execute(query).scalar_one_or_none()
    except OperationalError as exc:
        db.session.rollback()
        if is_lock_timeout(exc):
            raise Busy(BUSY_MESSAGE, code="busy") from exc
        raise


def _commit() -> None:
    try:
        db.session.commit()
    except OperationalError as exc:
        db.session.rollback()
        if is_lock_timeout(exc):
            raise Busy(BUSY_MESSAGE, code="busy") from exc
        raise


def _active_basket(household_id: int, lock: bool = True) -> Basket | None:
    basket_id = db.session.execute(
        select(Basket.id).where(Basket.household_id == household_id, Basket.status.in_(BasketStatus.ACTIVE))
    ).scalar_one_or_none()
    if basket_id is None:
        return None
    basket = _lock(Basket, basket_id) if lock else db.session.get(Basket, basket_id)
    if basket is None or basket.status not in BasketStatus.ACTIVE:
        return None
    return basket


def _pending_payment(basket: Basket) -> Payment | None:
    payment_id = db.session.execute(
        select(Payment.id).where(Payment.basket_id == basket.id, Payment.status == PaymentStatus.PENDING)
        .order_by(Payment.attempt.desc()).limit(1)
    ).scalar_one_or_none()
    return _lock(Payment, payment_id) if payment_id else None


def _next_attempt(basket_id: int) -> int:
    return (db.session.execute(select(func.max(Payment.attempt)).where(Payment.basket_id == basket_id))
            .scalar() or 0) + 1


def _held_lines(basket: Basket) -> list[Reservation]:
    return [line for line in basket.lines if line.status == ReservationStatus.HELD]


def _db_id(value) -> int | None:
    """An id from a URL or a form that a database integer column can hold, else None (→ not found)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        return None
    return value


def _actor_id(actor) -> int | None:
    return getattr(actor, "id", None)


def _payment_snapshot(payment: Payment) -> dict:
    return audit.snapshot(payment, PAYMENT_FIELDS)


def _flag(payment: Payment, reason: str) -> None:
    payment.flagged = True
    if payment.flag_reason and reason in payment.flag_reason:
        return  # the sweeper retrying a refund every minute must not grow the reason
    payment.flag_reason = f"{payment.flag_reason}\n{reason}" if payment.flag_reason else reason


# --- labels and mails ---------------------------------------------------------------------------

def line_label(line: Reservation) -> str:
    """What the parent reads on the payment page and the receipt: child, week, place (+ bus)."""
    week = line.week
    establishment = week.period.establishment.name if week.period and week.period.establishment else ""
    label = f"{line.child.full_name} — {week.label} — {establishment}".rstrip(" —")
    if line.transport_mode == TransportMode.BUS and line.stop is not None:
        label += f" + bus ({line.stop.name})"
    return label


def _recipient(household: Household) -> str | None:
    if household.email:
        return household.email
    owner = household.owner
    return getattr(owner, "email", None)


def _lines_context(lines: list[Reservation]) -> list[dict]:
    rows = []
    for line in lines:
        week = line.week
        stop = line.stop
        rows.append({
            "id": line.id,
            "child": line.child.full_name,
            "week": week.label,
            "starts_on": week.starts_on,
            "ends_on": week.ends_on,
            "establishment": week.period.establishment.name,
            "address": week.period.establishment.address or week.period.establishment.commune,
            "bus": line.transport_mode == TransportMode.BUS,
            "circuit": line.circuit.name if line.circuit else None,
            "stop": stop.name if stop else None,
            "pickup_time": stop.pickup_time.strftime("%H:%M") if stop else None,
            "dropoff_time": stop.dropoff_time.strftime("%H:%M") if stop else None,
            "price_cents": line.price_cents,
            "bus_price_cents": line.bus_price_cents,
            "total_cents": line.total_cents,
        })
    return rows


def _mail(kind: str, household: Household, subject: str, template: str, dedupe_key: str, **context) -> None:
    to = _recipient(household)
    if not to:
        log.warning("household %s has no e-mail: %s mail not sent", household.id, kind)
        return
    from app.services.mail import queue_mail

    queue_mail(kind, to, subject, template, household_id=household.id, dedupe_key=dedupe_key,
               household=household, **context)


# --- checkout -----------------------------------------------------------------------------------

def _reprice(basket: Basket, lines: list[Reservation], actor) -> bool:
    """Price every line again (tariffs or the QF may have changed since it was added)."""
    changed = False
    household = basket.household
    for line in lines:
        price = price_line(household, line.week.period, line.transport_mode)
        if (line.price_cents, line.bus_price_cents) != (price.price_cents, price.bus_price_cents):
            before = {"price_cents": line.price_cents, "bus_price_cents": line.bus_price_cents}
            line.price_cents, line.bus_price_cents = price.price_cents, price.bus_price_cents
            audit.record("reservation.repriced", "reservation", line.id, actor=actor, household_id=basket.household_id,
                         before=before, after={"price_cents": line.price_cents,
                                               "bus_price_cents": line.bus_price_cents})
            changed = True
    return changed


def _checkout_request(payment: Payment) -> CheckoutRequest:
    """Built from the database only, so that a retry sends identical parameters."""
    from app.services.mail import public_url

    basket = payment.basket
    lines = [line for line in basket.lines if line.status in (ReservationStatus.HELD, ReservationStatus.EXPIRED)]
    return CheckoutRequest(
        payment_id=payment.id, basket_id=basket.id, household_id=basket.household_id, attempt=payment.attempt,
        amount_cents=payment.amount_cents, currency=payment.currency, customer_email=_recipient(basket.household),
        expires_at=payment.checkout_expires_at,
        lines=tuple(CheckoutLine(line.id, line_label(line), line.total_cents) for line in lines),
        success_url=public_url("/famille/paiement/retour"), cancel_url=public_url("/famille/paiement/annule"),
    )


def start_checkout(household_id: int, *, actor=None, now: datetime | None = None) -> CheckoutResult:
    """"Valider mon panier": price the basket again, then open (or reuse) its one payment page.
    A basket whose total is zero is confirmed at once, without payment."""
    now = now or utcnow()
    basket = _active_basket(household_id)
    if basket is None:
        db.session.rollback()
        raise NotFound(_("Votre panier est vide."), code="basket_empty")
    if basket.expires_at <= now:
        db.session.rollback()
        raise Conflict(_("Votre panier a expiré : les places ne sont plus réservées. "
                         "Ajoutez à nouveau les semaines souhaitées."), code="basket_expired")
    if basket.status == BasketStatus.CHECKOUT:
        payment = _pending_payment(basket)
        if payment is not None:
            if payment.provider_ref and payment.checkout_url:
                result = CheckoutResult(basket.id, payment.amount_cents, payment.checkout_url, payment.id)
                db.session.rollback()
                return result
            db.session.rollback()
            # The page of this attempt was never confirmed to us (network error): ask again with
            # the same idempotency key, which finds the same page if it was created.
            return _open_provider_page(payment.id)
        basket.status = BasketStatus.OPEN  # no live attempt left: start a new one below
    lines = _held_lines(basket)
    if not lines:
        db.session.rollback()
        raise NotFound(_("Votre panier est vide."), code="basket_empty")
    if _reprice(basket, lines, actor):
        total = sum(line.total_cents for line in lines)
        _commit()
        from app.services.localize import euros

        raise Conflict(_("Les tarifs de votre panier ont été mis à jour (nouveau total : %(total)s). "
                         "Vérifiez votre panier puis validez-le à nouveau.", total=euros(total)),
                       code="price_changed")
    total = sum(line.total_cents for line in lines)
    attempt = _next_attempt(basket.id)
    basket_before = audit.snapshot(basket, BASKET_FIELDS)
    if total == 0:
        payment = Payment(basket_id=basket.id, household_id=basket.household_id, provider="free", method="free",
                          attempt=attempt, amount_cents=0, status=PaymentStatus.PENDING,
                          created_by_id=_actor_id(actor))
        db.session.add(payment)
        db.session.flush()
        audit.record("payment.created", "payment", payment.id, actor=actor, household_id=basket.household_id,
                     after=_payment_snapshot(payment))
        outcome, refund_ids = _fulfil_locked(basket, payment, source="free", actor=actor, now=now)
        result = CheckoutResult(basket.id, 0, None, payment.id,
                                status="confirmed" if outcome in (FulfilOutcome.CONFIRMED,
                                                                  FulfilOutcome.LATE_CONFIRMED) else outcome)
        _commit()
        _send_refunds(refund_ids)
        return result
    provider = get_provider()
    payment = Payment(basket_id=basket.id, household_id=basket.household_id, provider=provider.name,
                      method="card", attempt=attempt, amount_cents=total, currency="EUR",
                      status=PaymentStatus.PENDING, created_by_id=_actor_id(actor),
                      checkout_expires_at=provider.checkout_expires_at(basket.expires_at, now))
    db.session.add(payment)
    basket.status = BasketStatus.CHECKOUT
    db.session.flush()
    audit.record("basket.checkout", "basket", basket.id, actor=actor, household_id=basket.household_id,
                 before=basket_before, after=audit.snapshot(basket, BASKET_FIELDS))
    audit.record("payment.created", "payment", payment.id, actor=actor, household_id=basket.household_id,
                 after=_payment_snapshot(payment))
    _commit()
    return _open_provider_page(payment.id)


def _open_provider_page(payment_id: int) -> CheckoutResult:
    """Network call with no lock held, then record the page in a short transaction."""
    payment = db.session.get(Payment, payment_id)
    provider = get_provider(name=payment.provider)
    request = _checkout_request(payment)
    db.session.rollback()  # end the read transaction: no lock or snapshot kept during the call
    try:
        session = provider.start_checkout(request)
    except ProviderUnavailable:
        raise  # the payment stays pending without a page: the next click retries with the same key
    except ProviderError:
        # Refused: no page exists for this key (Stripe stores no result for a refused request).
        basket = _lock(Basket, request.basket_id)
        payment = _lock(Payment, payment_id)
        if payment.status == PaymentStatus.PENDING and not payment.provider_ref:
            before = _payment_snapshot(payment)
            payment.status = PaymentStatus.FAILED
            if basket.status == BasketStatus.CHECKOUT:
                basket.status = BasketStatus.OPEN
            audit.record("payment.checkout_refused", "payment", payment.id, household_id=payment.household_id,
                         before=before, after=_payment_snapshot(payment))
            _commit()
        raise
    _lock(Basket, request.basket_id)
    payment = _lock(Payment, payment_id)
    if payment.provider_ref is None:
        payment.provider_ref = session.ref
        payment.checkout_url = session.url
        audit.record("payment.checkout_opened", "payment", payment.id, household_id=payment.household_id,
                     after={"provider_ref": session.ref, "checkout_expires_at": payment.checkout_expires_at})
    result = CheckoutResult(request.basket_id, payment.amount_cents, payment.checkout_url, payment.id)
    _commit()
    return result


# --- fulfilment ---------------------------------------------------------------------------------

def fulfil(payment_id: int, *, source: str, provider_payment_ref: str | None = None,
           now: datetime | None = None, actor=None) -> FulfilResult:
    """The provider says this payment is paid: confirm its basket (once, all lines or none)."""
    payment = db.session.get(Payment, payment_id) if _db_id(payment_id) else None
    if payment is None:
        raise NotFound(_("Paiement introuvable."), code="payment_not_found")
    basket_id = payment.basket_id
    basket = _lock(Basket, basket_id)
    payment = _lock(Payment, payment_id)
    outcome, refund_ids = _fulfil_locked(basket, payment, source=source, provider_payment_ref=provider_payment_ref,
                                         now=now, actor=actor)
    _commit()
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
    week_ids = sorted({line.week_id for line in lines})
    lock_weeks(week_ids)
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
    if payment.amount_cents != sum(line.total_cents for line in lines):
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
          receipt_path=f"/famille/recu/{basket.id}")
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
    counted = [line for line in lines
               if line.status == ReservationStatus.HELD and line.hold_expires_at and line.hold_expires_at > now]
    need: dict[int, int] = {}
    for line in lines:
        need[line.week_id] = need.get(line.week_id, 0) + 1
    usage = week_usage(need.keys(), now)
    for line in counted:
        usage[line.week_id] -= 1
    for week_id, count in need.items():
        week = db.session.get(Week, week_id)
        if usage[week_id] + count > week.capacity:
            return False
    bus_need: dict[tuple[int, int], int] = {}
    for line in lines:
        if line.transport_mode == TransportMode.BUS:
            key = (line.circuit_id, line.week_id)
            bus_need[key] = bus_need.get(key, 0) + 1
    if bus_need:
        bus_usage = circuit_usage(bus_need.keys(), now)
        for line in counted:
            if line.transport_mode == TransportMode.BUS:
                bus_usage[(line.circuit_id, line.week_id)] -= 1
        for (circuit_id, week_id), count in bus_need.items():
            circuit = next(line.circuit for line in lines if line.circuit_id == circuit_id)
            if bus_usage[(circuit_id, week_id)] + count > circuit.seats:
                return False
    return True


def _refund_everything(payment: Payment, basket: Basket, reason: str, before: dict, now: datetime, *,
                       mail_kind: str, lines: list[Reservation] | None = None) -> list[int]:
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


# --- refunds ------------------------------------------------------------------------------------

def _apply_refund_success(payment: Payment, refund: Refund, ref: str | None) -> None:
    refund.status = "succeeded"
    refund.provider_ref = ref or refund.provider_ref
    payment.refunded_cents = min(payment.amount_cents, payment.refunded_cents + refund.amount_cents)
    if payment.status in PAID_STATES:
        payment.status = (PaymentStatus.REFUNDED if payment.refunded_cents >= payment.amount_cents
                          else PaymentStatus.PARTIALLY_REFUNDED)


def _send_refund(refund_id: int) -> Refund | None:
    """Send one pending refund to its provider (idempotent: the key is the refund row's id)."""
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status != "pending":
        return refund
    payment = refund.payment
    provider = get_provider(name=payment.provider)
    args = dict(payment_ref=payment.provider_payment_ref, checkout_ref=payment.provider_ref,
                amount_cents=refund.amount_cents, idempotency_key=f"portail-refund-{refund.id}", reason=refund.reason)
    basket_id, payment_id = payment.basket_id, payment.id
    db.session.rollback()
    error: ProviderError | None = None
    outcome = None
    try:
        outcome = provider.refund(**args)
    except ProviderError as exc:
        error = exc
    _lock(Basket, basket_id)
    payment = _lock(Payment, payment_id)
    refund = _lock(Refund, refund_id)
    if refund.status != "pending":  # a concurrent retry got there first
        db.session.rollback()
        return db.session.get(Refund, refund_id)
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
    _commit()
    return db.session.get(Refund, refund_id)


def _send_refunds(refund_ids: list[int]) -> None:
    for refund_id in refund_ids:
        try:
            _send_refund(refund_id)
        except Busy:
            log.warning("refund %s: lock busy, the sweeper will retry", refund_id)


def retry_pending_refunds(limit: int = 100) -> int:
    """Sweeper hook: send again the refunds whose provider answer was lost."""
    ids = db.session.execute(
        select(Refund.id).where(Refund.status == "pending").order_by(Refund.id).limit(limit)
    ).scalars().all()
    db.session.rollback()
    for refund_id in ids:
        try:
            _send_refund(refund_id)
        except Exception:
            db.session.rollback()
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
    payment = db.session.get(Payment, payment_id) if _db_id(payment_id) else None
    if payment is None:
        raise NotFound(_("Paiement introuvable."), code="payment_not_found")
    _lock(Basket, payment.basket_id)
    payment = _lock(Payment, payment_id)
    refund_row = _create_refund(payment, amount_cents, reason, actor=actor, reservation_id=reservation_id)
    _commit()
    result = _send_refund(refund_row.id)
    if result is not None and result.status == "failed":
        raise ProviderError(_("Le remboursement a été refusé par le service de paiement. Le paiement est "
                              "signalé pour un traitement manuel."), code="refund_failed")
    return result


def _create_refund(payment: Payment, amount_cents: int, reason: str, *, actor, reservation_id: int | None) -> Refund:
    if payment.status not in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED):
        db.session.rollback()
        raise Conflict(_("Seul un paiement encaissé peut être remboursé."), code="not_refundable")
    if amount_cents <= 0:
        db.session.rollback()
        raise ValidationFailed(_("Le montant à rembourser doit être positif."), code="invalid_amount")
    available = refundable_cents(payment)
    if amount_cents > available:
        from app.services.localize import euros

        db.session.rollback()
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


# --- staff cancellation -------------------------------------------------------------------------

def cancel_reservation(reservation_id: int, *, reason: str, refund: bool, actor) -> Reservation:
    """Staff cancel a confirmed week: the place returns to the pool at once (a cancelled line no
    longer counts); with `refund`, that line's amount is refunded through the provider."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Indiquez le motif de l'annulation."), code="reason_required")
    line = db.session.get(Reservation, reservation_id) if _db_id(reservation_id) else None
    if line is None:
        raise NotFound(_("Inscription introuvable."), code="reservation_not_found")
    basket = _lock(Basket, line.basket_id)
    line = _lock(Reservation, reservation_id)
    if line.status != ReservationStatus.CONFIRMED:
        db.session.rollback()
        raise Conflict(_("Seule une inscription confirmée peut être annulée."), code="not_confirmed")
    payment = None
    if refund and line.total_cents > 0:
        payment_id = db.session.execute(
            select(Payment.id).where(Payment.basket_id == basket.id,
                                     Payment.status.in_((PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)),
                                     Payment.amount_cents > 0).order_by(Payment.id.desc()).limit(1)
        ).scalar_one_or_none()
        if payment_id is None:
            db.session.rollback()
            raise Conflict(_("Aucun paiement remboursable pour cette inscription."), code="nothing_to_refund")
        payment = _lock(Payment, payment_id)
    now = utcnow()
    before = {"status": line.status}
    line.status = ReservationStatus.CANCELLED
    line.ended_at = now
    line.cancel_reason = reason
    audit.record("reservation.cancelled", "reservation", line.id, actor=actor, household_id=line.household_id,
                 before=before, after={"status": line.status, "reason": reason, "refund": bool(refund)})
    refund_row = None
    refund_amount = 0
    if payment is not None:
        refund_amount = min(line.total_cents, refundable_cents(payment))
        if refund_amount > 0:
            refund_row = _create_refund(payment, refund_amount, _("Annulation : %(reason)s", reason=reason),
                                        actor=actor, reservation_id=line.id)
    _mail("reservation_cancelled", line.household,
          _("Annulation d'une inscription — %(child)s", child=line.child.full_name), "payment_cancellation",
          dedupe_key=f"reservation-{line.id}-cancelled", line=_lines_context([line])[0], reason=reason,
          refund_cents=refund_amount)
    _commit()
    if refund_row is not None:
        _send_refund(refund_row.id)
    return db.session.get(Reservation, reservation_id)


# --- desk payments ------------------------------------------------------------------------------

def record_desk_payment(basket_id: int, method: str, *, actor) -> FulfilResult:
    """Staff took the money at the desk (cash, cheque, chèques-vacances, card terminal): confirm the
    basket through the same fulfilment as card payments."""
    if method not in DESK_METHODS:
        raise ValidationFailed(_("Mode de paiement inconnu."), code="invalid_method")
    basket = _lock(Basket, basket_id) if _db_id(basket_id) else None
    if basket is None:
        db.session.rollback()
        raise NotFound(_("Panier introuvable."), code="basket_not_found")
    if basket.status == BasketStatus.CHECKOUT:
        db.session.rollback()
        raise Conflict(_("Un paiement en ligne est en cours pour ce panier : attendez son issue ou son "
                         "expiration."), code="checkout_in_progress")
    if basket.status != BasketStatus.OPEN:
        db.session.rollback()
        raise Conflict(_("Ce panier n'est plus modifiable (déjà payé, expiré ou annulé)."), code="basket_closed")
    now = utcnow()
    if basket.expires_at <= now:
        db.session.rollback()
        raise Conflict(_("Le panier a expiré : les places ne sont plus réservées."), code="basket_expired")
    lines = _held_lines(basket)
    if not lines:
        db.session.rollback()
        raise Conflict(_("Le panier est vide."), code="basket_empty")
    _reprice(basket, lines, actor)
    payment = Payment(basket_id=basket.id, household_id=basket.household_id, provider="desk", method=method,
                      attempt=_next_attempt(basket.id), amount_cents=sum(line.total_cents for line in lines),
                      status=PaymentStatus.PENDING, created_by_id=_actor_id(actor))
    db.session.add(payment)
    db.session.flush()
    audit.record("payment.created", "payment", payment.id, actor=actor, household_id=basket.household_id,
                 after={**_payment_snapshot(payment), "method": method})
    outcome, refund_ids = _fulfil_locked(basket, payment, source="desk", actor=actor)
    _commit()
    _send_refunds(refund_ids)
    return FulfilResult(payment.id, basket_id, outcome)


# --- closing a checkout (expiry job, parent going back to the basket) ----------------------------

def _probe_checkout(payment: Payment) -> tuple[str | None, str, str | None]:
    """Network only, no write: make the payment's page unpayable and say how it ended.
    Returns (checkout_ref, CheckoutStatus, provider payment ref). Raises ProviderUnavailable when
    the provider cannot say, or when a payment is in progress on the page (retry later)."""
    provider = get_provider(name=payment.provider)
    checkout_ref = payment.provider_ref
    if checkout_ref is None and provider.online:
        try:  # the page may exist even though we never heard back: the same key finds it
            checkout_ref = provider.start_checkout(_checkout_request(payment)).ref
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
                 payment_ref: str | None, *, reason: str, actor=None) -> str:
    """With the basket and payment locked: record how the page ended. "paid" → fulfilled (and
    committed); else the basket is open again (not committed: the caller decides)."""
    if payment.provider_ref is None and checkout_ref:
        payment.provider_ref = checkout_ref
    if status == CheckoutStatus.PAID:
        outcome, refund_ids = _fulfil_locked(basket, payment, source=reason, provider_payment_ref=payment_ref)
        _commit()
        _send_refunds(refund_ids)
        return "paid"
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
    return "released"


def settle_before_expiry(basket: Basket) -> str:
    """Called by the basket expiry when the basket is in checkout. Expire the provider's page
    first: if the provider says it was already paid, fulfil instead ("paid", committed); otherwise
    the payment is closed and the basket set back to open so that the expiry can proceed
    ("released", left for the caller to commit with the expiry). A network error raises
    ProviderUnavailable: the job retries, nothing is released on a guess."""
    payment = _pending_payment(basket)
    if payment is None:
        if basket.status == BasketStatus.CHECKOUT:
            basket.status = BasketStatus.OPEN
        return "released"
    checkout_ref, status, payment_ref = _probe_checkout(payment)
    return _apply_close(basket, payment, checkout_ref, status, payment_ref, reason="expiry")


def abandon_checkout(household_id: int, *, actor=None) -> str:
    """The parent wants to change the basket after opening the payment page: close the page
    first (never two payable pages), then the basket is editable again until its hold ends.
    The provider is asked before any lock is taken."""
    basket = _active_basket(household_id, lock=False)
    if basket is None or basket.status != BasketStatus.CHECKOUT:
        db.session.rollback()
        return "released"
    payment = _pending_payment(basket)
    if payment is None:
        basket = _lock(Basket, basket.id)
        if basket.status == BasketStatus.CHECKOUT:
            basket.status = BasketStatus.OPEN
        _commit()
        return "released"
    basket_id, payment_id = basket.id, payment.id
    db.session.rollback()
    payment = db.session.get(Payment, payment_id)
    checkout_ref, status, payment_ref = _probe_checkout(payment)
    db.session.rollback()
    basket = _lock(Basket, basket_id)
    payment = _lock(Payment, payment_id)
    if payment.status != PaymentStatus.PENDING or basket.status != BasketStatus.CHECKOUT:
        db.session.rollback()
        return "paid" if payment.status in PAID_STATES else "released"
    result = _apply_close(basket, payment, checkout_ref, status, payment_ref, reason="parent", actor=actor)
    if result == "released":
        _commit()
    return result


# --- notifications ------------------------------------------------------------------------------

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
    payment = _find_payment(provider_name, note)
    basket = None
    if payment is not None:
        # Locks first, in the usual order (basket, payment), then the event row: inserting the
        # event takes a key-share lock on its payment, which taken first would deadlock with a
        # concurrent fulfilment (success page) holding the basket and waiting for the payment.
        payment_id = payment.id
        basket = _lock(Basket, payment.basket_id)
        payment = _lock(Payment, payment_id)
    event = ProviderEvent(provider=provider_name, event_id=note.event_id, type=note.event_type,
                          payment_id=payment.id if payment else None, payload=note.payload[:100_000])
    try:
        with db.session.begin_nested():
            db.session.add(event)
    except IntegrityError:
        db.session.rollback()
        return NotificationResult("duplicate", note.event_id)
    except OperationalError as exc:
        db.session.rollback()
        if is_lock_timeout(exc):
            raise Busy(BUSY_MESSAGE, code="busy") from exc
        raise
    if payment is None:
        if note.kind != NotificationKind.IGNORED:
            log.error("notification %s (%s) for an unknown payment", note.event_id, note.event_type)
        _commit()
        return NotificationResult("ignored" if note.kind == NotificationKind.IGNORED else "unknown_payment",
                                  note.event_id)
    if note.kind == NotificationKind.PAYMENT_SUCCEEDED:
        if note.amount_cents is not None and note.amount_cents != payment.amount_cents:
            _flag(payment, _("Montant reçu (%(got)s centimes) différent du montant attendu.", got=note.amount_cents))
        if note.extra.get("currency"):
            _flag(payment, _("Devise inattendue : %(cur)s.", cur=note.extra["currency"]))
        outcome, refund_ids = _fulfil_locked(basket, payment, source=f"notification:{note.event_type}",
                                             provider_payment_ref=note.payment_ref)
        _commit()
        _send_refunds(refund_ids)
        return NotificationResult("processed", note.event_id, outcome)
    if note.kind in (NotificationKind.PAYMENT_FAILED, NotificationKind.CHECKOUT_EXPIRED):
        status = PaymentStatus.FAILED if note.kind == NotificationKind.PAYMENT_FAILED else PaymentStatus.EXPIRED
        outcome = _checkout_ended(payment.id, status, reason=note.event_type)
        _commit()
        return NotificationResult("processed", note.event_id, outcome)
    if note.kind == NotificationKind.REFUNDED and note.amount_refunded_cents is not None:
        outcome = _sync_refunds(payment.id, note.amount_refunded_cents)
        _commit()
        return NotificationResult("processed", note.event_id, outcome)
    if note.kind == NotificationKind.PAYMENT_PENDING:
        audit.record("payment.processing", "payment", payment.id, household_id=payment.household_id,
                     after={"event": note.event_type})
    _commit()
    return NotificationResult("ignored", note.event_id)


def _checkout_ended(payment_id: int, status: str, *, reason: str, actor=None) -> str:
    """The page can no longer be paid (expired) or the payment failed: close this attempt and
    let the parent try again while the hold lasts."""
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


# --- parent-facing helpers ----------------------------------------------------------------------

def confirm_return(household_id: int, checkout_ref: str) -> Payment:
    """The success page: ask the provider (Stripe's advice: fulfil from the redirect too, not only
    from the webhook). Scoped to the household: another household's reference is not found."""
    payment = db.session.execute(select(Payment).where(
        Payment.provider_ref == checkout_ref, Payment.household_id == household_id)).scalar_one_or_none()
    if payment is None:
        raise NotFound(_("Paiement introuvable."), code="payment_not_found")
    if payment.status == PaymentStatus.PENDING:
        provider = get_provider(name=payment.provider)
        payment_id = payment.id
        try:
            state = provider.fetch_status(checkout_ref)
        except ProviderUnavailable:
            state = None  # the webhook will finish the job; the page says we are checking
        if state is not None and state.status == CheckoutStatus.PAID:
            try:
                fulfil(payment_id, source="return", provider_payment_ref=state.payment_ref)
            except Busy:
                # The webhook holds the basket right now: it is confirming this very payment. The
                # page says "being checked" and refreshes itself.
                log.info("return page for payment %s: busy, leaving it to the notification", payment_id)
        payment = db.session.get(Payment, payment_id)
    return payment


def sandbox_complete(token: str, outcome: str) -> Payment:
    """The sandbox page's buttons: "pay" fulfils through the same function as a Stripe payment,
    "refuse" ends the attempt like a declined payment."""
    refuse_in_production(current_app.config)
    payment = db.session.execute(select(Payment).where(
        Payment.provider == "sandbox", Payment.provider_ref == token)).scalar_one_or_none()
    if payment is None:
        raise NotFound(_("Page de paiement de test introuvable."), code="payment_not_found")
    payment_id = payment.id
    if outcome == "refuse":
        _checkout_ended(payment_id, PaymentStatus.FAILED, reason="sandbox refused")
        _commit()
        return db.session.get(Payment, payment_id)
    if outcome != "pay":
        raise ValidationFailed(_("Action inconnue."))
    basket = _lock(Basket, payment.basket_id)
    payment = _lock(Payment, payment_id)
    if payment.status in PAID_STATES:
        db.session.rollback()
        return db.session.get(Payment, payment_id)
    if payment.status != PaymentStatus.PENDING or (
            payment.checkout_expires_at and payment.checkout_expires_at <= utcnow()):
        db.session.rollback()
        raise Conflict(_("Cette page de paiement a expiré : rien n'a été débité."), code="checkout_expired")
    _outcome, refund_ids = _fulfil_locked(basket, payment, source="sandbox",
                                   provider_payment_ref=f"sandbox_pi_{payment_id}")
    _commit()
    _send_refunds(refund_ids)
    return db.session.get(Payment, payment_id)


def receipt(household_id: int, basket_id: int) -> Basket:
    basket = db.session.get(Basket, basket_id) if _db_id(basket_id) else None
    if basket is None or basket.household_id != household_id or basket.status != BasketStatus.PAID:
        raise NotFound(_("Reçu introuvable."), code="receipt_not_found")
    return basket


def paid_baskets(household_id: int) -> list[Basket]:
    return db.session.execute(
        select(Basket).where(Basket.household_id == household_id, Basket.status == BasketStatus.PAID)
        .order_by(Basket.confirmed_at.desc())
    ).scalars().all()


def payment_events(payment_id: int) -> list[ProviderEvent]:
    return db.session.execute(select(ProviderEvent).where(ProviderEvent.payment_id == payment_id)
                              .order_by(ProviderEvent.received_at)).scalars().all()


def event_summary(event: ProviderEvent) -> str:
    try:
        data = json.loads(event.payload or "{}")
    except ValueError:
        return ""
    obj = (data.get("data") or {}).get("object") or {}
    return ", ".join(f"{k}={obj[k]}" for k in ("status", "payment_status", "amount_total", "amount_refunded")
                     if k in obj)


__all__ = [
    "CheckoutResult", "FulfilOutcome", "FulfilResult", "NotificationResult", "abandon_checkout",
    "cancel_reservation", "confirm_return", "fulfil", "handle_notification", "paid_baskets", "receipt",
    "record_desk_payment", "refund", "refundable_cents", "retry_pending_refunds", "sandbox_complete",
    "settle_before_expiry", "start_checkout",
]


def sandbox_checkout(token: str) -> tuple[Payment, list[CheckoutLine]]:
    """What the sandbox test page shows: the payment and its lines as the provider would list them."""
    refuse_in_production(current_app.config)
    payment = db.session.execute(select(Payment).where(
        Payment.provider == "sandbox", Payment.provider_ref == token)).scalar_one_or_none()
    if payment is None:
        raise NotFound(_("Page de paiement de test introuvable."), code="payment_not_found")
    return payment, list(_checkout_request(payment).lines)
