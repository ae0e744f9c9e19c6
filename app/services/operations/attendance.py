"""Attendance (pointage) per establishment × day, the animators' row scoping, and the hours realised.

Who sees what: an animator (role Animateur) reaches only the establishments and circuits assigned
to them (`AnimatorAssignment`) and only the current week (Monday to Sunday, Paris); another
establishment's id is "not found", as for a parent. What they see is built here, not filtered in a
template: names, age, allergies, PAI yes/no, diet, emergency contacts and authorised pick-up people;
no money, no documents, no address, no medical notes (`SheetChild` has no such field, so neither
the page nor the API can leak one).

Ticks come from phones that may have been offline for hours: each carries an id the phone made up
(`client_id`) and the phone's time. The same id twice is applied once (`AttendanceTick` is unique
on it); two phones ticking the same child converge to the tick with the latest phone time,
whatever the order of arrival. Each tick carries the child's whole state as the phone shows it, so
"latest wins" never merges half of one phone's view with half of another's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import gettext as _
from sqlalchemy import select

from app.models import (
    AbsenceReason,
    AnimatorAssignment,
    Attendance,
    AttendanceStatus,
    AttendanceTick,
    Child,
    Circuit,
    Establishment,
    Period,
    Reservation,
    ReservationStatus,
    Week,
    db,
)
from app.models.types import utcnow
from app.roles import ANIMATOR
from app.services import audit
from app.services.errors import Conflict, NotFound, ServiceError, ValidationFailed
from app.services.localize import PARIS, paris_today
from app.services.operations.open_days import OpenDay, minutes_between, open_day, open_days, week_monday
from app.services.operations.rosters import rosters
from app.services.transactions import unit_of_work

# --- scope -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnimatorScope:
    establishment_ids: frozenset[int]
    circuit_ids: frozenset[int]


def animator_scope(user_id: int) -> AnimatorScope:
    rows = db.session.execute(select(AnimatorAssignment.establishment_id, AnimatorAssignment.circuit_id)
                              .where(AnimatorAssignment.user_id == user_id)).all()
    return AnimatorScope(frozenset(e for e, _c in rows if e), frozenset(c for _e, c in rows if c))


def check_current_week(day: date, today: date | None = None) -> None:
    """Animators work on this week's lists only: last month's are staff's business, next month's
    may still change."""
    monday = week_monday(today or paris_today())
    if not monday <= day <= monday + timedelta(days=6):
        raise NotFound(_("Seules les listes de la semaine en cours sont consultables."), code="outside_week")


def check_establishment(user_id: int | None, establishment_id: int, day: date, today: date | None = None) -> None:
    """`user_id` None is staff (no scoping); an animator must be assigned and stay in this week."""
    if user_id is None:
        return
    if establishment_id not in animator_scope(user_id).establishment_ids:
        raise NotFound(_("Cet établissement ne vous est pas confié."), code="not_found")
    check_current_week(day, today)


def check_circuit(user_id: int | None, circuit_id: int, day: date, today: date | None = None) -> None:
    if user_id is None:
        return
    if circuit_id not in animator_scope(user_id).circuit_ids:
        raise NotFound(_("Ce circuit ne vous est pas confié."), code="not_found")
    check_current_week(day, today)


@dataclass
class Assignments:
    establishments: list[Establishment]
    circuits: list[Circuit]


def assignments(user_id: int) -> Assignments:
    scope = animator_scope(user_id)
    establishments = db.session.execute(select(Establishment).where(
        Establishment.id.in_(scope.establishment_ids)).order_by(Establishment.name)).scalars().all()
    circuits = db.session.execute(select(Circuit).where(Circuit.id.in_(scope.circuit_ids))
                                  .order_by(Circuit.name)).scalars().all()
    return Assignments(list(establishments), list(circuits))


# --- staff: who covers which establishment or circuit ------------------------------------------


@dataclass
class AnimatorRow:
    user_id: int
    name: str
    email: str
    assignments: list[AnimatorAssignment]


def animators() -> list[AnimatorRow]:
    """The users holding the Animateur role, with what is assigned to them (staff's screen)."""
    users = db.session.execute(select(User).join(User.roles).where(Role.name == ANIMATOR)
                               .order_by(User.last_name, User.first_name, User.id)).scalars().unique().all()
    rows = db.session.execute(select(AnimatorAssignment).where(
        AnimatorAssignment.user_id.in_([u.id for u in users])).order_by(AnimatorAssignment.id)).scalars().all()
    by_user: dict[int, list[AnimatorAssignment]] = {}
    for row in rows:
        by_user.setdefault(row.user_id, []).append(row)
    return [AnimatorRow(u.id, f"{u.first_name} {u.last_name}".strip(), u.email or "", by_user.get(u.id, []))
            for u in users]


def _assignment_taken() -> ServiceError:
    return Conflict(_("Cette personne couvre déjà cet établissement ou ce circuit."), code="already_assigned")


def add_assignment(user_id: int, *, establishment_id: int | None = None, circuit_id: int | None = None,
                   actor=None) -> AnimatorAssignment:
    """Staff give an animator an establishment (its attendance) or a circuit (its boarding). Audited."""
    if (establishment_id is None) == (circuit_id is None):
        raise ValidationFailed(_("Choisissez un établissement ou un circuit (l'un des deux)."), code="invalid")
    with unit_of_work({"uq_animator_establishment": _assignment_taken, "uq_animator_circuit": _assignment_taken,
                       "animator_assignment.user_id": _assignment_taken}):
        user = db.session.get(User, user_id)
        if user is None or not any(r.name == ANIMATOR for r in user.roles):
            raise ValidationFailed(_("Cette personne n'a pas le rôle Animateur : donnez-le-lui d'abord dans "
                                     "la gestion des utilisateurs."), code="not_animator")
        if establishment_id is not None and db.session.get(Establishment, establishment_id) is None:
            raise NotFound(_("Cet établissement n'existe pas."), code="not_found")
        if circuit_id is not None and db.session.get(Circuit, circuit_id) is None:
            raise NotFound(_("Ce circuit n'existe pas."), code="not_found")
        duplicate = db.session.execute(select(AnimatorAssignment.id).where(
            AnimatorAssignment.user_id == user_id, AnimatorAssignment.establishment_id == establishment_id
            if establishment_id is not None else AnimatorAssignment.circuit_id == circuit_id)).first()
        if duplicate is not None:
            raise _assignment_taken()
        row = AnimatorAssignment(user_id=user_id, establishment_id=establishment_id, circuit_id=circuit_id)
        db.session.add(row)
        db.session.flush()
        audit.record("animator.assigned", "animator_assignment", row.id, actor=actor,
                     after={"user_id": user_id, "establishment_id": establishment_id, "circuit_id": circuit_id})
        return row


def remove_assignment(assignment_id: int, *, actor=None) -> None:
    with unit_of_work():
        row = db.session.get(AnimatorAssignment, assignment_id)
        if row is None:
            raise NotFound(_("Cette affectation n'existe pas."), code="not_found")
        audit.record("animator.unassigned", "animator_assignment", row.id, actor=actor,
                     before={"user_id": row.user_id, "establishment_id": row.establishment_id,
                             "circuit_id": row.circuit_id})
        db.session.delete(row)


# --- the day's sheet ----------------------------------------------------------------------------


@dataclass
class PersonPhone:
    name: str
    phone: str
    relationship: str = ""


@dataclass
class SheetChild:
    """What an animator may know of a child on the day, and the state of its tick."""

    child_id: int
    first_name: str
    last_name: str
    age: int
    allergies: str
    diet: str
    pai: bool
    transport: str
    contacts: list[PersonPhone] = field(default_factory=list)
    pickups: list[PersonPhone] = field(default_factory=list)
    status: str | None = None  # None: not ticked yet
    arrived_at: time | None = None
    left_at: time | None = None
    picked_up_by: str = ""
    pickup_unlisted: bool = False
    absence_reason: str | None = None
    last_tick_at: datetime | None = None


@dataclass
class DaySheet:
    establishment_id: int
    establishment_name: str
    day: date
    open_day: OpenDay
    children: list[SheetChild]

    @property
    def ticked(self) -> int:
        return sum(1 for c in self.children if c.status)


def _weeks_on(establishment_id: int, day: date) -> list[int]:
    return list(db.session.execute(
        select(Week.id).join(Period, Period.id == Week.period_id)
        .where(Period.establishment_id == establishment_id, Week.starts_on <= day, Week.ends_on >= day)
    ).scalars())


def day_sheet(establishment_id: int, day: date, *, user_id: int | None = None, today: date | None = None) -> DaySheet:
    """The booked (confirmed) children of an establishment on a day, with their ticks."""
    check_establishment(user_id, establishment_id, day, today)
    establishment = db.session.get(Establishment, establishment_id)
    if establishment is None:
        raise NotFound(_("Cet établissement n'existe pas."), code="not_found")
    listed = [c for r in rosters(_weeks_on(establishment_id, day)) for c in r.children]
    ticks = {a.child_id: a for a in db.session.execute(select(Attendance).where(
        Attendance.establishment_id == establishment_id, Attendance.day == day)).scalars()}
    children = []
    for c in listed:
        row = ticks.get(c.child_id)
        children.append(SheetChild(
            child_id=c.child_id, first_name=c.first_name, last_name=c.last_name, age=c.age, allergies=c.allergies,
            diet=c.diet, pai=c.pai, transport=c.transport_label,
            contacts=[PersonPhone(p.name, p.phone, p.relationship) for p in c.contacts if p.phone],
            pickups=[PersonPhone(p.name, p.phone, p.relationship) for p in c.pickups],
            status=row.status if row else None, arrived_at=row.arrived_at if row else None,
            left_at=row.left_at if row else None, picked_up_by=(row.picked_up_by or "") if row else "",
            pickup_unlisted=bool(row.pickup_unlisted) if row else False,
            absence_reason=row.absence_reason if row else None, last_tick_at=row.last_tick_at if row else None,
        ))
    return DaySheet(establishment_id, establishment.name, day, open_day(establishment_id, day), children)


# --- ticks --------------------------------------------------------------------------------------

APPLIED, DUPLICATE, STALE, REFUSED = "applied", "duplicate", "stale", "refused"


@dataclass
class TickResult:
    client_id: str
    outcome: str  # applied | duplicate | stale (an older tick than the state) | refused
    code: str = ""
    message: str = ""


def _duplicate_tick() -> ServiceError:
    return Conflict(_("Ce pointage a déjà été reçu."), code="duplicate_tick")


def _race() -> ServiceError:
    return Conflict(_("Un autre téléphone a pointé cet enfant au même moment."), code="tick_race")


TICK_DUPLICATES = {"attendance_tick_client_id_key": _duplicate_tick, "attendance_tick.client_id": _duplicate_tick,
                   "uq_attendance_child_day": _race, "attendance.establishment_id": _race,
                   "uq_boarding_child_day_leg": _race, "boarding.circuit_id": _race}


def parse_time(value: Any, label: str) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(_("%(label)s : heure invalide (HH:MM attendu).", label=label),
                               code="invalid_time") from None


def parse_tick_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(_("Heure du pointage invalide."), code="invalid_ticked_at") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PARIS)
    return moment


