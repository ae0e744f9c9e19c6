"""What staff do for a family at the desk or on the phone: book, take the money, move a child to
another week or stop, cancel a week.

Desk booking goes through the very same `basket.add_line` as the parent's own booking (same
capacity locks, same eligibility), with `desk=True` which only lifts the registration window; the
money is then recorded by `payments.record_desk_payment`, which confirms through the same
fulfilment code as a card payment. A move locks both weeks (stable order, `capacity.lock_weeks`)
before counting, so a move can never overbook a week or a bus, even racing a parent's booking.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import joinedload, selectinload

from app.models import (
    Circuit,
    Establishment,
    Guardian,
    Household,
    HouseholdChild,
    LinkStatus,
    Period,
    Reservation,
    ReservationStatus,
    Stop,
    TransportMode,
    Week,
    db,
    utcnow,
)
from app.models.types import parse_id
from app.services import audit
from app.services.booking import basket
from app.services.booking.capacity import (
    BUSY_MESSAGE,
    Demand,
    circuit_usage,
    is_lock_timeout,
    live_condition,
    lock_weeks,
    take_places,
    week_usage,
)
from app.services.booking.waitlist_offers import offer_freed_places
from app.services.errors import Busy, Conflict, NotFound, ServiceError, ValidationFailed

log = logging.getLogger(__name__)


# --- desk booking --------------------------------------------------------------------------

def find_households(text: str, limit: int = 50) -> list[Household]:
    """Households whose name, e-mail, phone or a guardian's name or phone contains `text`."""
    text = (text or "").strip()
    if len(text) < 2 and parse_id(text) is None:
        return []
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    guardian_match = select(Guardian.household_id).where(or_(
        Guardian.last_name.ilike(pattern, escape="\\"), Guardian.first_name.ilike(pattern, escape="\\"),
        Guardian.phone.ilike(pattern, escape="\\"), Guardian.email.ilike(pattern, escape="\\")))
    query = select(Household).where(or_(
        Household.name.ilike(pattern, escape="\\"), Household.email.ilike(pattern, escape="\\"),
        Household.phone.ilike(pattern, escape="\\"), Household.id.in_(guardian_match.scalar_subquery()),
    ))
    if parse_id(text) is not None:
        query = select(Household).where(or_(Household.id == parse_id(text), Household.phone.ilike(pattern, escape="\\"),
                                            Household.id.in_(guardian_match.scalar_subquery())))
    return list(db.session.execute(query.order_by(Household.name, Household.id).limit(limit)).scalars())


@dataclass
class DeskWeek:
    week: Week
    places_left: int


def desk_household(household_id: int) -> tuple[Household, list[HouseholdChild]]:
    household = db.session.execute(
        select(Household).where(Household.id == household_id).options(selectinload(Household.guardians))
    ).scalar_one_or_none()
    if household is None:
        raise NotFound(_("Ce foyer n'existe pas."), code="not_found")
    links = db.session.execute(
        select(HouseholdChild).where(HouseholdChild.household_id == household_id)
        .options(joinedload(HouseholdChild.child)).order_by(HouseholdChild.id)
    ).scalars().all()
    return household, list(links)


def desk_weeks(today: date, now: datetime | None = None) -> list[DeskWeek]:
    """Weeks staff can book at the desk: not over yet, of an active establishment, whatever the
    registration window, with the places left now. Two queries."""
    weeks = db.session.execute(
        select(Week).join(Period, Period.id == Week.period_id)
        .join(Establishment, Establishment.id == Period.establishment_id)
        .where(Week.ends_on >= today, Establishment.active.is_(True))
        .options(joinedload(Week.period).joinedload(Period.establishment))
        .order_by(Establishment.name, Week.starts_on, Week.id)
    ).scalars().all()
    usage = week_usage([w.id for w in weeks], now)
    return [DeskWeek(week=w, places_left=max(w.capacity - usage.get(w.id, 0), 0)) for w in weeks]


@dataclass
class TransportChoice:
    circuit: Circuit
    stop: Stop
    seats_left: int


def transport_choices(week_id: int, now: datetime | None = None) -> tuple[Week, list[TransportChoice]]:
    """Every stop of the circuits serving the week's period, in route order, with seats left."""
    week = db.session.execute(
        select(Week).where(Week.id == week_id).options(joinedload(Week.period).joinedload(Period.establishment))
    ).scalar_one_or_none()
    if week is None:
        raise NotFound(_("Cette semaine n'existe pas."), code="not_found")
    circuits = db.session.execute(
        select(Circuit).where(Circuit.period_id == week.period_id).options(selectinload(Circuit.stops))
        .order_by(Circuit.name, Circuit.id)
    ).scalars().all()
    usage = circuit_usage([(c.id, week.id) for c in circuits], now)
    return week, [TransportChoice(circuit=c, stop=s, seats_left=max(c.seats - usage.get((c.id, week.id), 0), 0))
                  for c in circuits for s in c.stops]


