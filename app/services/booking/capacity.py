"""The one capacity primitive: places left in a week, seats left on a bus, under lock or not.

Every operation that takes places (add to basket, stop change, late payment re-taking its places,
staff moving a child, desk booking; later the waiting list's offers, cancellations, allocation)
asks the same question, "is there a place in this week and a seat on this bus?", and gets the same
answer with the same French message from here: `check_places()` lists the shortages,
`take_places()` raises the typed error of the first one. Nothing else counts a bucket.

Locking (DESIGN.md §4): inside one transaction the week rows are locked first, in id order
(`lock_weeks`), then the live lines are counted, then the caller writes. Locking the week rows is
enough for both capacities: a bus seat is always a seat of a circuit × week, so every writer to a
circuit × week bucket holds that week's lock. On SQLite the transaction already holds the write
lock (BEGIN IMMEDIATE).

What counts (§3.1, §3.3, §3.8) is written once, in `live_condition()` (SQL) and `is_live()` (a loaded
row): a confirmed line, or a held line whose hold has not lapsed. Expiry is lazy and exact, whatever
the expiry job does. The waiting list's offer (a place held for one entry with its own deadline)
joins both functions and every count follows.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import OperationalError

from app.models import Circuit, Reservation, ReservationStatus, Week, db, utcnow
from app.services.errors import Busy, Conflict
from app.services.transactions import BUSY_MESSAGE, is_lock_timeout  # noqa: F401 (re-exported)

WEEK_FULL = "week_full"
BUS_FULL = "bus_full"
# The code a caller sees in the error (API, pages): one "full" code, the bucket in the details.
FULL_ERROR_CODE = "full"


# --- what counts -----------------------------------------------------------------------------

def live_condition(now: datetime):
    """SQL condition: the reservation occupies a place (and its seat) at `now`."""
    return or_(
        Reservation.status == ReservationStatus.CONFIRMED,
        and_(Reservation.status == ReservationStatus.HELD, Reservation.hold_expires_at > now),
    )


def is_live(line: Reservation, now: datetime) -> bool:
    """`live_condition` for a row already loaded (the same rule, without a query)."""
    if line.status == ReservationStatus.CONFIRMED:
        return True
    return line.status == ReservationStatus.HELD and line.hold_expires_at is not None and line.hold_expires_at > now


# --- messages (once) -------------------------------------------------------------------------

def week_full_message() -> str:
    return _("Cette semaine est complète : plus aucune place disponible.")


def bus_full_message(circuit_name: str) -> str:
    return _("Plus de place dans le bus « %(circuit)s » pour cette semaine : choisissez un autre "
             "circuit ou l'accueil sur site.", circuit=circuit_name)


# --- demands and shortages -------------------------------------------------------------------

@dataclass(frozen=True)
class Demand:
    """One place wanted in a week, and a seat on `circuit_id` that week when it is not None.

    `seat_only`: the caller already holds the week's place (a stop change on its own line): only the
    seat is wanted."""

    week_id: int
    circuit_id: int | None = None
    seat_only: bool = False


@dataclass(frozen=True)
class Shortage:
    """A bucket that cannot take what was asked: the week (WEEK_FULL) or the circuit × week (BUS_FULL)."""

    week_id: int
    circuit_id: int | None
    code: str
    message: str
    details: dict = field(default_factory=dict)

    def error(self) -> Conflict:
        return Conflict(self.message, code=FULL_ERROR_CODE, **self.details)


def week_full_shortage(week_id: int) -> Shortage:
    """No place left in the week: the one shortage every reader and writer says « complet » with."""
    return Shortage(week_id, None, WEEK_FULL, week_full_message())


def bus_full_shortage(week_id: int, circuit) -> Shortage:
    """No seat left on `circuit` that week."""
    return Shortage(week_id, circuit.id, BUS_FULL, bus_full_message(circuit.name), {"bucket": "bus"})


@dataclass
class Usage:
    """Live lines per bucket: places per week, seats per (circuit, week)."""

    places: dict[int, int]
    seats: dict[tuple[int, int], int]


# --- locking ---------------------------------------------------------------------------------

def lock_weeks(week_ids: Iterable[int]) -> dict[int, Week]:
    """Lock the week rows in id order (a stable order: no deadlock between two baskets).
    A lock wait that times out is Busy ("try again"), never a 500."""
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


# --- counting --------------------------------------------------------------------------------

def count_live(week_ids: Iterable[int], now: datetime, *, exclude_reservation_ids: Iterable[int] = ()) -> Usage:
    """Places and seats taken in these weeks, in one grouped statement (week × circuit: the week's
    total is the sum of its rows). `exclude_reservation_ids`: lines that are the caller's own (a
    lapsed basket re-taking its places, a line changing stop) and must not count against it."""
    ids = sorted(set(week_ids))
    if not ids:
        return Usage({}, {})
    query = (select(Reservation.week_id, Reservation.circuit_id, func.count())
             .where(Reservation.week_id.in_(ids), live_condition(now)))
    excluded = sorted(set(exclude_reservation_ids))
    if excluded:
        query = query.where(Reservation.id.not_in(excluded))
    places = dict.fromkeys(ids, 0)
    seats: dict[tuple[int, int], int] = {}
    for week_id, circuit_id, count in db.session.execute(query.group_by(Reservation.week_id, Reservation.circuit_id)):
        places[week_id] += count
        if circuit_id is not None:
            seats[(circuit_id, week_id)] = count
    return Usage(places, seats)


def week_usage(week_ids: Iterable[int], now: datetime | None = None) -> dict[int, int]:
    """Places taken per week: confirmed lines plus live held ones (lists and reports)."""
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
    """Bus seats taken per (circuit, week) (lists and reports)."""
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


# --- the primitive ---------------------------------------------------------------------------

@dataclass
class Availability:
    """What is left in some weeks at one instant: the readers' numbers and the writers' shortages,
    from one count. Week and circuit rows come from the session's identity map when the caller holds
    them (no statement)."""

    usage: Usage

    def places_left(self, week: Week) -> int:
        return max(0, week.capacity - self.usage.places.get(week.id, 0))

    def seats_left(self, circuit: Circuit, week_id: int) -> int:
        return max(0, circuit.seats - self.usage.seats.get((circuit.id, week_id), 0))

    def week_full(self, week: Week) -> Shortage | None:
        """The shortage of one more place in `week` (the offer list's "complet"), or None."""
        return next(iter(self.shortages([Demand(week.id)], {week.id: week})), None)

    def shortages(self, demands: Iterable[Demand], weeks: dict[int, Week] | None = None) -> list[Shortage]:
        """The buckets these demands do not fit in, weeks first then buses, each in id order.
        `weeks`: the rows the caller already has (e.g. just locked)."""
        demands = list(demands)
        places_wanted = Counter(d.week_id for d in demands if not d.seat_only)
        seats_wanted = Counter((d.circuit_id, d.week_id) for d in demands if d.circuit_id is not None)
        shortages = []
        for week_id in sorted(places_wanted):
            week = (weeks or {}).get(week_id) or db.session.get(Week, week_id)
            if week is None:
                continue  # an unknown week is the caller's NotFound, not a shortage
            if self.usage.places.get(week_id, 0) + places_wanted[week_id] > week.capacity:
                shortages.append(week_full_shortage(week_id))
        for circuit_id, week_id in sorted(seats_wanted, key=lambda pair: (pair[1], pair[0])):
            circuit = db.session.get(Circuit, circuit_id)
            if circuit is None:
                continue
            if self.usage.seats.get((circuit_id, week_id), 0) + seats_wanted[(circuit_id, week_id)] > circuit.seats:
                shortages.append(bus_full_shortage(week_id, circuit))
        return shortages


def availability(week_ids: Iterable[int], now: datetime, *,
                 exclude_reservation_ids: Iterable[int] = ()) -> Availability:
    """Places and seats left in these weeks (and on every circuit serving them), without locks: for
    the pages that show them, and for writers that already hold the week locks."""
    return Availability(count_live(week_ids, now, exclude_reservation_ids=exclude_reservation_ids))


def availability_and_own_lines(week_ids: Iterable[int], now: datetime, child_id: int
                               ) -> tuple[Availability, dict[int, tuple[str, int]]]:
    """`availability` for the offer list, with the child's own live line per week (its status and
    household, whichever household made it) read by the same grouped statement: a child has at most
    one live line per week (uq_reservation_live_child_week), so it sits in one week × circuit group."""
    ids = sorted(set(week_ids))
    if not ids:
        return Availability(Usage({}, {})), {}
    own = Reservation.child_id == child_id
    query = (select(Reservation.week_id, Reservation.circuit_id, func.count(),
                    func.max(Reservation.status).filter(own), func.max(Reservation.household_id).filter(own))
             .where(Reservation.week_id.in_(ids), live_condition(now))
             .group_by(Reservation.week_id, Reservation.circuit_id))
    places = dict.fromkeys(ids, 0)
    seats: dict[tuple[int, int], int] = {}
    lines: dict[int, tuple[str, int]] = {}
    for week_id, circuit_id, count, status, household_id in db.session.execute(query):
        places[week_id] += count
        if circuit_id is not None:
            seats[(circuit_id, week_id)] = count
        if status is not None:
            lines[week_id] = (status, household_id)
    return Availability(Usage(places, seats)), lines


def check_places(demands: Iterable[Demand], *, now: datetime, lock: bool,
                 exclude_reservation_ids: Iterable[int] = ()) -> list[Shortage]:
    """The buckets these demands do not fit in ([] when everything fits). `lock=True` locks the weeks
    first (writers); `lock=False` for readers, or for a writer that already holds the week locks."""
    demands = list(demands)
    if not demands:
        return []
    week_ids = sorted({d.week_id for d in demands})
    weeks = lock_weeks(week_ids) if lock else {}
    left = availability(week_ids, now, exclude_reservation_ids=exclude_reservation_ids)
    return left.shortages(demands, weeks)


def take_places(demands: Iterable[Demand], *, now: datetime, lock: bool = True,
                exclude_reservation_ids: Iterable[int] = ()) -> None:
    """check_places for a writer: raises the first shortage as Conflict (code "full"; a bus also
    says bucket="bus"). With lock=True the week locks are held until the caller's commit."""
    shortages = check_places(demands, now=now, lock=lock, exclude_reservation_ids=exclude_reservation_ids)
    if shortages:
        raise shortages[0].error()
