"""Occupancy of a period: capacity, confirmed, held and free per week, and seats per circuit × week;
per week also the waiting list: entries waiting, and places offered to it (already among the held).

A held line counts only while its hold is live, exactly as in every availability check, so the
figures staff read are the ones a parent's booking is checked against. Aggregates, not rows: five
queries whatever the number of reservations.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import gettext as _
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import joinedload

from app.models import Circuit, Period, Reservation, ReservationStatus, Week, db, utcnow
from app.services.booking.waitlist_reads import waiting_counts
from app.services.errors import NotFound


class _BucketUsage:
    """Taken, free and shares of one capacity bucket: a week's places or a bus's seats (`limit`)."""

    confirmed: int
    held: int

    @property
    def limit(self) -> int:
        raise NotImplementedError

    @property
    def taken(self) -> int:
        return self.confirmed + self.held

    @property
    def free(self) -> int:
        return max(self.limit - self.taken, 0)

    @property
    def percent(self) -> int:
        """Share of the bucket taken, for the bars (0 to 100)."""
        if self.limit <= 0:
            return 100 if self.taken else 0
        return min(round(100 * self.taken / self.limit), 100)

    @property
    def confirmed_percent(self) -> int:
        if self.limit <= 0:
            return 0
        return min(round(100 * self.confirmed / self.limit), 100)


@dataclass
class WeekOccupancy(_BucketUsage):
    week_id: int
    label: str
    starts_on: date
    capacity: int
    confirmed: int
    held: int
    waiting: int = 0  # waiting-list entries still waiting for a place
    offered: int = 0  # places offered to the list and not paid yet (counted in `held`, like a basket's)

    @property
    def limit(self) -> int:
        return self.capacity


@dataclass
class CircuitOccupancy(_BucketUsage):
    circuit_id: int
    circuit_name: str
    week_id: int
    week_label: str
    seats: int
    confirmed: int
    held: int

    @property
    def limit(self) -> int:
        return self.seats


@dataclass
class Occupancy:
    period_id: int
    period_name: str
    establishment_name: str
    weeks: list[WeekOccupancy]
    circuits: list[CircuitOccupancy]
    at: datetime


def occupancy(period_id: int, *, now: datetime | None = None) -> Occupancy:
    """Capacity, confirmed, held now and free per week, and seats per circuit × week; per week the
    waiting list's counts. A held line (a waiting-list offer is one) counts only while its hold is
    live, like in every availability check. Six queries."""
    now = now or utcnow()
    period = db.session.execute(
        select(Period).where(Period.id == period_id).options(joinedload(Period.establishment))
    ).scalar_one_or_none()
    if period is None:
        raise NotFound(_("Cette période n'existe pas."), code="not_found")
    weeks = db.session.execute(
        select(Week).where(Week.period_id == period_id).order_by(Week.starts_on, Week.id)).scalars().all()
    circuits = db.session.execute(
        select(Circuit).where(Circuit.period_id == period_id).order_by(Circuit.name, Circuit.id)).scalars().all()
    confirmed = func.sum(case((Reservation.status == ReservationStatus.CONFIRMED, 1), else_=0))
    held = func.sum(case((and_(Reservation.status == ReservationStatus.HELD, Reservation.hold_expires_at > now), 1),
                         else_=0))
    in_period = Reservation.week_id.in_(select(Week.id).where(Week.period_id == period_id).scalar_subquery())
    live = Reservation.status.in_(ReservationStatus.LIVE)
    week_rows = {
        week_id: (c or 0, h or 0) for week_id, c, h in db.session.execute(
            select(Reservation.week_id, confirmed, held).where(in_period, live).group_by(Reservation.week_id))
    }
    circuit_rows = {
        (circuit_id, week_id): (c or 0, h or 0) for circuit_id, week_id, c, h in db.session.execute(
            select(Reservation.circuit_id, Reservation.week_id, confirmed, held)
            .where(in_period, live, Reservation.circuit_id.is_not(None))
            .group_by(Reservation.circuit_id, Reservation.week_id))
    }
    lists = waiting_counts([w.id for w in weeks], now=now)
    week_stats = [
        WeekOccupancy(week_id=w.id, label=w.label, starts_on=w.starts_on, capacity=w.capacity,
                      confirmed=week_rows.get(w.id, (0, 0))[0], held=week_rows.get(w.id, (0, 0))[1],
                      waiting=lists[w.id]["waiting"], offered=lists[w.id]["offered"])
        for w in weeks
    ]
    circuit_stats = [
        CircuitOccupancy(circuit_id=c.id, circuit_name=c.name, week_id=w.id, week_label=w.label, seats=c.seats,
                         confirmed=circuit_rows.get((c.id, w.id), (0, 0))[0],
                         held=circuit_rows.get((c.id, w.id), (0, 0))[1])
        for c in circuits for w in weeks
    ]
    return Occupancy(period_id=period.id, period_name=period.name, establishment_name=period.establishment.name,
                     weeks=week_stats, circuits=circuit_stats, at=now)
