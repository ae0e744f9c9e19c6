"""Wishes (parents) and priority rules (staff) of a period opened by wishes.

Why wishes hold nothing: the time a wish is made must not matter (the whole point of the campaign),
so a wish is a plain row, replaced wholesale each time the family saves its ranked list, and counted
by no capacity query. What can be wished follows the booking rule (`eligibility.period_reason` with
the booking window skipped, then `week_reason` for a week already started or already booked): the
same codes and French messages as the basket, so a wish never promises what booking would refuse
for another reason than fullness.

Rules are frozen once the window opens: families rank their wishes knowing the points, and a
change after that would be a change of the game while it is being played.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, select

from app.models import (
    AllocationRules,
    AllocationRun,
    Circuit,
    Establishment,
    OpeningMode,
    Period,
    Stop,
    WaitlistTransport,
    Week,
    Wish,
    db,
    utcnow,
)
from app.models.types import parse_id
from app.services import audit
from app.services.booking.eligibility import (
    Reason,
    child_lines,
    load_person,
    paris_datetime,
    paris_today,
    period_reason,
    week_reason,
)
from app.services.booking.priority import Rules, parse_communes
from app.services.booking.waitlist import parse_transport
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.transactions import unit_of_work

WINDOW_NOT_OPEN = "wishes_not_open"
WINDOW_CLOSED = "wishes_closed"
NOT_WISHES = "not_wishes_period"
RULES_FROZEN = "rules_frozen"




def wishes_period(period_id: Any) -> Period:
    period = db.session.get(Period, parse_id(period_id) or 0)
    if period is None or period.opening_mode != OpeningMode.WISHES:
        raise NotFound(_("Cette période n'est pas ouverte sur vœux."), code=NOT_WISHES)
    return period


def window_reason(period: Period, now: datetime) -> Reason | None:
    """Why wishes cannot be made or changed now, or None during the window."""
    if period.wishes_open_at is None or now < period.wishes_open_at:
        when = paris_datetime(period.wishes_open_at) if period.wishes_open_at else _("une date à venir")
        return Reason(WINDOW_NOT_OPEN, _("Les vœux s'ouvrent le %(when)s.", when=when))
    if period.wishes_close_at is None or now >= period.wishes_close_at:
        return Reason(WINDOW_CLOSED, _("Les vœux sont clos depuis le %(when)s.",
                                       when=paris_datetime(period.wishes_close_at or now)))
    return None


# --- rules ---------------------------------------------------------------------------------------

def period_rules(period_id: int) -> Rules:
    row = db.session.get(AllocationRules, period_id)
    if row is None:
        return Rules()
    return Rules(resident_points=row.resident_points, resident_communes=parse_communes(row.resident_communes),
                 working_points=row.working_points, sibling_points=row.sibling_points,
                 no_previous_week_points=row.no_previous_week_points, low_quotient_points=row.low_quotient_points,
                 quotient_threshold=row.quotient_threshold)


def public_value_source(period_id: int) -> str | None:
    """Where the draw's public value will come from, as announced with the rules (None: not announced)."""
    row = db.session.get(AllocationRules, period_id)
    return row.public_value_source if row is not None else None


def _points(data: dict, name: str) -> int:
    value = data.get(name, 0)
    try:
        number = int(value if value not in (None, "") else 0)
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number <= 1000:
        raise ValidationFailed(_("Les points d'un critère vont de 0 à 1 000."), code="invalid_points", field=name)
    return number


def save_rules(period_id: Any, data: dict, *, actor, now: datetime | None = None) -> Rules:
    """Staff set the priority criteria. Refused once the wish window has opened (frozen). Audited."""
    now = now or utcnow()
    period = wishes_period(period_id)
    if period.wishes_open_at is not None and now >= period.wishes_open_at:
        raise Conflict(_("Les règles d'attribution sont figées depuis l'ouverture des vœux le %(when)s : elles "
                         "ne peuvent plus changer.", when=paris_datetime(period.wishes_open_at)), code=RULES_FROZEN)
    threshold = data.get("quotient_threshold")
    if threshold in (None, ""):
        threshold_value = None
    else:
        try:
            threshold_value = int(threshold)
        except (TypeError, ValueError):
            threshold_value = -1
        if not 0 <= threshold_value <= 100000:
            raise ValidationFailed(_("Le seuil de quotient familial est un nombre d'euros."),
                                   code="invalid_threshold", field="quotient_threshold")
    values = {name: _points(data, name) for name in ("resident_points", "working_points", "sibling_points",
                                                     "no_previous_week_points", "low_quotient_points")}
    communes = "\n".join(parse_communes(str(data.get("resident_communes") or "")))
    source = " ".join(str(data.get("public_value_source") or "").split())
    if len(source) > 500:
        raise ValidationFailed(_("La source de la valeur publique tient en 500 caractères au plus."),
                               code="invalid_source", field="public_value_source")
    with unit_of_work():
        row = db.session.get(AllocationRules, period.id)
        before = dict(period_rules(period.id).as_dict(), public_value_source=row.public_value_source) if row else None
        if row is None:
            row = AllocationRules(period_id=period.id)
            db.session.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        row.resident_communes = communes or None
        row.quotient_threshold = threshold_value
        row.public_value_source = source or None
        row.updated_at = now
        row.updated_by_id = getattr(actor, "id", None)
        db.session.flush()
        rules = period_rules(period.id)
        audit.record("allocation.rules", "period", period.id, actor=actor, before=before,
                     after=dict(rules.as_dict(), public_value_source=row.public_value_source))
    return rules


