"""Capacity buckets: lock them, count what is live in them.

Every operation that takes places (add to basket, late payment re-taking its places, staff moving a
child, desk booking) runs in one transaction: `lock_weeks()` first, then `week_usage()` /
`circuit_usage()`, then writes. Locking the week rows is enough for both capacities: a bus seat is
always a seat of a circuit × week, so every writer to a circuit × week bucket holds that week's lock.

A held line counts only while its hold is live (`hold_expires_at > now`): expiry is lazy and exact,
whatever the expiry job does (DESIGN.md §3.3).
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import OperationalError

from app.models import Reservation, ReservationStatus, Week, db, utcnow

from app.services.errors import Busy
from app.services.transactions import BUSY_MESSAGE, is_lock_timeout  # noqa: F401 (re-exported)



def live_condition(now: datetime):
    """SQL condition: the reservation occupies a place at `now`."""
    return or_(
        Reservation.status == ReservationStatus.CONFIRMED,
        and_(Reservation.status == ReservationStatus.HELD, Reservation.hold_expires_at > now),
    )


def lock_weeks(week_ids: Iterable[int]) -> dict[int, Week]:
    """Lock the week rows in id order (a stable order: no deadlock between two baskets).
    On SQLite the whole transaction already holds the write lock (BEGIN IMMEDIATE)."""
    ids = sorted(set(week_ids))
    if not ids:
        return {}
    query = select(Week).where(Week.id.in_(ids)).order_by(Week.id)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    try:
        weeks = db.session.execute(query).scalars().all()
    except OperationalError as exc:
        db.session.rollback()
        if is_lock_timeout(exc):
            raise Busy(BUSY_MESSAGE, code="busy") from exc
        raise
    return {week.id: week for week in weeks}


def week_usage(week_ids: Iterable[int], now: datetime | None = None) -> dict[int, int]:
    """Places taken per week: confirmed lines plus live held ones."""
    ids = list(set(week_ids))
    if not ids:
        return {}
    now = now or utcnow()
    rows = db.session.execute(
        select(Reservation.week_id, func.count())
        .where(Reservation.week_id.in_(ids), live_condition(now))
        .group_by(Reservation.week_id)
    ).all()
    usage = dict.fromkeys(ids, 0)
    usage.update({week_id: count for week_id, count in rows})
    return usage


def circuit_usage(pairs: Iterable[tuple[int, int]], now: datetime | None = None) -> dict[tuple[int, int], int]:
    """Bus seats taken per (circuit, week)."""
    pairs = list(set(pairs))
    if not pairs:
        return {}
    now = now or utcnow()
    circuit_ids = {c for c, _ in pairs}
    week_ids = {w for _, w in pairs}
    rows = db.session.execute(
        select(Reservation.circuit_id, Reservation.week_id, func.count())
        .where(Reservation.circuit_id.in_(circuit_ids), Reservation.week_id.in_(week_ids), live_condition(now))
        .group_by(Reservation.circuit_id, Reservation.week_id)
    ).all()
    usage = dict.fromkeys(pairs, 0)
    usage.update({(c, w): n for c, w, n in rows if (c, w) in usage})
    return usage
