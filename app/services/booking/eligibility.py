"""Who may book what, and why not (DESIGN.md §3.5).

One rule, two entry points: `offers()` answers for every establishment → period → week a parent
can see (the booking pages and the API), and `check_week()` answers for the one week being added
to a basket (`basket.add_line`, inside its locked transaction). Both call `week_reason()`, so the
page can never promise a week that the basket then refuses for another reason, and vice versa.

The parent is told *why* a week is not bookable (the old portal simply hid it, FAQ 2 and 4): every
"no" carries a stable code for programs and a French message for people. A booking by the child's
other household is reported as `already_booked` without saying which household made it (§3.6).

Whether a week or a bus is full is the capacity primitive's answer (`capacity.availability`), with its
message: this module only places it in the order of the reasons.

`offers()` runs two queries whatever the catalogue size: the household, the child and the catalogue
version in one; one grouped count of weeks and buses that also reads the child's own live lines;
the catalogue itself is a per-process snapshot, re-read only when its version moved
(catalogue_snapshot.py).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Sequence

from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import selectinload

from app.models import (
    AllocationRun,
    Basket,
    BasketStatus,
    Child,
    Circuit,
    Establishment,
    Household,
    HouseholdChild,
    LinkStatus,
    Period,
    QuotientRecord,
    Reservation,
    ReservationStatus,
    Week,
    db,
    utcnow,
)
from app.services.booking import catalogue_snapshot
from app.services.booking.capacity import (
    WEEK_FULL,
    Demand,
    Shortage,
    availability,
    availability_and_own_lines,
    live_condition,
)
from app.services.errors import NotFound
from app.services.household import quotients
from app.services.localize import PARIS, paris_today

_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
           "octobre", "novembre", "décembre"]
_DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]

HOUSEHOLD_NOT_VALIDATED = "household_not_validated"
CHILD_NOT_VALIDATED = "child_not_validated"
AGE = "age"
NOT_OPEN_YET = "not_open_yet"
CLOSED = "closed"
FULL = "full"
ALREADY_BOOKED = "already_booked"
ALREADY_IN_BASKET = "already_in_basket"
WISHES_PERIOD = "wishes_period"
REASON_CODES = (HOUSEHOLD_NOT_VALIDATED, CHILD_NOT_VALIDATED, AGE, NOT_OPEN_YET, CLOSED, FULL,
                ALREADY_BOOKED, ALREADY_IN_BASKET, WISHES_PERIOD)

# When no period of an establishment is bookable, the establishment shows the reason that helps
# the parent most: "opens on …" before "full", before "closed", before the age range.
_ESTABLISHMENT_PRIORITY = (HOUSEHOLD_NOT_VALIDATED, CHILD_NOT_VALIDATED, WISHES_PERIOD, NOT_OPEN_YET, ALREADY_IN_BASKET,
                           ALREADY_BOOKED, FULL, CLOSED, AGE)
# When no week of an open period is bookable: what stops a new booking comes first.
_PERIOD_PRIORITY = (FULL, ALREADY_BOOKED, ALREADY_IN_BASKET)


# --- formatting (services do not import views) -----------------------------------------------

def paris_datetime(value: datetime) -> str:
    """'lundi 2 février 2026 à 08:00', in Paris time."""
    local = value.astimezone(PARIS)
    return f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year} à {local:%H:%M}"


def age_on(birth_date: date, day: date) -> int:
    """Full years on `day` (a birthday on `day` counts)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


# --- the rule ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            data["details"] = self.details
        return data


@dataclass(frozen=True)
class ChildLine:
    """A live reservation of the child for a week, whichever household made it."""

    status: str
    household_id: int


def household_reason(household: Household) -> Reason | None:
    """What blocks every booking of this household (its file not validated), or None."""
    if household.is_validated:
        return None
    if household.status == "incomplete":
        message = _("Votre dossier famille est incomplet : complétez-le pour que le Pôle Jeunesse le valide, "
                    "les inscriptions seront alors possibles.")
    else:
        message = _("Votre dossier famille n'est pas encore validé par le Pôle Jeunesse : les inscriptions "
                    "seront possibles dès sa validation.")
    return Reason(HOUSEHOLD_NOT_VALIDATED, message)