# --- wishes --------------------------------------------------------------------------------------

def _catalogue(period: Period) -> tuple[dict[int, Week], dict[int, tuple[Stop, Circuit]]]:
    weeks = {w.id: w for w in db.session.execute(select(Week).where(Week.period_id == period.id)).scalars()}
    stops = {stop.id: (stop, circuit) for stop, circuit in db.session.execute(
        select(Stop, Circuit).join(Circuit, Circuit.id == Stop.circuit_id).where(Circuit.period_id == period.id))}
    return weeks, stops


def week_reasons(household, link, child, period: Period, establishment: Establishment, weeks: list[Week],
                 now: datetime) -> dict[int, Reason | None]:
    """What stops each week from being wished: the booking rule without the booking window nor fullness."""
    gate = period_reason(household, link, child, period, establishment, now, desk=True)
    lines = child_lines(child.id, [w.id for w in weeks], now)
    today = paris_today(now)
    return {w.id: week_reason(gate, w, None, lines.get(w.id), household.id, today) for w in weeks}


def _reason_dict(reason: Reason | None) -> dict | None:
    return reason.as_dict() if reason is not None else None


def child_wishes(household_id: int, child_id: Any, period_id: Any, now: datetime | None = None) -> dict:
    """The child's ranked wishes for the period, with what can be wished and why not (page and API)."""
    now = now or utcnow()
    period = wishes_period(period_id)
    child_key = parse_id(child_id)
    household, link, child = load_person(household_id, child_key or 0)
    weeks, stops = _catalogue(period)
    ordered = sorted(weeks.values(), key=lambda w: (w.starts_on, w.id))
    reasons = week_reasons(household, link, child, period, period.establishment, ordered, now)
    rows = db.session.execute(
        select(Wish).where(Wish.household_id == household_id, Wish.child_id == child.id, Wish.period_id == period.id)
        .order_by(Wish.rank)).scalars().all()
    window = window_reason(period, now)
    published = db.session.execute(select(AllocationRun.id).where(AllocationRun.period_id == period.id)).first()
    return {
        "period": {"id": period.id, "name": period.name, "establishment": period.establishment.name,
                   "wishes_open_at": period.wishes_open_at.isoformat() if period.wishes_open_at else None,
                   "wishes_close_at": period.wishes_close_at.isoformat() if period.wishes_close_at else None,
                   "results_at": period.results_at.isoformat() if period.results_at else None,
                   "offer_hours": period.offer_hours, "max_weeks_per_child": period.max_weeks_per_child},
        "child": {"id": child.id, "first_name": child.first_name},
        "open": window is None, "reason": window.as_dict() if window else None, "published": published is not None,
        "weeks": [{"id": w.id, "label": w.label, "starts_on": w.starts_on.isoformat(), "capacity": w.capacity,
                   "available": reasons[w.id] is None,
                   "reason": _reason_dict(reasons[w.id])} for w in ordered],
        "stops": [{"id": stop.id, "name": stop.name, "circuit": circuit.name,
                   "pickup_time": stop.pickup_time.strftime("%H:%M")}
                  for stop, circuit in sorted(stops.values(), key=lambda p: (p[1].name, p[0].position))],
        "wishes": [{"id": w.id, "rank": w.rank, "week_id": w.week_id, "week": weeks[w.week_id].label,
                    "transport": {"mode": w.transport_mode, "stop_id": w.stop_id}, "together": w.together}
                   for w in rows],
    }


