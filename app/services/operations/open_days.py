"""The days an establishment is open and its hours: what attendance is taken on and what the
realised hours are counted against.

A day is open Monday to Friday unless it is a French public holiday (the `holidays` package, the
same metropolitan list as app.services.household.workdays), and staff can override any day (a
bridge day closed, a Saturday outing opened, a shorter day). Hours are the establishment's
ordinary day unless the override gives others. Nothing is stored for an ordinary day: the calendar
is computed, only staff's exceptions are rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache

import holidays
from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Establishment, EstablishmentHours, OpenDayOverride, db
from app.services import audit
from app.services.errors import NotFound, ValidationFailed
from app.services.household.workdays import is_working_day
from app.services.transactions import transactional

# An ALSH's usual day when staff have set none (accueil du matin → départ du soir).
DEFAULT_OPENS_AT = time(8, 30)
DEFAULT_CLOSES_AT = time(17, 30)


@dataclass(frozen=True)
class OpenDay:
    day: date
    is_open: bool
    opens_at: time
    closes_at: time
    holiday: str = ""  # the public holiday's French name, when it is one
    overridden: bool = False

    @property
    def minutes(self) -> int:
        return minutes_between(self.opens_at, self.closes_at)


def minutes_between(start: time, end: time) -> int:
    """Whole minutes from `start` to `end` on one day; nothing when `end` is not after `start`."""
    return max(0, (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute))


@lru_cache(maxsize=16)
def _holiday_names(year: int) -> dict[date, str]:
    """French names of the year's public holidays (frozen: a holidays object fills itself lazily)."""
    return dict(holidays.France(years=year, language="fr"))


def week_monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def establishment_hours(establishment_id: int) -> tuple[time, time]:
    row = db.session.get(EstablishmentHours, establishment_id)
    return (row.opens_at, row.closes_at) if row else (DEFAULT_OPENS_AT, DEFAULT_CLOSES_AT)


def open_days(establishment_id: int, first: date, last: date) -> list[OpenDay]:
    """Every day from `first` to `last` with whether it is open and its hours. Two queries."""
    opens_at, closes_at = establishment_hours(establishment_id)
    overrides = {o.day: o for o in db.session.execute(
        select(OpenDayOverride).where(OpenDayOverride.establishment_id == establishment_id,
                                      OpenDayOverride.day >= first, OpenDayOverride.day <= last)
    ).scalars()}
    days = []
    day = first
    while day <= last:
        holiday = _holiday_names(day.year).get(day, "")
        override = overrides.get(day)
        if override is not None:
            days.append(OpenDay(day, override.is_open, override.opens_at or opens_at,
                                override.closes_at or closes_at, holiday, overridden=True))
        else:
            days.append(OpenDay(day, is_working_day(day), opens_at, closes_at, holiday))
        day += timedelta(days=1)
    return days


def open_day(establishment_id: int, day: date) -> OpenDay:
    return open_days(establishment_id, day, day)[0]


def week_open_days(establishment_id: int, day: date) -> list[OpenDay]:
    """Monday to Friday of the week of `day` (and a weekend day only when staff opened it)."""
    monday = week_monday(day)
    return [d for d in open_days(establishment_id, monday, monday + timedelta(days=6))
            if d.day.weekday() < 5 or d.is_open]


def _establishment(establishment_id: int) -> Establishment:
    establishment = db.session.get(Establishment, establishment_id)
    if establishment is None:
        raise NotFound(_("Cet établissement n'existe pas."), code="not_found")
    return establishment


def _check_hours(opens_at: time | None, closes_at: time | None) -> None:
    if opens_at and closes_at and closes_at <= opens_at:
        raise ValidationFailed(_("L'heure de fermeture doit être après l'heure d'ouverture."), code="hours")


@transactional
def set_establishment_hours(establishment_id: int, opens_at: time, closes_at: time, *, actor=None) -> None:
    """Staff set the ordinary day of an establishment (audited)."""
    _establishment(establishment_id)
    _check_hours(opens_at, closes_at)
    row = db.session.get(EstablishmentHours, establishment_id)
    before = {"opens_at": row.opens_at, "closes_at": row.closes_at} if row else None
    if row is None:
        row = EstablishmentHours(establishment_id=establishment_id, opens_at=opens_at, closes_at=closes_at)
        db.session.add(row)
    else:
        row.opens_at, row.closes_at = opens_at, closes_at
    audit.record("establishment.hours_set", "establishment", establishment_id, actor=actor, before=before,
                 after={"opens_at": opens_at, "closes_at": closes_at})


@transactional
def set_open_day(establishment_id: int, day: date, *, is_open: bool, opens_at: time | None = None,
                 closes_at: time | None = None, note: str = "", actor=None) -> None:
    """Staff open or close one day, or give it other hours (audited). Setting a day back to what
    the calendar says removes the exception."""
    _establishment(establishment_id)
    _check_hours(opens_at, closes_at)
    row = db.session.execute(select(OpenDayOverride).where(
        OpenDayOverride.establishment_id == establishment_id, OpenDayOverride.day == day)).scalar_one_or_none()
    before = ({"is_open": row.is_open, "opens_at": row.opens_at, "closes_at": row.closes_at} if row else None)
    ordinary = is_open == is_working_day(day) and opens_at is None and closes_at is None
    if ordinary:
        if row is not None:
            db.session.delete(row)
    elif row is None:
        db.session.add(OpenDayOverride(establishment_id=establishment_id, day=day, is_open=is_open,
                                       opens_at=opens_at, closes_at=closes_at, note=note or None))
    else:
        row.is_open, row.opens_at, row.closes_at, row.note = is_open, opens_at, closes_at, note or None
    audit.record("establishment.day_set", "establishment", establishment_id, actor=actor, before=before,
                 after={"day": day, "is_open": is_open, "opens_at": opens_at, "closes_at": closes_at})