def _child_reason(link: HouseholdChild, child: Child) -> Reason | None:
    if link.status == LinkStatus.VALIDATED:
        return None
    if link.status == LinkStatus.REFUSED:
        return Reason(CHILD_NOT_VALIDATED,
                      _("Le rattachement de %(name)s à votre dossier a été refusé par le Pôle Jeunesse : "
                        "contactez-le pour en connaître la raison.", name=child.first_name))
    return Reason(CHILD_NOT_VALIDATED,
                  _("Le rattachement de %(name)s à votre dossier n'est pas encore validé par le Pôle Jeunesse.",
                    name=child.first_name))


def person_reason(household: Household, link: HouseholdChild, child: Child) -> Reason | None:
    """What blocks every booking for this child in this household, whatever the week."""
    return household_reason(household) or _child_reason(link, child)


def period_reason(household: Household, link: HouseholdChild, child: Child, period: Period,
                  establishment: Establishment, now: datetime, *, desk: bool = False) -> Reason | None:
    """What blocks every week of `period`: the file, the age at the period's first day, the window.
    `desk=True` (staff booking at the desk) skips the registration window only."""
    reason = person_reason(household, link, child)
    if reason:
        return reason
    age = age_on(child.birth_date, period.starts_on)
    if not establishment.age_min <= age <= establishment.age_max:
        return Reason(AGE, _("Réservé aux enfants de %(min)s à %(max)s ans (âge au premier jour de la période, "
                             "le %(day)s) : %(name)s aura %(age)s ans.",
                             min=establishment.age_min, max=establishment.age_max,
                             day=f"{period.starts_on.day} {_MONTHS[period.starts_on.month - 1]} "
                                 f"{period.starts_on.year}",
                             name=child.first_name, age=age),
                      {"age_min": establishment.age_min, "age_max": establishment.age_max, "child_age": age})
    if desk:
        return None
    if period.opening_mode == "wishes":
        reason = wishes_reason(period, now)
        if reason:
            return reason
    if now < period.opens_at:
        return Reason(NOT_OPEN_YET, _("Les inscriptions ouvrent le %(when)s.", when=paris_datetime(period.opens_at)),
                      {"opens_at": period.opens_at.isoformat()})
    if now >= period.closes_at:
        return Reason(CLOSED, _("Les inscriptions sont closes depuis le %(when)s.",
                                when=paris_datetime(period.closes_at)),
                      {"closes_at": period.closes_at.isoformat()})
    return None


def wishes_reason(period: Period, now: datetime) -> Reason | None:
    """A period opened by wishes takes no ordinary booking until its allocation is published (no race:
    the places go by the published rules); after that, its leftover places follow the booking window."""
    published = db.session.execute(
        select(AllocationRun.id).where(AllocationRun.period_id == period.id).limit(1)).first()
    if published is not None:
        return None
    details = {name: value.isoformat() for name, value in (
        ("wishes_open_at", period.wishes_open_at), ("wishes_close_at", period.wishes_close_at),
        ("results_at", period.results_at)) if value is not None}
    results = (_(" Résultats le %(when)s.", when=paris_datetime(period.results_at)) if period.results_at else "")
    if period.wishes_close_at is not None and now >= period.wishes_close_at:
        message = _("Les vœux sont clos et l'attribution n'est pas encore publiée.") + results
    elif period.wishes_open_at is not None and now >= period.wishes_open_at and period.wishes_close_at is not None:
        message = _("Inscriptions sur vœux, sans course : classez les semaines souhaitées jusqu'au %(when)s. "
                    "L'heure de dépôt ne compte pas.", when=paris_datetime(period.wishes_close_at)) + results
    elif period.wishes_open_at is not None:
        message = _("Inscriptions sur vœux : les vœux s'ouvrent le %(when)s. L'heure de dépôt ne comptera pas.",
                    when=paris_datetime(period.wishes_open_at)) + results
    else:
        message = _("Inscriptions sur vœux : les dates seront annoncées.")
    return Reason(WISHES_PERIOD, message, details)


def week_reason(period_gate: Reason | None, week: Week, full: Shortage | None, child_line: ChildLine | None,
                household_id: int, today: date, *, desk: bool = False) -> Reason | None:
    """The whole rule for one week, given what the caller counted (the same code for the offer list
    and for add_line). `full` = the capacity primitive's shortage for the week, if any; `today` in Paris."""
    if period_gate:
        return period_gate
    if not desk and week.starts_on <= today:
        return Reason(CLOSED, _("Cette semaine a déjà commencé : pour une inscription de dernière minute, "
                                "contactez le Pôle Jeunesse."), {"week_started": True})
    if child_line is not None:
        if child_line.status == ReservationStatus.HELD and child_line.household_id == household_id:
            return Reason(ALREADY_IN_BASKET, _("Cette semaine est déjà dans votre panier."))
        if child_line.household_id != household_id:
            # Booked by the child's other household: say so (« Mes inscriptions » is empty here), never
            # which household or anything about it (§3.6).
            return Reason(ALREADY_BOOKED, _("Votre enfant est déjà inscrit pour cette semaine par l'autre foyer "
                                            "auquel il est rattaché."), {"other_household": True})
        return Reason(ALREADY_BOOKED, _("Votre enfant est déjà inscrit pour cette semaine."))
    if full is not None:
        return full_reason(full)
    return None