def _booking(establishment_id: int, child_id: int, day: date) -> Reservation | None:
    return db.session.execute(
        select(Reservation).join(Week, Week.id == Reservation.week_id).join(Period, Period.id == Week.period_id)
        .where(Reservation.child_id == child_id, Reservation.status == ReservationStatus.CONFIRMED,
               Period.establishment_id == establishment_id, Week.starts_on <= day, Week.ends_on >= day)
        .order_by(Reservation.id).limit(1)
    ).scalar_one_or_none()


def record_tick(client_id: str, kind: str, user_id: int | None, ticked_at: datetime, payload: dict) -> None:
    db.session.add(AttendanceTick(client_id=client_id, kind=kind, user_id=user_id, ticked_at=ticked_at,
                                  payload=json.dumps(payload, default=str, ensure_ascii=False, sort_keys=True)))
    db.session.flush()  # the unique id refuses a second delivery here, before any state changes


def tick_known(client_id: str) -> bool:
    return db.session.execute(select(AttendanceTick.id).where(AttendanceTick.client_id == client_id)).first() \
        is not None


def client_id_of(tick: dict) -> str:
    client_id = str(tick.get("client_id") or "").strip()
    if not client_id or len(client_id) > 64:
        raise ValidationFailed(_("Pointage sans identifiant."), code="no_client_id")
    return client_id


