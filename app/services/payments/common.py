"""What every payment module shares: the results, row locks, lookups, audit snapshots, the lines as
the parent reads them, and the family's mails.

Rules the payment modules keep, whatever the entry point (webhook, success page, expiry job,
sandbox page, desk, API), see DESIGN.md §3.4:

* Every transaction is a `transactions.unit_of_work()` block: it commits at its end, rolls back on
  any error, and turns a lock timeout into Busy. No module here commits or rolls back by hand.
* Locks are taken in one order everywhere, basket → payment → weeks (→ refund), so that two
  writers never deadlock; `_lock` re-reads the row (never a stale identity-map copy).
* Network calls to the provider are never made inside a block: the state is committed first, the
  call is made, the outcome is written in a second short block.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import func, select

from app.models import (
    Basket,
    BasketStatus,
    Household,
    Payment,
    PaymentStatus,
    Reservation,
    ReservationStatus,
    TransportMode,
    db,
)
from app.services import audit
from app.services.booking.pricing import price_line
from app.services.payments.provider import CheckoutLine, CheckoutRequest

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


# --- locks and lookups (inside a unit of work) --------------------------------------------------

def _lock(model, row_id: int):
    """SELECT … FOR UPDATE, re-read. A lock timeout is turned into Busy by the enclosing block."""
    query = (select(model).where(model.id == row_id).with_for_update()
             .execution_options(populate_existing=True))
    return db.session.execute(query).scalar_one_or_none()


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


def _reprice(basket: Basket, lines: list[Reservation], actor) -> bool:
    """Price every line again (tariffs or the QF may have changed since it was added)."""
    changed = False
    household = basket.household
    for line in lines:
        price = price_line(household, line.week.period, line.transport_mode, line.week)
        if (line.price_cents, line.bus_price_cents) != (price.price_cents, price.bus_price_cents):
            before = {"price_cents": line.price_cents, "bus_price_cents": line.bus_price_cents}
            line.price_cents, line.bus_price_cents = price.price_cents, price.bus_price_cents
            audit.record("reservation.repriced", "reservation", line.id, actor=actor, household_id=basket.household_id,
                         before=before, after={"price_cents": line.price_cents,
                                               "bus_price_cents": line.bus_price_cents})
            changed = True
    return changed


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


def _checkout_request(payment: Payment) -> CheckoutRequest:
    """Built from the database only, so that a retry sends identical parameters."""
    from app.services.mail import public_url

    basket = payment.basket
    lines = [line for line in basket.lines if line.status in (ReservationStatus.HELD, ReservationStatus.EXPIRED)]
    items = tuple(CheckoutLine(line.id, line_label(line), line.total_cents) for line in lines)
    if sum(item.amount_cents for item in items) != payment.amount_cents:
        # Part of the basket is paid with the household's credit (avoir): the provider shows one
        # line for the rest, since a payment page cannot carry a negative line.
        from app.services.localize import euros

        items = (CheckoutLine(0, f"Panier n° {basket.id} (avoir de "
                                 f"{euros(sum(item.amount_cents for item in items) - payment.amount_cents)} déduit)",
                              payment.amount_cents),)
    return CheckoutRequest(
        payment_id=payment.id, basket_id=basket.id, household_id=basket.household_id, attempt=payment.attempt,
        amount_cents=payment.amount_cents, currency=payment.currency, customer_email=_recipient(basket.household),
        expires_at=payment.checkout_expires_at,
        lines=items,
        success_url=public_url("/famille/paiement/retour"), cancel_url=public_url("/famille/paiement/annule"),
    )
