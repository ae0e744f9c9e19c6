"""The lists staff print every morning: rosters per establishment × week, bus lists per circuit ×
stop × week, on-site lists.

Only confirmed reservations appear on a list: an expired hold, a line removed from a basket or a
cancelled week must never put a child on a bus list (the driver refuses a child who is not on it,
and a child who is on it but absent starts a search). Every function runs a fixed number of SQL
queries whatever the number of rows: the lists are built from a handful of set-based queries
(sub-selects rather than per-child look-ups), so a week of 500 children costs the same as a week
of 10.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, time
from typing import Iterable

from flask_babel import gettext as _
from sqlalchemy import and_, select
from sqlalchemy.orm import joinedload

from app.models import (
    AuthorizedPickup,
    Child,
    Circuit,
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
)
from app.services.errors import NotFound, ValidationFailed
from app.services.household import consents

# --- value objects -------------------------------------------------------------------------

@dataclass
class Contact:
    """A guardian reachable in an emergency."""

    name: str
    relationship: str
    phone: str
    household_name: str


@dataclass
class Pickup:
    name: str
    phone: str
    relationship: str
    household_name: str


@dataclass
class ListChild:
    """One child on a list: the child's health sheet, who to call, who may collect, how they come."""

    reservation_id: int
    child_id: int
    first_name: str
    last_name: str
    birth_date: date
    age: int
    allergies: str
    diet: str
    pai: bool
    pai_details: str
    medical_notes: str
    transport_mode: str
    circuit_name: str = ""
    stop_id: int | None = None
    stop_name: str = ""
    pickup_time: time | None = None
    dropoff_time: time | None = None
    household_id: int = 0
    household_name: str = ""
    contacts: list[Contact] = field(default_factory=list)
    pickups: list[Pickup] = field(default_factory=list)
    # Authorisations (issue 19): (question, granted, shown on bus lists), latest answer per question.
    consents: list[tuple[str, bool, bool]] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.last_name.upper()} {self.first_name}"

    @property
    def transport_label(self) -> str:
        if self.transport_mode == TransportMode.BUS:
            return f"Bus {self.circuit_name} — {self.stop_name}"
        return "Sur place"

    @property
    def guardian_phone(self) -> str:
        """The first phone of the booking household's guardians, else any guardian's."""
        for contact in self.contacts:
            if contact.household_name == self.household_name and contact.phone:
                return contact.phone
        return next((c.phone for c in self.contacts if c.phone), "")

    @property
    def guardian_name(self) -> str:
        for contact in self.contacts:
            if contact.household_name == self.household_name and contact.phone:
                return contact.name
        return next((c.name for c in self.contacts if c.phone), "")


@dataclass
class Roster:
    """The list of one establishment × week (all children, or the on-site ones only)."""

    establishment_id: int
    establishment_name: str
    period_id: int
    period_name: str
    week_id: int
    week_label: str
    week_starts_on: date
    week_ends_on: date
    capacity: int
    children: list[ListChild]
    onsite_only: bool = False

    @property
    def pai_count(self) -> int:
        return sum(1 for c in self.children if c.pai)

    @property
    def allergy_count(self) -> int:
        return sum(1 for c in self.children if c.allergies)


@dataclass
class BusStop:
    stop_id: int
    name: str
    position: int
    pickup_time: time
    dropoff_time: time
    children: list[ListChild]


@dataclass
class BusList:
    """One circuit × week: every stop in route order, the children who board there."""

    circuit_id: int
    circuit_name: str
    seats: int
    establishment_name: str
    period_id: int
    period_name: str
    week_id: int
    week_label: str
    week_starts_on: date
    week_ends_on: date
    stops: list[BusStop]

    @property
    def child_count(self) -> int:
        return sum(len(s.children) for s in self.stops)


# --- helpers -------------------------------------------------------------------------------