def apply_attendance_tick(tick: dict, *, user_id: int | None, today: date | None = None) -> TickResult:
    """Record one attendance tick (one transaction); see the module's docstring for the rules."""
    client_id = client_id_of(tick)
    try:
        with unit_of_work(TICK_DUPLICATES):
            if tick_known(client_id):
                return TickResult(client_id, DUPLICATE)
            outcome = _attendance_tick(client_id, tick, user_id, today)
        return TickResult(client_id, outcome)
    except Conflict as exc:
        if exc.code == "duplicate_tick":
            return TickResult(client_id, DUPLICATE)
        if exc.code == "tick_race":  # the other phone's row now exists: apply against it
            return apply_attendance_tick(tick, user_id=user_id, today=today)
        raise


def _attendance_tick(client_id: str, tick: dict, user_id: int | None, today: date | None) -> str:
    try:
        establishment_id, child_id = int(tick["establishment_id"]), int(tick["child_id"])
        day = tick["day"] if isinstance(tick["day"], date) else date.fromisoformat(str(tick["day"]))
    except (KeyError, TypeError, ValueError):
        raise ValidationFailed(_("Pointage incomplet : établissement, enfant et jour attendus."),
                               code="invalid") from None
    status = tick.get("status")
    if status not in AttendanceStatus.ALL:
        raise ValidationFailed(_("Choisissez présent ou absent."), code="invalid_status")
    ticked_at = parse_tick_time(tick.get("ticked_at") or utcnow())
    check_establishment(user_id, establishment_id, day, today)
    if not open_day(establishment_id, day).is_open:
        raise Conflict(_("L'établissement est fermé ce jour-là."), code="closed_day")
    booking = _booking(establishment_id, child_id, day)
    if booking is None:
        raise Conflict(_("Cet enfant n'est pas inscrit ce jour-là."), code="not_booked")
    arrived_at = parse_time(tick.get("arrived_at"), _("Arrivée"))
    left_at = parse_time(tick.get("left_at"), _("Départ"))
    if arrived_at and left_at and left_at <= arrived_at:
        raise ValidationFailed(_("L'heure de départ doit être après l'heure d'arrivée."), code="invalid_time")
    absence_reason = tick.get("absence_reason") or None
    if status == AttendanceStatus.PRESENT:
        absence_reason = None
    elif absence_reason not in (None, *AbsenceReason.ALL):
        raise ValidationFailed(_("Motif d'absence inconnu."), code="invalid_reason")
    picked_up_by = str(tick.get("picked_up_by") or "").strip()[:200] if status == AttendanceStatus.PRESENT else ""
    record_tick(client_id, "attendance", user_id, ticked_at, dict(tick))
    row = db.session.execute(select(Attendance).where(
        Attendance.establishment_id == establishment_id, Attendance.child_id == child_id,
        Attendance.day == day)).scalar_one_or_none()
    if row is not None and row.last_tick_at is not None and row.last_tick_at > ticked_at:
        return STALE
    values = {"status": status, "arrived_at": arrived_at if status == AttendanceStatus.PRESENT else None,
              "left_at": left_at if status == AttendanceStatus.PRESENT else None,
              "picked_up_by": picked_up_by or None, "pickup_unlisted": bool(picked_up_by) and not _authorised(
                  booking, picked_up_by),
              "absence_reason": absence_reason, "last_tick_at": ticked_at, "updated_by_id": user_id}
    if row is None:
        row = Attendance(establishment_id=establishment_id, child_id=child_id, day=day,
                         reservation_id=booking.id, **values)
        db.session.add(row)
        db.session.flush()
        before: dict = {}
        after = {k: v for k, v in values.items() if k not in ("last_tick_at", "updated_by_id")}
    else:
        before, after = audit.apply_changes(row, values)
        before.pop("last_tick_at", None), after.pop("last_tick_at", None)
    audit.record("attendance.ticked", "attendance", row.id, actor=actor_of(user_id),
                 household_id=booking.household_id, before=before or None, after=after)
    return APPLIED


