"""The basket: add a line (holding its place), take it out, show the basket and "Mes inscriptions".

The hold itself (its duration, expiry, the sweeper, the settle hook of payments) is `holds`; the
transport choice and the stop change are `stops`. Their public names are re-exported here, so
`from app.services.booking import basket` keeps working for views, API, jobs and payments.

Concurrency (DESIGN.md §3–4). `add_line` runs in one transaction and takes its locks in a stable
order: the household row (serialises the household's own basket), its active basket, then the week
(`capacity.lock_weeks`). Only then does it ask the rule (`eligibility.check_week`, which counts
through the capacity primitive: confirmed + live held places and bus seats, lazy expiry), write,
and commit. The partial unique index on (child, week) over live lines is the last guard against a
double booking; hitting it becomes the same `already_booked` conflict the rule gives.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from app.models import (
    Basket,
    BasketStatus,
    Establishment,
    Household,
    Period,
    Reservation,
    ReservationStatus,
    TransportMode,
    Week,
    db,
    utcnow,
)
from app.models.types import parse_id
from app.services import audit
from app.services.booking import admission, fast_hold
from app.services.booking.capacity import BUSY_MESSAGE, FULL_ERROR_CODE, lock_weeks
from app.services.booking.eligibility import check_week, load_person
from app.services.booking.holds import (  # noqa: F401 (re-exported: basket.schedule_expiry, …)
    BASKET_IN_CHECKOUT,
    EXPIRE_BASKET_JOB,
    checkout_message,
    expire_lapsed_lines,
    expire_locked,
    hold_duration,
    lock_active_basket,
    lock_basket,
    open_basket,
    register_settle_hook,
    schedule_expiry,
)
from app.services.booking.holds import settle_hook as _settle_hook  # the seam the expiry tests patch
from app.services.booking.pricing import bracket_for, price_line
from app.services.booking.stops import (  # noqa: F401 (re-exported: basket.parse_transport, …)
    change_stop_locked,
    load_stop,
    parent_can_change_stop,
    parse_transport,
    stop_change_deadline,
    transport_options,
)
from app.services.booking.waitlist_offers import offer_freed_places
from app.services.errors import Busy, Conflict, NotFound, ValidationFailed
from app.services.transactions import commit_asynchronously, unit_of_work

log = logging.getLogger(__name__)

# Names of the former single module, for callers that still use them.
_expire_lapsed_lines = expire_lapsed_lines


# --- transactions --------------------------------------------------------------------------

def _run(operation, *args, **kwargs):
    """Run `operation` in one transaction (transactions.unit_of_work). The live-line unique index
    refusing a second line for a child is the rule's own `already_booked`; a second active basket
    raced in by the same household is `busy` (try again: the next attempt finds that basket)."""
    def already_booked():
        return Conflict(_("Votre enfant est déjà inscrit pour cette semaine."), code="already_booked")

    def busy():
        return Busy(BUSY_MESSAGE, code="busy")

    with unit_of_work({"uq_reservation_live_child_week": already_booked, "reservation.child_id": already_booked,
                       "uq_basket_active_household": busy, "basket.household_id": busy}):
        return operation(*args, **kwargs)


# --- add a line ----------------------------------------------------------------------------

def add_line(household_id: int, child_id: int, week_id: int, transport: dict, *, actor=None, desk: bool = False,
             now: datetime | None = None) -> Reservation:
    """Put one child × week with its transport into the household's basket, holding the place.

    Raises Conflict (code = eligibility reason, or basket_in_checkout), ValidationFailed (transport),
    NotFound (child not linked, unknown week), Busy (lock wait timed out: try again)."""
    child_id, week_id, mode, stop_id = _parse_add(child_id, week_id, transport)
    return _run(_add_line, household_id, child_id, week_id, mode, stop_id, actor, desk, now or utcnow())


def _parse_add(child_id, week_id, transport) -> tuple[int, int, str, int | None]:
    mode, stop_id = parse_transport(transport)
    child_id, week_id = parse_id(child_id), parse_id(week_id)
    if child_id is None or week_id is None:
        raise NotFound(_("Cette semaine ou cet enfant est introuvable."), code="not_found")
    return child_id, week_id, mode, stop_id


def _add_line(household_id, child_id, week_id, mode, stop_id, actor, desk, now,
              describe: dict | None = None) -> Reservation:
    if not desk:
        commit_asynchronously()  # a parent's hold; a desk booking is a staff action and stays durable
    # What needs no lock is read before any lock: every statement run while the week row is locked
    # makes every other parent booking that week wait.
    row = db.session.execute(
        select(Period, Establishment).join(Establishment, Establishment.id == Period.establishment_id)
        .join(Week, Week.period_id == Period.id).where(Week.id == week_id).options(selectinload(Period.tariffs))
    ).first()
    if row is None:
        raise NotFound(_("Cette semaine est introuvable."), code="not_found")
    period, establishment = row
    if not establishment.active:
        raise NotFound(_("Cet accueil n'est plus proposé."), code="not_found")
    stop = circuit = None
    if mode == TransportMode.BUS:
        stop, circuit = load_stop(stop_id, period.id)

    household, link, child = load_person(household_id, child_id, for_update=True)
    basket = lock_active_basket(household_id)
    if basket is not None and basket.status == BasketStatus.CHECKOUT:
        raise Conflict(checkout_message(), code=BASKET_IN_CHECKOUT)
    if basket is not None and basket.expires_at <= now:
        expire_locked(basket, now)  # lapsed but not tidied yet: its places are free, start afresh
        basket = None
    expire_lapsed_lines(child_id, week_id, now)  # lapsed lines take no place: no week lock needed

    week = lock_weeks([week_id]).get(week_id)
    if week is None:
        raise NotFound(_("Cette semaine est introuvable."), code="not_found")
    offer_freed_places([week_id], now)  # a free place goes to the waiting list first, never past it
    # The rule, then the capacity primitive's week and bus (one count, under the week lock above).
    reason = check_week(household, link, child, week, period, establishment, now, desk=desk, circuit=circuit)
    if reason:
        raise Conflict(reason.message, code=reason.code, **reason.details)
    price = price_line(household, period, mode, week)

    if basket is None:
        basket = Basket(household_id=household_id, status=BasketStatus.OPEN, created_at=now,
                        expires_at=now + hold_duration(),
                        created_by_id=getattr(actor, "id", None) if desk else None)
        db.session.add(basket)
        db.session.flush()
        audit.record("basket.opened", "basket", basket.id, actor=actor, household_id=household_id,
                     after={"status": basket.status, "expires_at": basket.expires_at, "desk": desk})
        schedule_expiry(basket)

    line = Reservation(basket_id=basket.id, household_id=household_id, child_id=child_id, week_id=week_id,
                       status=ReservationStatus.HELD, transport_mode=mode,
                       circuit_id=circuit.id if circuit else None, stop_id=stop.id if stop else None,
                       price_cents=price.price_cents, bus_price_cents=price.bus_price_cents,
                       hold_expires_at=basket.expires_at, created_at=now)
    db.session.add(line)
    db.session.flush()
    audit.record("reservation.held", "reservation", line.id, actor=actor, household_id=household_id,
                 after={"basket_id": basket.id, "child_id": child_id, "week_id": week_id, "transport_mode": mode,
                        "stop_id": line.stop_id, "price_cents": line.price_cents,
                        "bus_price_cents": line.bus_price_cents, "hold_expires_at": line.hold_expires_at,
                        "desk": desk})
    if describe is not None:
        # Every row the description needs is loaded and referenced here: no query. After the
        # commit they would all be expired and read again.
        describe["item"] = _line_dict(line, household)
    return line


def add_line_summary(household_id: int, child_id: int, week_id: int, transport: dict, *, actor=None,
                     now: datetime | None = None) -> dict:
    """add_line for the JSON API: the new line as the basket shows it, built from the rows the
    transaction already holds (no re-read after the commit), and the basket's new total."""
    now = now or utcnow()
    child_id, week_id, mode, stop_id = _parse_add(child_id, week_id, transport)
    described: dict = {}
    fast = fast_hold.available()  # PostgreSQL: one round trip per hold, and the admission gate's marks

    def operation():
        held = fast_hold.try_add(household_id, child_id, week_id, mode, stop_id, actor, now) if fast else None
        if held is not None:  # one round trip under the locks (PostgreSQL), the basket's total with it
            line, household, total = held
            return _line_dict(line, household), line.basket_id, line.hold_expires_at, total
        line = _add_line(household_id, child_id, week_id, mode, stop_id, actor, False, now, describe=described)
        return described["item"], line.basket_id, line.hold_expires_at, None

    try:
        item, basket_id, expires_at, total = _run(operation)
    except Conflict as exc:
        if exc.code == FULL_ERROR_CODE and not exc.details and fast:  # the week, not a bus
            admission.remember_full(week_id, now)
        raise
    if total is None:
        total = db.session.execute(
            select(func.coalesce(func.sum(Reservation.price_cents + Reservation.bus_price_cents), 0))
            .where(Reservation.basket_id == basket_id, Reservation.status == ReservationStatus.HELD)
        ).scalar()
    return {"line": item, "basket_id": basket_id, "expires_at": expires_at.isoformat(), "total_cents": int(total)}


