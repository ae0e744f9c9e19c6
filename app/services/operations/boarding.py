"""Bus boarding per circuit × stop × day, morning and evening: who boards, who gets off.

The parents' guide warns that a child who is not on a stop's list is refused at the bus door; the
driver's phone now says so itself: a child booked at another stop (or on no bus at all) shows
« non inscrit à cet arrêt », with the stop where they are booked, and a tick for them is refused
with that reason (code `not_on_stop`), page and API alike. The list is the confirmed reservations
of the week covering the day (rosters.bus_lists), stops in route order with their times.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Boarding, BoardingLeg, Circuit, Stop, Week, db
from app.models.types import utcnow
from app.services import audit
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.operations.attendance import (
    APPLIED,
    DUPLICATE,
    STALE,
    TICK_DUPLICATES,
    TickResult,
    actor_of,
    check_circuit,
    client_id_of,
    parse_tick_time,
    record_tick,
    tick_known,
)
from app.services.operations.rosters import bus_lists
from app.services.transactions import unit_of_work

LEG_LABELS = {BoardingLeg.MORNING: "Matin (aller)", BoardingLeg.EVENING: "Soir (retour)"}


@dataclass
class BoardingChild:
    child_id: int
    first_name: str
    last_name: str
    age: int
    allergies: str
    pai: bool
    guardian_phone: str
    boarded: bool = False
    got_off: bool = False


@dataclass
class StopSheet:
    stop_id: int
    name: str
    position: int
    time: time  # the pick-up time in the morning, the drop-off time in the evening
    children: list[BoardingChild] = field(default_factory=list)


@dataclass
class BoardingSheet:
    circuit_id: int
    circuit_name: str
    establishment_name: str
    day: date
    leg: str
    stops: list[StopSheet]

    @property
    def leg_label(self) -> str:
        return LEG_LABELS[self.leg]

    def stop(self, stop_id: int) -> StopSheet:
        for stop in self.stops:
            if stop.stop_id == stop_id:
                return stop
        raise NotFound(_("Cet arrêt n'est pas sur ce circuit."), code="not_found")

    def others(self, stop_id: int) -> list[tuple[BoardingChild, StopSheet]]:
        """The circuit's children booked at another stop: shown « non inscrit à cet arrêt »."""
        return [(child, stop) for stop in self.stops if stop.stop_id != stop_id for child in stop.children]


def _check_leg(leg: str) -> None:
    if leg not in BoardingLeg.ALL:
        raise ValidationFailed(_("Choisissez le trajet du matin ou du soir."), code="invalid_leg")


def _week_ids(circuit: Circuit, day: date) -> list[int]:
    return list(db.session.execute(select(Week.id).where(
        Week.period_id == circuit.period_id, Week.starts_on <= day, Week.ends_on >= day)).scalars())


def boarding_sheet(circuit_id: int, day: date, leg: str, *, user_id: int | None = None,
                   today: date | None = None) -> BoardingSheet:
    """The driver's list: every stop in route order with its time and its booked children."""
    _check_leg(leg)
    check_circuit(user_id, circuit_id, day, today)
    circuit = db.session.get(Circuit, circuit_id)
    if circuit is None:
        raise NotFound(_("Ce circuit n'existe pas."), code="not_found")
    week_ids = _week_ids(circuit, day)
    lists = bus_lists(week_ids, circuit_id=circuit_id) if week_ids else []
    states = {(b.child_id, b.stop_id): b for b in db.session.execute(select(Boarding).where(
        Boarding.circuit_id == circuit_id, Boarding.day == day, Boarding.leg == leg)).scalars()}
    if lists:
        stops = [StopSheet(s.stop_id, s.name, s.position, s.pickup_time if leg == BoardingLeg.MORNING
                           else s.dropoff_time,
                           [_child(c, states.get((c.child_id, s.stop_id))) for c in s.children])
                 for s in lists[0].stops]
    else:
        stops = [StopSheet(s.id, s.name, s.position, s.pickup_time if leg == BoardingLeg.MORNING else s.dropoff_time)
                 for s in circuit.stops]
    if leg == BoardingLeg.EVENING:  # the evening run serves the stops the other way round
        stops.reverse()
    return BoardingSheet(circuit.id, circuit.name, circuit.period.establishment.name, day, leg, stops)