def actor_of(user_id: int | None):
    """The FAB user behind a tick, for the audit log's "who" (None: the system)."""
    return db.session.get(User, user_id) if user_id else None


def _authorised(booking: Reservation, name: str) -> bool:
    """The child's guardians (any of its households) and authorised pick-up people; by name, as
    the animator picked it from the list (a name typed by hand that matches nobody is flagged)."""
    wanted = " ".join(name.lower().split())
    sheet = rosters([booking.week_id])
    for roster in sheet:
        for child in roster.children:
            if child.child_id == booking.child_id:
                names = [c.name for c in child.contacts] + [p.name for p in child.pickups]
                return any(" ".join(n.lower().split()) == wanted for n in names)
    return False


# --- hours realised -----------------------------------------------------------------------------


@dataclass
class RealisedDay:
    """One child's day as the CAF counts it: minutes between arrival and departure, within the day's hours."""

    attendance_id: int
    child_id: int
    first_name: str
    last_name: str
    birth_date: date
    day: date
    status: str
    ticked_minutes: int
    corrected_minutes: int | None
    correction_reason: str
    household_id: int | None
    absence_reason: str | None = None
    picked_up_by: str = ""
    pickup_unlisted: bool = False  # picked up by someone not on the authorised list: staff follow it up

    @property
    def minutes(self) -> int:
        return self.ticked_minutes if self.corrected_minutes is None else self.corrected_minutes