def parse_transport_choice(value: str | None) -> dict | None:
    """The desk and move forms send "onsite" or "stop:<id>"; the services take the basket's dict."""
    value = (value or "").strip()
    if value == TransportMode.ONSITE:
        return {"mode": TransportMode.ONSITE}
    if value.startswith("stop:") and parse_id(value[5:]) is not None:
        return {"mode": TransportMode.BUS, "stop_id": parse_id(value[5:])}
    return None


def desk_add_line(household_id: int, child_id: int, week_id: int, transport: dict, *, actor,
                  now: datetime | None = None) -> Reservation:
    """Staff add a week to the family's basket: the parent's own rules, registration window aside."""
    return basket.add_line(household_id, child_id, week_id, transport, actor=actor, desk=True, now=now)


def desk_remove_line(household_id: int, line_id: int, *, actor) -> None:
    basket.remove_line(household_id, line_id, actor=actor)


def desk_pay(household_id: int, method: str, *, actor):
    """The family paid at the desk: confirm its live basket with the payment method given."""
    live = basket.open_basket(household_id)
    if live is None:
        raise Conflict(_("Le panier de cette famille est vide ou a expiré : ajoutez d'abord les semaines."),
                       code="basket_empty")
    basket_id = live.id
    db.session.rollback()  # end the read transaction: the payment service locks what it needs
    from app.services.payments import record_desk_payment

    return record_desk_payment(basket_id, method, actor=actor)


def desk_methods() -> dict[str, str]:
    from app.services.payments.desk import DESK_METHODS

    return dict(DESK_METHODS)


# --- move ----------------------------------------------------------------------------------

def reservation_detail(reservation_id: int) -> Reservation:
    line = db.session.execute(
        select(Reservation).where(Reservation.id == reservation_id)
        .options(joinedload(Reservation.child), joinedload(Reservation.household),
                 joinedload(Reservation.week).joinedload(Week.period).joinedload(Period.establishment),
                 joinedload(Reservation.circuit), joinedload(Reservation.stop))
    ).scalar_one_or_none()
    if line is None:
        raise NotFound(_("Cette inscription n'existe pas."), code="not_found")
    return line


def period_weeks(period_id: int, now: datetime | None = None) -> list[DeskWeek]:
    weeks = db.session.execute(
        select(Week).where(Week.period_id == period_id).order_by(Week.starts_on, Week.id)).scalars().all()
    usage = week_usage([w.id for w in weeks], now)
    return [DeskWeek(week=w, places_left=max(w.capacity - usage.get(w.id, 0), 0)) for w in weeks]


def move_reservation(reservation_id: int, *, week_id: int | None = None, transport: Any = None, actor,
                     now: datetime | None = None) -> Reservation:
    """Move a confirmed child × week to another week of the same period and/or another transport
    (another stop or circuit, or on site). Capacity and bus seats are checked under the week locks.

    The price already paid is kept as it is: a difference (bus added or dropped) is settled by
    staff, with a refund if due. Raises ValidationFailed, NotFound, Conflict (full, already
    booked, not confirmed) or Busy."""
    now = now or utcnow()
    target = basket.parse_transport(transport) if transport is not None else None
    if week_id is None and target is None:
        raise ValidationFailed(_("Choisissez une autre semaine ou un autre transport."), code="nothing_to_move")
    try:
        line = _move(reservation_id, week_id, target, actor, now)
        db.session.commit()
        return line
    except ServiceError:
        db.session.rollback()
        raise
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(_("Cet enfant est déjà inscrit pour cette semaine."), code="already_booked") from exc
    except OperationalError as exc:
        db.session.rollback()
        if is_lock_timeout(exc):
            raise Busy(BUSY_MESSAGE, code="busy") from exc
        raise