def full_reason(shortage: Shortage) -> Reason:
    """A full week or bus as a reason: the primitive's message, the bucket in the details for a bus."""
    return Reason(FULL, shortage.message, dict(shortage.details))


def child_lines(child_id: int, week_ids: list[int], now: datetime) -> dict[int, ChildLine]:
    """The child's live reservations on these weeks, by week (any household)."""
    if not week_ids:
        return {}
    rows = db.session.execute(
        select(Reservation.week_id, Reservation.status, Reservation.household_id)
        .where(Reservation.child_id == child_id, Reservation.week_id.in_(week_ids), live_condition(now))
    ).all()
    return {week_id: ChildLine(status, household_id) for week_id, status, household_id in rows}


def load_person(household_id: int, child_id: int, *, for_update: bool = False
                ) -> tuple[Household, HouseholdChild, Child]:
    """The household, the child's link to it and the child, in one query; NotFound when the child is
    not linked to this household (whatever its other households)."""
    query = _person_query(household_id, child_id)
    if for_update:
        query = query.with_for_update(of=Household)
    row = db.session.execute(query).first()
    if row is None:
        raise _not_linked()
    return row[0], row[1], row[2]


def _not_linked() -> NotFound:
    return NotFound(_("Cet enfant n'est pas rattaché à votre dossier."), code="not_found")


def _check_child_id(child_id) -> None:
    """An id no child can have is simply not linked (and never reaches the database)."""
    if isinstance(child_id, bool) or not isinstance(child_id, int) or not 0 < child_id < 2**31:
        raise _not_linked()


def _person_query(household_id: int, child_id: int, *columns):
    _check_child_id(child_id)
    return _person_select(household_id, child_id, *columns)


def _person_select(household_id, child_id, *columns):
    """The household, the child's link and the child (then `columns`): ids as values or bound parameters."""
    return (select(Household, HouseholdChild, Child, *columns)
            .join(HouseholdChild, HouseholdChild.household_id == Household.id)
            .join(Child, Child.id == HouseholdChild.child_id)
            .where(Household.id == household_id, HouseholdChild.child_id == child_id))


def load_person_and_catalogue_version(household_id: int, child_id: int
                                       ) -> tuple[Household, HouseholdChild, Child, int]:
    """load_person with the catalogue version in the same statement (the offers' one extra read)."""
    row = db.session.execute(_person_query(household_id, child_id, catalogue_snapshot.version_column())).first()
    if row is None:
        raise _not_linked()
    return row[0], row[1], row[2], row[3] or 0


def load_person_for_hold(household_id: int, child_id: int
                         ) -> tuple[Household, HouseholdChild, Child, int, str | None]:
    """What a hold reads before its locks, in ONE statement: the person (load_person), the catalogue
    version, the status of the household's active basket, and the household's QF records (kept for
    this transaction's pricing: quotients.remember_records)."""
    _check_child_id(child_id)
    rows = db.session.execute(_hold_person_statement(), {"household_id": household_id, "child_id": child_id}).all()
    if not rows:
        raise _not_linked()
    household, link, child, version, status, _record = rows[0]
    quotients.remember_records(household_id, [row[5] for row in rows if row[5] is not None])
    return household, link, child, version or 0, status


@functools.cache
def _hold_person_statement():
    """Built once (building it costs as much Python as running it); ids are bound at each call."""
    basket_status = select(Basket.status).where(Basket.household_id == Household.id,
                                                Basket.status.in_(BasketStatus.ACTIVE)).scalar_subquery()
    return (_person_select(bindparam("household_id"), bindparam("child_id"), catalogue_snapshot.version_column(),
                           basket_status, QuotientRecord)
            .outerjoin(QuotientRecord, QuotientRecord.household_id == Household.id)
            .order_by(*quotients.newest_first()))


