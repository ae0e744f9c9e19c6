"""The transport of a line: which stop (or on site) when it is booked, and changing it afterwards.

Parents change a stop until the period's deadline, staff always; a mode change (bus ⇄ on site) on a
paid week is the desk's. A new circuit is a new bus seat: it is taken through the capacity primitive
under the week lock, in the same lock order as add_line and checkout (basket, then week).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.models import (
    Basket,
    BasketStatus,
    Circuit,
    Household,
    Period,
    Reservation,
    ReservationStatus,
    Stop,
    TransportMode,
    db,
    utcnow,
)
from app.models.types import parse_id
from app.services import audit
from app.services.booking.capacity import Demand, is_live, lock_weeks, take_places
from app.services.booking.eligibility import PARIS
from app.services.booking.holds import BASKET_IN_CHECKOUT, checkout_message, lock_basket
from app.services.booking.pricing import price_line
from app.services.booking.waitlist_offers import offer_freed_places
from app.services.errors import Conflict, NotFound, ValidationFailed

# --- the choice ----------------------------------------------------------------------------



def parse_transport(transport: Any) -> tuple[str, int | None]:
    """{"mode": "bus", "stop_id": 12} or {"mode": "onsite"} → (mode, stop id). One is mandatory."""
    if not isinstance(transport, dict) or transport.get("mode") in (None, ""):
        raise ValidationFailed(_("Choisissez le transport : un arrêt de bus ou l'accueil sur site."),
                               code="transport_required", field="transport")
    mode = transport.get("mode")
    if mode == TransportMode.ONSITE:
        return mode, None
    if mode != TransportMode.BUS:
        raise ValidationFailed(_("Transport inconnu : choisissez « bus » ou « accueil sur site »."),
                               code="invalid_transport", field="transport")
    stop_id = parse_id(transport.get("stop_id"))
    if stop_id is None:
        raise ValidationFailed(_("Pour le bus, choisissez un circuit et un arrêt."), code="stop_required",
                               field="stop_id")
    return mode, stop_id


def load_stop(stop_id: int, period_id: int) -> tuple[Stop, Circuit]:
    row = db.session.execute(
        select(Stop, Circuit).join(Circuit, Circuit.id == Stop.circuit_id).where(Stop.id == stop_id)
    ).first()
    if row is None or row[1].period_id != period_id:
        raise ValidationFailed(_("Cet arrêt ne dessert pas cette période : choisissez un arrêt dans la liste."),
                               code="invalid_stop", field="stop_id")
    return row[0], row[1]


def transport_options(period_ids) -> dict[int, list[dict]]:
    """Bus circuits and their stops (with times) per period, for the stop-change forms."""
    ids = sorted(set(period_ids))
    if not ids:
        return {}
    circuits = db.session.execute(
        select(Circuit).where(Circuit.period_id.in_(ids)).options(selectinload(Circuit.stops))
        .order_by(Circuit.name, Circuit.id)
    ).scalars().all()
    options: dict[int, list[dict]] = {period_id: [] for period_id in ids}
    for circuit in circuits:
        options[circuit.period_id].append({
            "id": circuit.id, "name": circuit.name,
            "stops": [{"id": s.id, "name": s.name, "pickup_time": s.pickup_time.strftime("%H:%M"),
                       "dropoff_time": s.dropoff_time.strftime("%H:%M")} for s in circuit.stops]})
    return options


# --- changing it ---------------------------------------------------------------------------

def stop_change_deadline(period: Period) -> datetime | None:
    return period.stop_change_deadline


def parent_can_change_stop(period: Period, now: datetime | None = None) -> bool:
    """Parents change a stop until the period's deadline set by staff (none set: until the period starts)."""
    now = now or utcnow()
    deadline = period.stop_change_deadline
    if deadline is None:
        return now.astimezone(PARIS).date() < period.starts_on
    return now < deadline


def change_stop_locked(household_id, reservation_id, mode, stop_id, actor, by_staff, now) -> Reservation:
    """The stop change inside the caller's transaction (`basket.change_stop` commits it)."""
    row = db.session.execute(
        select(Reservation.week_id, Reservation.basket_id, Reservation.status)
        .where(Reservation.id == reservation_id, Reservation.household_id == household_id)
    ).first()
    if row is None:
        raise NotFound(_("Cette inscription est introuvable."), code="not_found")
    week_id, basket_id, status = row
    if status == ReservationStatus.HELD:
        lock_basket(basket_id)  # same order as add_line and checkout: basket, then week
    week = lock_weeks([week_id])[week_id]
    line = db.session.execute(
        select(Reservation).where(Reservation.id == reservation_id).execution_options(populate_existing=True)
    ).scalar_one()
    period = db.session.get(Period, week.period_id)
    if not is_live(line, now):
        raise Conflict(_("Cette inscription n'est plus active."), code="not_active")
    if not by_staff and not parent_can_change_stop(period, now):
        raise Conflict(_("La date limite pour changer d'arrêt est passée : contactez le Pôle Jeunesse."),
                       code="stop_change_closed")
    basket = db.session.get(Basket, line.basket_id)
    mode_changes = mode != line.transport_mode
    if mode_changes and line.status == ReservationStatus.CONFIRMED and not by_staff:
        raise Conflict(_("Pour passer du bus à l'accueil sur site (ou l'inverse) sur une semaine payée, "
                         "contactez le Pôle Jeunesse."), code="transport_mode_change")
    if mode_changes and line.status == ReservationStatus.HELD and basket.status == BasketStatus.CHECKOUT:
        raise Conflict(checkout_message(), code=BASKET_IN_CHECKOUT)

    stop = circuit = None
    if mode == TransportMode.BUS:
        stop, circuit = load_stop(stop_id, period.id)
        if circuit.id != line.circuit_id:  # a new seat; the week's place is already the line's
            take_places([Demand(week.id, circuit.id, seat_only=True)], now=now, lock=False)
    before = {"transport_mode": line.transport_mode, "circuit_id": line.circuit_id, "stop_id": line.stop_id,
              "bus_price_cents": line.bus_price_cents}
    line.transport_mode = mode
    line.circuit_id = circuit.id if circuit else None
    line.stop_id = stop.id if stop else None
    if mode_changes and line.status == ReservationStatus.HELD:
        household = db.session.get(Household, household_id)
        line.bus_price_cents = price_line(household, period, mode, week).bus_price_cents
    audit.record("reservation.transport_changed", "reservation", line.id, actor=actor, household_id=household_id,
                 before=before, after={"transport_mode": line.transport_mode, "circuit_id": line.circuit_id,
                                       "stop_id": line.stop_id, "bus_price_cents": line.bus_price_cents,
                                       "by_staff": by_staff})
    if before["circuit_id"] is not None and before["circuit_id"] != line.circuit_id:
        db.session.flush()
        offer_freed_places([week.id], now)  # the seat left on the old bus goes to the waiting list at once
    return line