def _child(c, state: Boarding | None) -> BoardingChild:
    return BoardingChild(c.child_id, c.first_name, c.last_name, c.age, c.allergies, c.pai, c.guardian_phone,
                         boarded=bool(state and state.boarded), got_off=bool(state and state.got_off))


def not_on_stop(sheet: BoardingSheet, child_id: int, stop_id: int) -> Conflict:
    booked = next((s for s in sheet.stops for c in s.children if c.child_id == child_id), None)
    if booked is None:
        return Conflict(_("Non inscrit à cet arrêt, ni sur ce circuit ce jour-là."), code="not_on_stop")
    return Conflict(_("Non inscrit à cet arrêt : inscrit à l'arrêt « %(stop)s » (%(time)s).",
                      stop=booked.name, time=booked.time.strftime("%H:%M")),
                    code="not_on_stop", booked_stop_id=booked.stop_id, booked_stop=booked.name)


def apply_boarding_tick(tick: dict, *, user_id: int | None, today: date | None = None) -> TickResult:
    client_id = client_id_of(tick)
    try:
        with unit_of_work(TICK_DUPLICATES):
            if tick_known(client_id):
                return TickResult(client_id, DUPLICATE)
            outcome = _boarding_tick(client_id, tick, user_id, today)
        return TickResult(client_id, outcome)
    except Conflict as exc:
        if exc.code == "duplicate_tick":
            return TickResult(client_id, DUPLICATE)
        if exc.code == "tick_race":
            return apply_boarding_tick(tick, user_id=user_id, today=today)
        raise


def _boarding_tick(client_id: str, tick: dict, user_id: int | None, today: date | None) -> str:
    try:
        circuit_id, stop_id, child_id = int(tick["circuit_id"]), int(tick["stop_id"]), int(tick["child_id"])
        day = tick["day"] if isinstance(tick["day"], date) else date.fromisoformat(str(tick["day"]))
        leg = str(tick["leg"])
    except (KeyError, TypeError, ValueError):
        raise ValidationFailed(_("Pointage incomplet : circuit, arrêt, enfant, jour et trajet attendus."),
                               code="invalid") from None
    ticked_at: datetime = parse_tick_time(tick.get("ticked_at") or utcnow())
    sheet = boarding_sheet(circuit_id, day, leg, user_id=user_id, today=today)
    stop = sheet.stop(stop_id)
    if not any(c.child_id == child_id for c in stop.children):
        raise not_on_stop(sheet, child_id, stop_id)
    record_tick(client_id, "boarding", user_id, ticked_at, dict(tick))
    row = db.session.execute(select(Boarding).where(
        Boarding.circuit_id == circuit_id, Boarding.child_id == child_id, Boarding.day == day,
        Boarding.leg == leg)).scalar_one_or_none()
    if row is not None and row.last_tick_at is not None and row.last_tick_at > ticked_at:
        return STALE
    values = {"boarded": bool(tick.get("boarded")), "got_off": bool(tick.get("got_off")),
              "last_tick_at": ticked_at, "updated_by_id": user_id, "stop_id": stop_id}
    if row is None:
        row = Boarding(circuit_id=circuit_id, child_id=child_id, day=day, leg=leg, **values)
        db.session.add(row)
        db.session.flush()
        before, after = None, {"boarded": values["boarded"], "got_off": values["got_off"], "leg": leg}
    else:
        before, after = audit.apply_changes(row, values)
        before.pop("last_tick_at", None), after.pop("last_tick_at", None)
    audit.record("boarding.ticked", "boarding", row.id, actor=actor_of(user_id), before=before, after=after)
    return APPLIED


def stop_of(stop_id: int) -> Stop:
    stop = db.session.get(Stop, stop_id)
    if stop is None:
        raise NotFound(_("Cet arrêt n'existe pas."), code="not_found")
    return stop