# --- remove a line -------------------------------------------------------------------------

def remove_line(household_id: int, line_id: int, *, actor=None, now: datetime | None = None) -> None:
    """Take a held line out of the basket; its place returns to the pool at once. An emptied basket is
    closed so that the next line starts a fresh hold."""
    now = now or utcnow()
    valid_id = parse_id(line_id)
    if valid_id is None:
        raise NotFound(_("Cette ligne n'est pas dans votre panier."), code="not_found")
    _run(_remove_line, household_id, valid_id, actor, now)


def _remove_line(household_id, line_id, actor, now) -> None:
    basket_id = db.session.execute(
        select(Reservation.basket_id).where(Reservation.id == line_id, Reservation.household_id == household_id)
    ).scalar_one_or_none()
    if basket_id is None:
        raise NotFound(_("Cette ligne n'est pas dans votre panier."), code="not_found")
    basket = db.session.execute(
        select(Basket).where(Basket.id == basket_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    line = db.session.execute(
        select(Reservation).where(Reservation.id == line_id).execution_options(populate_existing=True)
    ).scalar_one()
    if basket.status == BasketStatus.CHECKOUT:
        raise Conflict(checkout_message(), code=BASKET_IN_CHECKOUT)
    if line.status != ReservationStatus.HELD or basket.status != BasketStatus.OPEN:
        raise Conflict(_("Cette ligne n'est plus dans votre panier."), code="not_in_basket")
    line.status = ReservationStatus.REMOVED
    line.ended_at = now
    audit.record("reservation.removed", "reservation", line.id, actor=actor, household_id=household_id,
                 before={"status": ReservationStatus.HELD}, after={"status": ReservationStatus.REMOVED})
    db.session.flush()
    offer_freed_places([line.week_id], now)  # the freed place goes to the waiting list at once
    still_held = db.session.execute(
        select(Reservation.id).where(Reservation.basket_id == basket.id,
                                     Reservation.status == ReservationStatus.HELD).limit(1)
    ).first()
    if still_held is None:
        basket.status = BasketStatus.CANCELLED
        basket.expired_at = now
        audit.record("basket.emptied", "basket", basket.id, actor=actor, household_id=household_id,
                     before={"status": BasketStatus.OPEN}, after={"status": BasketStatus.CANCELLED})


# --- reading -------------------------------------------------------------------------------

def _line_dict(line: Reservation, household: Household) -> dict:
    week, period = line.week, line.week.period
    stop = line.stop
    try:
        bracket = bracket_for(household, period, week).label
    except ValidationFailed:
        bracket = None
    return {
        "id": line.id,
        "basket_id": line.basket_id,
        "status": line.status,
        "child": {"id": line.child.id, "first_name": line.child.first_name, "last_name": line.child.last_name},
        "week": {"id": week.id, "label": week.label, "starts_on": week.starts_on.isoformat(),
                 "ends_on": week.ends_on.isoformat()},
        "period": {"id": period.id, "name": period.name,
                   "stop_change_deadline": period.stop_change_deadline.isoformat()
                   if period.stop_change_deadline else None},
        "establishment": {"id": period.establishment.id, "name": period.establishment.name},
        "transport": {
            "mode": line.transport_mode,
            "circuit": {"id": line.circuit.id, "name": line.circuit.name} if line.circuit else None,
            "stop": {"id": stop.id, "name": stop.name, "pickup_time": stop.pickup_time.strftime("%H:%M"),
                     "dropoff_time": stop.dropoff_time.strftime("%H:%M")} if stop else None,
        },
        "bracket": bracket,
        "price_cents": line.price_cents,
        "bus_price_cents": line.bus_price_cents,
        "total_cents": line.total_cents,
        "confirmed_at": line.confirmed_at.isoformat() if line.confirmed_at else None,
    }


def _line_options():
    return (joinedload(Reservation.child), joinedload(Reservation.stop), joinedload(Reservation.circuit),
            joinedload(Reservation.week).joinedload(Week.period).joinedload(Period.establishment),
            joinedload(Reservation.week).joinedload(Week.period).selectinload(Period.tariffs))


def basket_summary(household_id: int, now: datetime | None = None) -> dict:
    """What the basket page and the API show: the live basket's lines with prices and total, and,
    when there is no live basket, what happened to the last one (so that a lapsed hold is explained)."""
    now = now or utcnow()
    household = db.session.get(Household, household_id)
    if household is None:
        raise NotFound(_("Aucun dossier famille n'est associé à ce compte."), code="no_household")
    basket = open_basket(household_id, now)
    summary: dict[str, Any] = {"basket_id": None, "status": None, "expires_at": None, "lines": [],
                               "total_cents": 0, "lapsed": None}
    if basket is not None:
        lines = db.session.execute(
            select(Reservation).where(Reservation.basket_id == basket.id, Reservation.status == ReservationStatus.HELD)
            .options(*_line_options()).order_by(Reservation.id)
        ).unique().scalars().all()
        items = [_line_dict(line, household) for line in lines]
        summary.update(basket_id=basket.id, status=basket.status, expires_at=basket.expires_at.isoformat(),
                       expires_at_dt=basket.expires_at, lines=items,
                       total_cents=sum(item["total_cents"] for item in items),
                       seconds_left=max(0, int((basket.expires_at - now).total_seconds())))
        return summary
    last = db.session.execute(
        select(Basket).where(Basket.household_id == household_id).order_by(Basket.id.desc()).limit(1)
    ).scalar_one_or_none()
    if last is not None and (last.status == BasketStatus.EXPIRED
                             or (last.status in BasketStatus.ACTIVE and last.expires_at <= now)):
        released = db.session.execute(
            select(Reservation).where(Reservation.basket_id == last.id,
                                      Reservation.status.in_((ReservationStatus.HELD, ReservationStatus.EXPIRED)))
            .options(*_line_options()).order_by(Reservation.id)
        ).unique().scalars().all()
        summary["lapsed"] = {"basket_id": last.id, "expires_at": last.expires_at.isoformat(),
                             "expires_at_dt": last.expires_at,
                             "lines": [_line_dict(line, household) for line in released]}
    return summary


def public_summary(summary: dict) -> dict:
    """The summary without its Python-only keys (for JSON)."""
    data = {k: v for k, v in summary.items() if not k.endswith("_dt")}
    if data.get("lapsed"):
        data["lapsed"] = {k: v for k, v in data["lapsed"].items() if not k.endswith("_dt")}
    return data


def reservations(household_id: int, statuses: tuple[str, ...] = (ReservationStatus.CONFIRMED,),
                 now: datetime | None = None) -> list[dict]:
    """The household's reservations (confirmed by default), by week, for "Mes inscriptions" and the API,
    each saying whether the parent may still change its stop."""
    now = now or utcnow()
    household = db.session.get(Household, household_id)
    if household is None:
        raise NotFound(_("Aucun dossier famille n'est associé à ce compte."), code="no_household")
    lines = db.session.execute(
        select(Reservation).join(Week, Week.id == Reservation.week_id)
        .where(Reservation.household_id == household_id, Reservation.status.in_(statuses))
        .options(*_line_options()).order_by(Week.starts_on, Reservation.id)
    ).unique().scalars().all()
    items = []
    for line in lines:
        item = _line_dict(line, household)
        item["stop_change_open"] = parent_can_change_stop(line.week.period, now)
        items.append(item)
    return items


# --- expiry (the entry points: each one transaction) ------------------------------------------

def expire_basket(basket_id: int, now: datetime | None = None) -> bool:
    """Release the places of a basket whose hold lapsed unpaid. Idempotent: re-reads and locks the
    basket; does nothing if it is no longer active or not due. Returns True when it expired it."""
    now = now or utcnow()
    try:
        basket = lock_basket(basket_id)
        if basket is None or basket.status not in BasketStatus.ACTIVE or basket.expires_at > now:
            db.session.rollback()
            return False
        if basket.status == BasketStatus.CHECKOUT:
            settle = _settle_hook()
            if settle is not None:
                # May commit, may raise (provider unreachable): the job is then retried.
                if settle(basket) == "paid":
                    db.session.commit()
                    return False
                basket = lock_basket(basket_id)
                if basket is None or basket.status not in BasketStatus.ACTIVE:
                    db.session.commit()
                    return False
        expire_locked(basket, now)
        db.session.commit()
        return True
    except Exception:
        db.session.rollback()
        raise


def expire_due_baskets(now: datetime | None = None) -> int:
    """The sweeper's catch-up: every active basket whose hold lapsed. One failure does not stop the rest."""
    now = now or utcnow()
    due = db.session.execute(
        select(Basket.id).where(Basket.status.in_(BasketStatus.ACTIVE), Basket.expires_at <= now)
        .order_by(Basket.id).limit(500)
    ).scalars().all()
    db.session.commit()
    expired = 0
    for basket_id in due:
        try:
            if expire_basket(basket_id, now):
                expired += 1
        except Exception:
            log.exception("could not expire basket %s; next sweep will retry", basket_id)
    return expired


# --- transport changes ---------------------------------------------------------------------

def change_stop(household_id: int, reservation_id: int, transport: dict, *, actor=None, by_staff: bool = False,
                now: datetime | None = None) -> Reservation:
    """Change the bus stop (or, for a line still in the basket or for staff, the transport mode) of a
    held or confirmed line. Parents until the period's deadline, staff always; seats re-checked under
    the week lock when the circuit changes (`stops.change_stop_locked`)."""
    now = now or utcnow()
    mode, stop_id = parse_transport(transport)
    valid_id = parse_id(reservation_id)
    if valid_id is None:
        raise NotFound(_("Cette inscription est introuvable."), code="not_found")
    return _run(change_stop_locked, household_id, valid_id, mode, stop_id, actor, by_staff, now)
