"""Takings per period, in cents: what came in, what went back, and the difference.

A payment pays a whole basket, which may hold weeks of several periods, so money is split over
periods to the cent; money that cannot be tied to a period is shown apart, never dropped, so that
the table always adds up to the payments.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.models import Payment, PaymentStatus, Period, Refund, Reservation, ReservationStatus, Week, db

# Money that actually came in: a refunded payment was paid first.
MONEY_IN_STATUSES = (PaymentStatus.PAID, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED)


@dataclass
class Takings:
    """Money of one period, in cents: what came in, what went back, and the difference."""

    period_id: int | None
    period_name: str
    establishment_name: str
    paid_cents: int = 0
    refunded_cents: int = 0
    by_method: dict[str, int] = field(default_factory=dict)

    @property
    def net_cents(self) -> int:
        return self.paid_cents - self.refunded_cents


def _allocate(amount: int, shares: dict[int, int]) -> dict[int, int]:
    """Split `amount` cents over periods in proportion to `shares`, to the cent (largest remainder)."""
    total = sum(shares.values())
    if not shares:
        return {}
    if total <= 0:
        first = min(shares)
        return {first: amount}
    parts = {key: amount * share // total for key, share in shares.items()}
    rest = amount - sum(parts.values())
    order = sorted(shares, key=lambda k: (-(amount * shares[k] % total), k))
    for key in order[:rest]:
        parts[key] += 1
    return parts


def takings(*, period_ids: Iterable[int] | None = None, establishment_id: int | None = None) -> list[Takings]:
    """Paid, refunded and net per period. Four queries.

    A payment pays a whole basket, which may hold weeks of several periods: it is split over the
    periods of its lines in proportion to their prices (to the cent). A refund tied to a
    reservation belongs to that reservation's period; one that is not (a late payment refunded in
    full) is split like its payment. Removed lines were never paid and do not count.
    """
    period_query = select(Period).options(joinedload(Period.establishment)).order_by(Period.starts_on, Period.id)
    if period_ids is not None:
        period_query = period_query.where(Period.id.in_(list(period_ids)))
    if establishment_id:
        period_query = period_query.where(Period.establishment_id == establishment_id)
    periods = db.session.execute(period_query).scalars().all()
    result = {p.id: Takings(period_id=p.id, period_name=p.name, establishment_name=p.establishment.name)
              for p in periods}
    # Money that cannot be tied to a period (a paid basket without lines) is shown apart, never dropped,
    # so that the total of the table is the total of the payments.
    everything = period_ids is None and not establishment_id
    unassigned = Takings(period_id=None, period_name=_("Sans période (à vérifier)"), establishment_name="")
    if not result and not everything:
        return []

    # Share of each paid basket per period (sum of line prices), in one aggregate.
    line_total = func.sum(Reservation.price_cents + Reservation.bus_price_cents)
    shares: dict[int, dict[int, int]] = defaultdict(dict)
    for basket_id, period_id, total in db.session.execute(
        select(Reservation.basket_id, Week.period_id, line_total)
        .join(Week, Week.id == Reservation.week_id)
        .where(Reservation.status != ReservationStatus.REMOVED,
               Reservation.basket_id.in_(select(Payment.basket_id)
                                         .where(Payment.status.in_(MONEY_IN_STATUSES)).scalar_subquery()))
        .group_by(Reservation.basket_id, Week.period_id)
    ):
        shares[basket_id][period_id] = int(total or 0)

    def split(amount: int, basket_id: int | None) -> dict[int | None, int]:
        parts: dict[int | None, int] = {}
        if basket_id is not None:
            for period_id, cents in _allocate(amount, shares.get(basket_id, {})).items():
                parts[period_id] = cents
        return parts or {None: amount}

    payment_basket = {}
    for payment_id, basket_id, method, amount in db.session.execute(
        select(Payment.id, Payment.basket_id, Payment.method, Payment.amount_cents)
        .where(Payment.status.in_(MONEY_IN_STATUSES))
    ):
        payment_basket[payment_id] = basket_id
        for period_id, cents in split(amount, basket_id).items():
            entry = result.get(period_id) if period_id is not None else (unassigned if everything else None)
            if entry is not None:
                entry.paid_cents += cents
                entry.by_method[method] = entry.by_method.get(method, 0) + cents

    for payment_id, amount, reservation_period in db.session.execute(
        select(Refund.payment_id, Refund.amount_cents, Week.period_id)
        .outerjoin(Reservation, Reservation.id == Refund.reservation_id)
        .outerjoin(Week, Week.id == Reservation.week_id)
        .where(Refund.status == "succeeded")
    ):
        parts = {reservation_period: amount} if reservation_period is not None else \
            split(amount, payment_basket.get(payment_id))
        for period_id, cents in parts.items():
            entry = result.get(period_id) if period_id is not None else (unassigned if everything else None)
            if entry is not None:
                entry.refunded_cents += cents
    rows = [result[p.id] for p in periods]
    if everything and (unassigned.paid_cents or unassigned.refunded_cents):
        rows.append(unassigned)
    return rows