def age_on(birth_date: date, day: date) -> int:
    """Full years on `day`."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def _weeks(week_ids: Iterable[int]) -> list[Week]:
    ids = sorted(set(week_ids))
    if not ids:
        return []
    return list(db.session.execute(
        select(Week).where(Week.id.in_(ids))
        .options(joinedload(Week.period).joinedload(Period.establishment))
        .order_by(Week.starts_on, Week.id)
    ).scalars())


def _confirmed(*conditions):
    return and_(Reservation.status == ReservationStatus.CONFIRMED, *conditions)


def _list_children(conditions, week_starts: dict[int, date]) -> dict[int, list[ListChild]]:
    """Confirmed reservations matching `conditions`, as list rows grouped by week id.

    Four queries whatever the number of children: the reservations (child, circuit, stop and
    booking household joined), the child's validated household links, the guardians of those
    households and their authorised pick-up people. The last three select by sub-query on the same
    conditions, never by a list of ids, so their cost does not depend on the number of rows.
    """
    where = _confirmed(*conditions)
    reservations = db.session.execute(
        select(Reservation).where(where)
        .options(joinedload(Reservation.child), joinedload(Reservation.circuit), joinedload(Reservation.stop),
                 joinedload(Reservation.household))
    ).scalars().all()
    if not reservations:
        return {}
    child_ids = select(Reservation.child_id).where(where).scalar_subquery()
    links = db.session.execute(
        select(HouseholdChild.id, HouseholdChild.child_id, HouseholdChild.household_id, Household.name)
        .join(Household, Household.id == HouseholdChild.household_id)
        .where(HouseholdChild.child_id.in_(child_ids), HouseholdChild.status == LinkStatus.VALIDATED)
        .order_by(HouseholdChild.id)
    ).all()
    household_ids = select(HouseholdChild.household_id).where(
        HouseholdChild.child_id.in_(child_ids), HouseholdChild.status == LinkStatus.VALIDATED).scalar_subquery()
    guardians = db.session.execute(
        select(Guardian).where(Guardian.household_id.in_(household_ids)).order_by(Guardian.id)
    ).scalars().all()
    link_ids = select(HouseholdChild.id).where(
        HouseholdChild.child_id.in_(child_ids), HouseholdChild.status == LinkStatus.VALIDATED).scalar_subquery()
    pickups = db.session.execute(
        select(AuthorizedPickup).where(AuthorizedPickup.link_id.in_(link_ids)).order_by(AuthorizedPickup.id)
    ).scalars().all()
    consents_by_child = consents.for_children(child_ids)

    guardians_by_household: dict[int, list[Guardian]] = defaultdict(list)
    for guardian in guardians:
        guardians_by_household[guardian.household_id].append(guardian)
    pickups_by_link: dict[int, list[AuthorizedPickup]] = defaultdict(list)
    for pickup in pickups:
        pickups_by_link[pickup.link_id].append(pickup)
    links_by_child: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    for link_id, child_id, household_id, household_name in links:
        links_by_child[child_id].append((link_id, household_id, household_name))

    by_week: dict[int, dict[int, ListChild]] = defaultdict(dict)
    for r in reservations:
        child: Child = r.child
        if child.id in by_week[r.week_id]:  # a shared child appears once, whatever the households
            continue
        # The booking household first, then the child's other households.
        child_links = sorted(links_by_child.get(child.id, []), key=lambda link: (link[1] != r.household_id, link[0]))
        if not any(hid == r.household_id for _, hid, _ in child_links):
            child_links.insert(0, (0, r.household_id, r.household.name))
        contacts = [
            Contact(name=f"{g.first_name} {g.last_name}", relationship=g.relationship_label or "",
                    phone=g.phone or "", household_name=household_name)
            for _, household_id, household_name in child_links
            for g in guardians_by_household.get(household_id, [])
        ]
        if not any(c.phone for c in contacts) and r.household.phone:
            contacts.append(Contact(name=r.household.name, relationship="", phone=r.household.phone,
                                    household_name=r.household.name))
        pickup_rows = [
            Pickup(name=p.name, phone=p.phone, relationship=p.relationship_label or "",
                   household_name=household_name)
            for link_id, _, household_name in child_links
            for p in pickups_by_link.get(link_id, [])
        ]
        starts_on = week_starts[r.week_id]
        by_week[r.week_id][child.id] = ListChild(
            reservation_id=r.id, child_id=child.id, first_name=child.first_name, last_name=child.last_name,
            birth_date=child.birth_date, age=age_on(child.birth_date, starts_on),
            allergies=(child.allergies or "").strip(), diet=(child.diet or "").strip(), pai=bool(child.pai),
            pai_details=(child.pai_details or "").strip(), medical_notes=(child.medical_notes or "").strip(),
            transport_mode=r.transport_mode,
            circuit_name=r.circuit.name if r.circuit else "", stop_id=r.stop_id,
            stop_name=r.stop.name if r.stop else "",
            pickup_time=r.stop.pickup_time if r.stop else None, dropoff_time=r.stop.dropoff_time if r.stop else None,
            household_id=r.household_id, household_name=r.household.name, contacts=contacts, pickups=pickup_rows,
            consents=consents_by_child.get(child.id, []),
        )
    return {
        week_id: sorted(children.values(), key=lambda c: (c.last_name.lower(), c.first_name.lower(), c.child_id))
        for week_id, children in by_week.items()
    }


def _roster_of(week: Week, children: list[ListChild], onsite_only: bool) -> Roster:
    return Roster(
        establishment_id=week.period.establishment_id, establishment_name=week.period.establishment.name,
        period_id=week.period_id, period_name=week.period.name, week_id=week.id, week_label=week.label,
        week_starts_on=week.starts_on, week_ends_on=week.ends_on, capacity=week.capacity,
        children=children, onsite_only=onsite_only,
    )


def resolve_weeks(*, week_id: int | None = None, period_id: int | None = None,
                  establishment_id: int | None = None, on: date | None = None) -> list[int]:
    """The weeks a list covers: one week, every week of a period, or the weeks that include `on`
    (the lists of the day), optionally of one establishment. One query."""
    query = select(Week.id).join(Period, Period.id == Week.period_id)
    if week_id:
        query = query.where(Week.id == week_id)
    elif period_id:
        query = query.where(Week.period_id == period_id)
    elif on:
        query = query.where(Week.starts_on <= on, Week.ends_on >= on)
    else:
        raise ValidationFailed(_("Choisissez une semaine ou une période."), code="no_week")
    if establishment_id:
        query = query.where(Period.establishment_id == establishment_id)
    ids = list(db.session.execute(query.order_by(Week.starts_on, Week.id)).scalars())
    if not ids:
        raise NotFound(_("Aucune semaine ne correspond à ce choix."), code="not_found")
    return ids


# --- lists ---------------------------------------------------------------------------------

def rosters(week_ids: Iterable[int], *, onsite_only: bool = False) -> list[Roster]:
    """The roster of each week (establishment × week), children sorted by name. Six queries."""
    weeks = _weeks(week_ids)
    if not weeks:
        return []
    conditions = [Reservation.week_id.in_([w.id for w in weeks])]
    if onsite_only:
        conditions.append(Reservation.transport_mode == TransportMode.ONSITE)
    children = _list_children(conditions, {w.id: w.starts_on for w in weeks})
    return [_roster_of(week, children.get(week.id, []), onsite_only) for week in weeks]


def roster(week_id: int) -> Roster:
    result = rosters([week_id])
    if not result:
        raise NotFound(_("Cette semaine n'existe pas."), code="not_found")
    return result[0]


def onsite_lists(week_ids: Iterable[int]) -> list[Roster]:
    """Children the family brings to the establishment (no bus), per establishment × week."""
    return rosters(week_ids, onsite_only=True)


def onsite_list(week_id: int) -> Roster:
    result = onsite_lists([week_id])
    if not result:
        raise NotFound(_("Cette semaine n'existe pas."), code="not_found")
    return result[0]


def bus_lists(week_ids: Iterable[int], *, circuit_id: int | None = None) -> list[BusList]:
    """The bus list of each circuit × week (every circuit of each week's period, or one circuit):
    stops in route order with their times, each child with a guardian's phone. Seven queries."""
    weeks = _weeks(week_ids)
    if not weeks:
        raise NotFound(_("Cette semaine n'existe pas."), code="not_found")
    period_ids = {w.period_id for w in weeks}
    query = select(Circuit).where(Circuit.period_id.in_(period_ids))
    if circuit_id:
        query = query.where(Circuit.id == circuit_id)
    circuits = db.session.execute(query.order_by(Circuit.name, Circuit.id)).scalars().all()
    if circuit_id and not circuits:
        raise NotFound(_("Ce circuit ne dessert pas la période de cette semaine."), code="not_found")
    if not circuits:
        return []
    stops = db.session.execute(
        select(Stop).where(Stop.circuit_id.in_([c.id for c in circuits])).order_by(Stop.circuit_id, Stop.position)
    ).scalars().all()
    conditions = [Reservation.week_id.in_([w.id for w in weeks]), Reservation.transport_mode == TransportMode.BUS]
    if circuit_id:
        conditions.append(Reservation.circuit_id == circuit_id)
    children = _list_children(conditions, {w.id: w.starts_on for w in weeks})
    by_stop: dict[tuple[int, int | None], list[ListChild]] = defaultdict(list)
    for week_id, week_children in children.items():
        for child in week_children:
            by_stop[(week_id, child.stop_id)].append(child)
    stops_by_circuit: dict[int, list[Stop]] = defaultdict(list)
    for stop in stops:
        stops_by_circuit[stop.circuit_id].append(stop)
    return [
        BusList(circuit_id=c.id, circuit_name=c.name, seats=c.seats,
                establishment_name=week.period.establishment.name, period_id=week.period_id,
                period_name=week.period.name, week_id=week.id, week_label=week.label,
                week_starts_on=week.starts_on, week_ends_on=week.ends_on,
                stops=[BusStop(stop_id=stop.id, name=stop.name, position=stop.position, pickup_time=stop.pickup_time,
                               dropoff_time=stop.dropoff_time, children=by_stop.get((week.id, stop.id), []))
                       for stop in stops_by_circuit.get(c.id, [])])
        for week in weeks for c in circuits if c.period_id == week.period_id
    ]


def bus_list(circuit_id: int, week_id: int) -> BusList:
    result = bus_lists([week_id], circuit_id=circuit_id)
    return result[0]