def ticked_minutes(row: Attendance, day: OpenDay) -> int:
    """Present: from arrival (the opening when not given) to departure (the closing when not given),
    never outside the day's hours; absent or closed: nothing."""
    if row.status != AttendanceStatus.PRESENT or not day.is_open:
        return 0
    start = max(day.opens_at, row.arrived_at or day.opens_at)
    end = min(day.closes_at, row.left_at or day.closes_at)
    return minutes_between(start, end)


def realised_days(establishment_id: int, first: date, last: date) -> list[RealisedDay]:
    """Every ticked child-day of an establishment between two dates, sorted by day then name."""
    days = {d.day: d for d in open_days(establishment_id, first, last)}
    rows = db.session.execute(
        select(Attendance, Child, Reservation.household_id)
        .join(Child, Child.id == Attendance.child_id)
        .outerjoin(Reservation, Reservation.id == Attendance.reservation_id)
        .where(Attendance.establishment_id == establishment_id, Attendance.day >= first, Attendance.day <= last)
        .order_by(Attendance.day, Child.last_name, Child.first_name, Child.id)
    ).all()
    return [RealisedDay(a.id, c.id, c.first_name, c.last_name, c.birth_date, a.day, a.status,
                        ticked_minutes(a, days[a.day]), a.corrected_minutes, a.correction_reason or "", household_id,
                        a.absence_reason, a.picked_up_by or "", bool(a.pickup_unlisted))
            for a, c, household_id in rows]


def correct_hours(attendance_id: int, minutes: int, reason: str, *, actor=None) -> None:
    """Staff correct a child-day's realised hours (a forgotten departure tick…), with a reason; audited."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Indiquez le motif de la correction."), code="reason_required")
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 <= minutes <= 24 * 60:
        raise ValidationFailed(_("Durée invalide : entre 0 et 24 heures."), code="invalid_minutes")
    with unit_of_work():
        row = db.session.get(Attendance, attendance_id)
        if row is None:
            raise NotFound(_("Ce pointage n'existe pas."), code="not_found")
        before, after = audit.apply_changes(row, {"corrected_minutes": minutes, "correction_reason": reason})
        household_id = row.reservation.household_id if row.reservation else None
        audit.record("attendance.corrected", "attendance", row.id, actor=actor, household_id=household_id,
                     before=before, after=after)