def check_week(household: Household, link: HouseholdChild, child: Child, week: Week, period: Period,
               establishment: Establishment, now: datetime, *, desk: bool = False,
               circuit: Circuit | None = None) -> Reason | None:
    """The single-week variant used by add_line, inside its transaction (after the week lock): the
    week's reasons first, then, with `circuit`, a full bus. Weeks and buses are counted at once."""
    gate = period_reason(household, link, child, period, establishment, now, desk=desk)
    if gate:
        return gate
    shortages = availability([week.id], now).shortages(
        [Demand(week.id, circuit.id if circuit is not None else None)], {week.id: week})
    week_full = next((s for s in shortages if s.code == WEEK_FULL), None)
    line = child_lines(child.id, [week.id], now).get(week.id)
    reason = week_reason(None, week, week_full, line, household.id, paris_today(now), desk=desk)
    if reason is None and shortages:
        reason = full_reason(shortages[0])  # the bus
    return reason


# --- the offer list ------------------------------------------------------------------------

@dataclass
class WeekOffer:
    week: Week
    places_left: int
    reason: Reason | None

    @property
    def available(self) -> bool:
        return self.reason is None

    def as_dict(self) -> dict:
        return {"id": self.week.id, "label": self.week.label, "starts_on": self.week.starts_on.isoformat(),
                "ends_on": self.week.ends_on.isoformat(), "capacity": self.week.capacity,
                "places_left": self.places_left, "available": self.available,
                "reason": self.reason.as_dict() if self.reason else None}


@dataclass
class CircuitOption:
    circuit: Circuit
    seats_left: dict[int, int]  # week id -> seats left

    def as_dict(self) -> dict:
        return {
            "id": self.circuit.id, "name": self.circuit.name, "seats": self.circuit.seats,
            "stops": [{"id": s.id, "name": s.name, "position": s.position,
                       "pickup_time": s.pickup_time.strftime("%H:%M"), "dropoff_time": s.dropoff_time.strftime("%H:%M")}
                      for s in self.circuit.stops],
            "seats_left": [{"week_id": week_id, "seats_left": left} for week_id, left in self.seats_left.items()],
        }


@dataclass
class PeriodOffer:
    period: Period
    weeks: list[WeekOffer]
    circuits: list[CircuitOption]
    reason: Reason | None

    @property
    def available(self) -> bool:
        return self.reason is None

    def week(self, week_id: int) -> WeekOffer | None:
        return next((w for w in self.weeks if w.week.id == week_id), None)

    def as_dict(self) -> dict:
        p = self.period
        return {"id": p.id, "name": p.name, "starts_on": p.starts_on.isoformat(), "ends_on": p.ends_on.isoformat(),
                "opens_at": p.opens_at.isoformat(), "closes_at": p.closes_at.isoformat(),
                "stop_change_deadline": p.stop_change_deadline.isoformat() if p.stop_change_deadline else None,
                "bus_price_cents": p.bus_price_cents,
                "available": self.available, "reason": self.reason.as_dict() if self.reason else None,
                "weeks": [w.as_dict() for w in self.weeks],
                "transport": {"onsite": True, "circuits": [c.as_dict() for c in self.circuits]}}


@dataclass
class EstablishmentOffer:
    establishment: Establishment
    periods: list[PeriodOffer]
    reason: Reason | None

    @property
    def available(self) -> bool:
        return self.reason is None

    def as_dict(self) -> dict:
        e = self.establishment
        return {"id": e.id, "name": e.name, "kind": e.kind, "commune": e.commune, "age_min": e.age_min,
                "age_max": e.age_max, "available": self.available,
                "reason": self.reason.as_dict() if self.reason else None,
                "periods": [p.as_dict() for p in self.periods]}


@dataclass
class ChildOffers:
    household: Household
    link: HouseholdChild
    child: Child
    reason: Reason | None  # what blocks every booking (file or child link not validated)
    establishments: list[EstablishmentOffer]

    @property
    def open(self) -> list[EstablishmentOffer]:
        return [e for e in self.establishments if e.available]

    @property
    def not_open(self) -> list[EstablishmentOffer]:
        return [e for e in self.establishments if not e.available]

    def establishment(self, establishment_id: int) -> EstablishmentOffer | None:
        return next((e for e in self.establishments if e.establishment.id == establishment_id), None)

    def period(self, period_id: int) -> tuple[EstablishmentOffer, PeriodOffer] | None:
        for e in self.establishments:
            for p in e.periods:
                if p.period.id == period_id:
                    return e, p
        return None

    def as_dict(self) -> dict:
        c = self.child
        return {"child": {"id": c.id, "first_name": c.first_name, "last_name": c.last_name,
                          "birth_date": c.birth_date.isoformat(), "link_status": self.link.status},
                "reason": self.reason.as_dict() if self.reason else None,
                "establishments": [e.as_dict() for e in self.establishments]}


