"""Working days and "72 h ouvrées", the review delay promised by the parents' guide.

The French public holidays come from the maintained `holidays` package rather than a hand-written
Easter computation: the list changes by law (Whit Monday was dropped in 2005-2007), and a library
that follows the Journal officiel is cheaper to trust than our own arithmetic.

What counts as a day off, decided once:
- the national list of `holidays.France` with no subdivision: metropolitan France. The service is
  not in Alsace-Moselle, so Good Friday and 26 December are working days; the overseas days
  (abolition of slavery…) do not apply either.
- Whit Monday (lundi de Pentecôte) is a day off, as before the move to the library: it is on the
  legal list (Code du travail L3133-1), and the "journée de solidarité" that may make it worked is
  each employer's choice, which the portal cannot know. Where staff do work that day, the digest
  flags a late file one working day later than it could: a known, bounded cost.
- public holidays only: school holidays (`categories=SCHOOL`) are when the service is busiest.
Days are Paris days: a file sent at 23:30 on a Friday waits from that Friday, not from Saturday UTC.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays

from app.services.localize import PARIS


@lru_cache(maxsize=64)
def public_holidays(year: int) -> frozenset[date]:
    """The public holidays (jours fériés) of metropolitan France in `year`.

    Built once per year and frozen: a `holidays.France` object fills itself lazily on look-up,
    which is not safe to share between the request threads and the in-process worker."""
    return frozenset(holidays.France(years=year))


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a public holiday."""
    return day.weekday() < 5 and day not in public_holidays(day.year)


def working_hours_between(start: datetime, end: datetime) -> float:
    """Hours between two instants counted on working days only (Monday to Friday, not a public
    holiday, in Paris): "72 h ouvrées" = three working days, the promise of the parents' guide.

    Each Paris day is cut at its own midnights, so a change of clocks (always on a Sunday) never
    adds or removes a working hour."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("aware datetimes required")
    if end <= start:
        return 0.0
    total = 0.0
    day = start.astimezone(PARIS).date()
    last = end.astimezone(PARIS).date()
    while day <= last:
        if is_working_day(day):
            day_start = datetime.combine(day, time(0), PARIS)
            day_end = datetime.combine(day + timedelta(days=1), time(0), PARIS)
            lo, hi = max(start, day_start), min(end, day_end)
            if hi > lo:
                total += (hi - lo).total_seconds() / 3600
        day += timedelta(days=1)
    return total
