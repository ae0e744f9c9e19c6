"""A parent's add-to-basket in one round trip under the locks (PostgreSQL; issue 21).

`basket.add_line_summary` (the JSON API's add, the path of the opening rush) calls `try_add` first,
inside its transaction. Before any lock, with no statement but the person's: the household, the
child's link and the child with the catalogue version, the active basket's status and the QF records
(one statement: `eligibility.load_person_for_hold`), the period, establishment, week and stop from
the per-process catalogue snapshot, then the same rules as the ORM path, in its order — a payment
under way, `eligibility.period_reason` (file, age, window), `eligibility.week_reason` for a week
already begun, `pricing.price_line` (from the QF records read above). Then `pf_hold_v2`
(app/models/hold_function.py) takes the locks in the ORM path's order (household, basket, week),
counts, and either holds the place or returns the facts of its refusal, which become
`week_reason`'s own French reason here: the rule is written once, in Python; the function's
decision is tested against it state by state (tests/test_fast_hold_pg.py).

`None` means "take the ORM path" (`basket._add_line`) in the same transaction: SQLite, a week or stop
the snapshot does not know (its NotFound or validation message belongs to the ORM path), or what the
function hands back (a waiting list on the week, a lapsed basket still active, a household status
that moved since it was read).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text

from app.models import BasketStatus, ReservationStatus, TransportMode, db
from app.models.hold_function import HOLD_FUNCTION
from app.services import audit
from app.services.booking import admission, catalogue_snapshot
from app.services.booking.capacity import bus_full_shortage, week_full_shortage
from app.services.booking.eligibility import (
    ChildLine,
    Reason,
    full_reason,
    load_person_for_hold,
    period_reason,
    week_reason,
)
from app.services.booking.holds import BASKET_IN_CHECKOUT, checkout_message, hold_duration, schedule_expiry
from app.services.booking.pricing import price_line
from app.services.errors import Conflict
from app.services.localize import paris_today

log = logging.getLogger(__name__)

_CALL = text(f"SELECT * FROM {HOLD_FUNCTION}(:household, :child, :week, :mode, :circuit, :stop, :price, "
             ":bus_price, :now, :hold_seconds, :today, :household_status, :actor_id, :actor_label)")


def available() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def try_add(household_id: int, child_id: int, week_id: int, mode: str, stop_id: int | None, actor,
            now: datetime) -> tuple[Any, Any, int] | None:
    """Hold the place; return (line, household, basket total) for `basket._line_dict`, raise the rule's
    Conflict, or None for the ORM path. Runs inside the caller's unit of work."""
    household, link, child, version, basket_status = load_person_for_hold(household_id, child_id)
    week = catalogue_snapshot.catalogue_at(version).weeks.get(week_id)
    if week is None:
        return None
    period = week.period
    stop = circuit = None
    if mode == TransportMode.BUS:
        circuit = next((c for c in period.circuits for s in c.stops if s.id == stop_id), None)
        stop = next((s for s in circuit.stops if s.id == stop_id), None) if circuit else None
        if stop is None:
            return None
    if basket_status == BasketStatus.CHECKOUT:  # as the ORM path: a payment under way comes first
        raise Conflict(checkout_message(), code=BASKET_IN_CHECKOUT)
    today = paris_today(now)
    gate = period_reason(household, link, child, period, period.establishment, now)
    refusal = gate or week_reason(None, week, None, None, household_id, today) \
        or admission.refusal(week, household_id, child_id, now)  # a week known full: no lock, no count
    if refusal:
        _refuse(refusal)
    price = price_line(household, period, mode, week)

    row = db.session.execute(_CALL, {
        "household": household_id, "child": child_id, "week": week_id, "mode": mode,
        "circuit": circuit.id if circuit else None, "stop": stop.id if stop else None,
        "price": price.price_cents, "bus_price": price.bus_price_cents, "now": now,
        "hold_seconds": hold_duration().total_seconds(), "today": today, "household_status": household.status,
        "actor_id": getattr(actor, "id", None),
        "actor_label": getattr(actor, "email", None) or getattr(actor, "username", None) or audit.SYSTEM,
    }).one()
    if row.outcome == "fallback":
        return None
    if row.outcome == "checkout":
        raise Conflict(checkout_message(), code=BASKET_IN_CHECKOUT)
    if row.outcome == "refused":
        reason = refusal_reason(week, circuit, row, household_id, today)
        if reason is None:  # the function and the rule disagree: never decide on a doubt, the ORM path will
            log.error("pf_hold refused week %s where the rule holds it: %s", week_id, row)
            return None
        _refuse(reason)
    expires_at = row.expires_at.astimezone(timezone.utc)  # in UTC whatever the server's time zone, as the ORM
    if row.basket_created:
        schedule_expiry(SimpleNamespace(id=row.basket_id, expires_at=expires_at))  # after the commit
    line = SimpleNamespace(
        id=row.line_id, basket_id=row.basket_id, status=ReservationStatus.HELD, child=child, week=week, stop=stop,
        circuit=circuit, transport_mode=mode, price_cents=price.price_cents, bus_price_cents=price.bus_price_cents,
        total_cents=price.total_cents, hold_expires_at=expires_at, confirmed_at=None)
    return line, household, int(row.total_cents)


def refusal_reason(week, circuit, facts, household_id: int, today) -> Reason | None:
    """The function's refusal as the rule's reason: `week_reason` over the facts it counted under the
    week lock (the child's own live line, the places taken), then a full bus, as `check_week` does."""
    full = week_full_shortage(week.id) if facts.used + 1 > week.capacity else None
    line = ChildLine(facts.line_status, facts.line_household) if facts.line_status is not None else None
    reason = week_reason(None, week, full, line, household_id, today)
    if reason is None and circuit is not None and facts.bus_used + 1 > circuit.seats:
        reason = full_reason(bus_full_shortage(week.id, circuit))
    return reason


def _refuse(reason: Reason) -> None:
    raise Conflict(reason.message, code=reason.code, **reason.details)