def _move(reservation_id: int, week_id: int | None, target: tuple[str, int | None] | None, actor,
          now: datetime) -> Reservation:
    current_week = db.session.execute(
        select(Reservation.week_id).where(Reservation.id == reservation_id)).scalar_one_or_none()
    if current_week is None:
        raise NotFound(_("Cette inscription n'existe pas."), code="not_found")
    new_week_id = week_id or current_week
    weeks = lock_weeks({current_week, new_week_id})  # both weeks, in id order
    line_query = select(Reservation).where(Reservation.id == reservation_id).execution_options(
        populate_existing=True)
    if db.session.get_bind().dialect.name == "postgresql":
        line_query = line_query.with_for_update()
    line = db.session.execute(line_query).scalar_one()
    if line.status != ReservationStatus.CONFIRMED:
        raise Conflict(_("Seule une inscription confirmée peut être déplacée."), code="not_confirmed")
    if line.week_id != current_week:  # moved by someone else between the two reads
        raise Busy(BUSY_MESSAGE, code="busy")
    old_week, new_week = weeks[current_week], weeks.get(new_week_id)
    if new_week is None:
        raise NotFound(_("Cette semaine n'existe pas."), code="not_found")
    if new_week.period_id != old_week.period_id:
        raise ValidationFailed(_("On ne peut déplacer un enfant que vers une semaine de la même période."),
                               code="other_period", field="week_id")

    mode, stop_id = target if target is not None else (line.transport_mode, line.stop_id)
    stop = circuit = None
    if mode == TransportMode.BUS:
        row = db.session.execute(
            select(Stop, Circuit).join(Circuit, Circuit.id == Stop.circuit_id).where(Stop.id == stop_id)).first()
        if row is None or row[1].period_id != new_week.period_id:
            raise ValidationFailed(_("Cet arrêt ne dessert pas cette période : choisissez un arrêt dans la liste."),
                                   code="invalid_stop", field="transport")
        stop, circuit = row
    new_circuit_id = circuit.id if circuit else None
    if new_week.id == line.week_id and mode == line.transport_mode and (stop.id if stop else None) == line.stop_id:
        raise ValidationFailed(_("Rien ne change : choisissez une autre semaine ou un autre transport."),
                               code="nothing_to_move")

    if new_week.id != line.week_id:
        basket._expire_lapsed_lines(line.child_id, new_week.id, now)  # a lapsed hold must not block the move
        other = db.session.execute(
            select(Reservation.id).where(Reservation.child_id == line.child_id, Reservation.week_id == new_week.id,
                                         Reservation.id != line.id, live_condition(now)).limit(1)
        ).first()
        if other is not None:
            raise Conflict(_("Cet enfant est déjà inscrit pour cette semaine (ou elle est dans un panier en cours)."),
                           code="already_booked")
    # A place in the new week when the week changes, a seat when the circuit × week changes; the
    # capacity primitive counts both at once, under the week locks taken above.
    week_changes = new_week.id != line.week_id
    new_seat = circuit.id if circuit is not None and (circuit.id, new_week.id) != (line.circuit_id, line.week_id) \
        else None
    if week_changes or new_seat is not None:
        take_places([Demand(new_week.id, new_seat, seat_only=not week_changes)], now=now, lock=False,
                    exclude_reservation_ids=[line.id])

    before = {"week_id": line.week_id, "transport_mode": line.transport_mode, "circuit_id": line.circuit_id,
              "stop_id": line.stop_id}
    line.week_id = new_week.id
    line.transport_mode = mode
    line.circuit_id = new_circuit_id
    line.stop_id = stop.id if stop else None
    db.session.flush()
    offer_freed_places([old_week.id, new_week.id], now)  # a place or seat left behind goes to the waiting list
    audit.record("reservation.moved", "reservation", line.id, actor=actor, household_id=line.household_id,
                 before=before, after={"week_id": line.week_id, "transport_mode": line.transport_mode,
                                       "circuit_id": line.circuit_id, "stop_id": line.stop_id,
                                       "price_cents": line.price_cents, "bus_price_cents": line.bus_price_cents})
    _mail_moved(line, old_week, new_week, stop, circuit)
    return line


def _mail_moved(line: Reservation, old_week: Week, new_week: Week, stop: Stop | None, circuit: Circuit | None):
    household = db.session.get(Household, line.household_id)
    to = household.email or (household.owner.email if household.owner else None)
    if not to:
        log.warning("reservation %s moved: household %s has no e-mail address", line.id, household.id)
        return
    from app.services.mail import queue_mail

    child = line.child
    queue_mail("reservation_moved", to, _("Changement d'inscription — %(child)s", child=child.full_name),
               "reservation_moved", household_id=household.id, household_name=household.name,
               child=child.full_name, old_week=old_week.label, new_week=new_week.label,
               new_starts_on=new_week.starts_on, new_ends_on=new_week.ends_on,
               establishment=new_week.period.establishment.name,
               bus=circuit is not None, circuit=circuit.name if circuit else None,
               stop=stop.name if stop else None,
               pickup_time=stop.pickup_time.strftime("%H:%M") if stop else None,
               dropoff_time=stop.dropoff_time.strftime("%H:%M") if stop else None)


# --- cancel --------------------------------------------------------------------------------

def cancel_reservation(reservation_id: int, *, reason: str, refund: bool = False, outcome: str | None = None,
                       actor) -> Reservation:
    """Staff cancel a confirmed week with a reason and an outcome (refund, credit or none): the
    payments service owns the rule (place released, credit note or refund, mail, audit)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Indiquez le motif de l'annulation."), code="reason_required", field="reason")
    if len(reason) > 1000:
        raise ValidationFailed(_("Le motif est trop long (1000 caractères au plus)."), code="reason_too_long",
                               field="reason")
    from app.services.payments import cancel_reservation as cancel

    return cancel(reservation_id, reason=reason, refund=refund, outcome=outcome, actor=actor)


def validated_link(links: list[HouseholdChild]) -> list[HouseholdChild]:
    return [link for link in links if link.status == LinkStatus.VALIDATED]