def _pick(reasons: list[Reason], priority: tuple[str, ...]) -> Reason:
    codes = {r.code for r in reasons}
    if len(codes) == 1:
        return reasons[0]
    for code in priority:
        for reason in reasons:
            if reason.code == code:
                return reason
    return reasons[0]


def offers(household_id: int, child_id: int, now: datetime | None = None, *, cached: bool = True) -> ChildOffers:
    """Every active establishment with its current and coming periods and their weeks, each with
    places left and either available or the reason why not. NotFound when the child is not
    linked to this household.

    The catalogue comes from the per-process snapshot (app/services/booking/catalogue_snapshot.py),
    valid for exactly as long as the catalogue version read with the household and the child;
    places left and the child's own lines are counted live. `cached=False` reads the catalogue as
    ORM rows instead (the reference the snapshot is tested against)."""
    now = now or utcnow()
    today = paris_today(now)
    household, link, child, version = load_person_and_catalogue_version(household_id, child_id)
    establishments: Sequence[Any]
    periods: Sequence[Any]
    if cached:
        catalogue = catalogue_snapshot.catalogue_at(version)
        establishments = catalogue.establishments
        periods = [p for p in catalogue.periods if p.ends_on >= today]
    else:
        establishments = db.session.execute(
            select(Establishment).where(Establishment.active.is_(True)).order_by(Establishment.name)
        ).scalars().all()
        periods = db.session.execute(
            select(Period)
            .where(Period.establishment_id.in_([e.id for e in establishments]), Period.ends_on >= today)
            .options(selectinload(Period.weeks), selectinload(Period.circuits).selectinload(Circuit.stops))
            .order_by(Period.starts_on, Period.id)
        ).scalars().all() if establishments else []
    week_ids = [w.id for p in periods for w in p.weeks]
    left, own_lines = availability_and_own_lines(week_ids, now, child.id)
    lines = {week_id: ChildLine(status, line_household) for week_id, (status, line_household) in own_lines.items()}

    blocking = person_reason(household, link, child)
    by_establishment: dict[int, list[PeriodOffer]] = {e.id: [] for e in establishments}
    establishments_by_id = {e.id: e for e in establishments}
    for period in periods:
        establishment = establishments_by_id[period.establishment_id]
        gate = period_reason(household, link, child, period, establishment, now)
        weeks = [WeekOffer(week, left.places_left(week),
                           week_reason(gate, week, left.week_full(week), lines.get(week.id), household.id, today))
                 for week in period.weeks]
        circuits = [CircuitOption(circuit, {w.id: left.seats_left(circuit, w.id) for w in period.weeks})
                    for circuit in period.circuits]
        if gate:
            reason = gate
        elif not weeks:
            reason = Reason(CLOSED, _("Aucune semaine n'est proposée pour cette période."))
        elif any(w.available for w in weeks):
            reason = None
        else:
            reason = _pick([w.reason for w in weeks if w.reason], _PERIOD_PRIORITY)
            if reason.code == FULL:
                reason = Reason(FULL, _("Toutes les semaines de cette période sont complètes."))
        by_establishment[establishment.id].append(PeriodOffer(period, weeks, circuits, reason))

    result = []
    for establishment in establishments:
        period_offers = by_establishment[establishment.id]
        if any(p.available for p in period_offers):
            reason = None
        elif period_offers:
            reason = _pick([p.reason for p in period_offers if p.reason], _ESTABLISHMENT_PRIORITY)
        else:
            reason = blocking or Reason(CLOSED, _("Aucune période d'inscription en cours ou à venir."))
        result.append(EstablishmentOffer(establishment, period_offers, reason))
    return ChildOffers(household, link, child, blocking, result)


def household_children(household_id: int) -> list[tuple[HouseholdChild, Child]]:
    """The household's children with their link (validation status), by first name."""
    rows = db.session.execute(
        select(HouseholdChild, Child).join(Child, Child.id == HouseholdChild.child_id)
        .where(HouseholdChild.household_id == household_id).order_by(Child.first_name, Child.id)
    ).all()
    return [(link, child) for link, child in rows]