def save_wishes(household_id: int, child_id: Any, period_id: Any, items: Any, *, actor=None,
                now: datetime | None = None) -> dict:
    """Replace the child's ranked wishes (first = preferred). Every item: {week_id, transport, together}.
    Refused outside the window, for a week of another period or one the child cannot be booked for
    (the booking rule's reason), a week twice, or a stop that does not serve the period. Audited."""
    now = now or utcnow()
    period = wishes_period(period_id)
    window = window_reason(period, now)
    if window is not None:
        raise Conflict(window.message, code=window.code)
    if not isinstance(items, list):
        raise ValidationFailed(_("Envoyez la liste de vos vœux, du préféré au moins souhaité."),
                               code="invalid_wishes", field="wishes")
    child_key = parse_id(child_id)
    with unit_of_work():
        household, link, child = load_person(household_id, child_key or 0, for_update=True)
        weeks, stops = _catalogue(period)
        if len(items) > len(weeks):
            raise ValidationFailed(_("Plus de vœux que de semaines proposées."), code="too_many", field="wishes")
        reasons = week_reasons(household, link, child, period, period.establishment, list(weeks.values()), now)
        parsed: list[tuple[Week, str, int | None, bool]] = []
        for rank, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise ValidationFailed(_("Vœu n° %(rank)s illisible.", rank=rank), code="invalid_wishes")
            week = weeks.get(parse_id(item.get("week_id")) or 0)
            if week is None:
                raise ValidationFailed(_("Vœu n° %(rank)s : cette semaine n'appartient pas à la période.", rank=rank),
                                       code="invalid_week", field="week_id")
            if any(p[0].id == week.id for p in parsed):
                raise ValidationFailed(_("La semaine « %(week)s » est demandée deux fois.", week=week.label),
                                       code="duplicate_week", field="week_id")
            reason = reasons.get(week.id)
            if reason is not None:
                raise Conflict(_("%(week)s : %(why)s", week=week.label, why=reason.message), code=reason.code)
            mode, stop_id = parse_transport(item.get("transport"))
            if stop_id is not None and stop_id not in stops:
                raise ValidationFailed(_("Cet arrêt ne dessert pas cette période : choisissez un arrêt dans la "
                                         "liste."), code="invalid_stop", field="stop_id")
            if mode == WaitlistTransport.ANY and stop_id is None:
                raise ValidationFailed(_("Pour le bus, choisissez un arrêt."), code="stop_required", field="stop_id")
            parsed.append((week, mode, stop_id, bool(item.get("together"))))
        before = [{"week_id": w.week_id, "rank": w.rank, "mode": w.transport_mode, "stop_id": w.stop_id,
                   "together": w.together} for w in db.session.execute(
            select(Wish).where(Wish.household_id == household_id, Wish.child_id == child.id,
                               Wish.period_id == period.id).order_by(Wish.rank)).scalars()]
        db.session.execute(delete(Wish).where(Wish.household_id == household_id, Wish.child_id == child.id,
                                              Wish.period_id == period.id))
        db.session.flush()
        for rank, (week, mode, stop_id, together) in enumerate(parsed, start=1):
            db.session.add(Wish(period_id=period.id, household_id=household_id, child_id=child.id, week_id=week.id,
                                rank=rank, transport_mode=mode, stop_id=stop_id, together=together, created_at=now))
        db.session.flush()
        after = [{"week_id": w.id, "rank": r, "mode": m, "stop_id": s, "together": t}
                 for r, (w, m, s, t) in enumerate(parsed, start=1)]
        audit.record("wish.saved", "child", child.id, actor=actor, household_id=household_id,
                     before={"period_id": period.id, "wishes": before}, after={"period_id": period.id, "wishes": after})
    return child_wishes(household_id, child.id, period.id, now)


def household_campaigns(household_id: int, now: datetime | None = None) -> list[dict]:
    """The wish campaigns a family may care about (periods opened by wishes that have not ended),
    each with its window state, whether the allocation is published, and per child of the household
    what stops it from wishing (the booking rule's reason) and how many wishes it has."""
    from app.models import HouseholdChild

    now = now or utcnow()
    periods = db.session.execute(
        select(Period).where(Period.opening_mode == OpeningMode.WISHES, Period.ends_on >= paris_today(now))
        .order_by(Period.starts_on, Period.id)).scalars().all()
    if not periods:
        return []
    people = db.session.execute(
        select(HouseholdChild).where(HouseholdChild.household_id == household_id)).scalars().all()
    published = set(db.session.execute(select(AllocationRun.period_id).where(
        AllocationRun.period_id.in_([p.id for p in periods]))).scalars())
    counts: dict[tuple[int, int], int] = {}
    for period_id, child_id in db.session.execute(select(Wish.period_id, Wish.child_id).where(
            Wish.household_id == household_id, Wish.period_id.in_([p.id for p in periods]))).tuples():
        counts[(period_id, child_id)] = counts.get((period_id, child_id), 0) + 1
    result = []
    for period in periods:
        children = []
        for link in sorted(people, key=lambda link: (link.child.first_name, link.child_id)):
            gate = period_reason(link.household, link, link.child, period, period.establishment, now, desk=True)
            children.append({"child": link.child, "reason": gate, "wishes": counts.get((period.id, link.child_id), 0)})
        result.append({"period": period, "window": window_reason(period, now), "published": period.id in published,
                       "children": children})
    return result
