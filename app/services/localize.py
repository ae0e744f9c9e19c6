"""French formatting in one place: Paris time, dates and euros the way French people read them.

Used by services (mails, CSV, messages) and registered as Jinja filters by `app.views.filters`."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre"]
DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


def to_paris(value: datetime) -> datetime:
    return value.astimezone(PARIS)


def euros(cents: int | None) -> str:
    """1234 -> '12,34 €' (non-breaking spaces, French decimal comma)."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    whole = f"{cents // 100:,}".replace(",", "\u202f")
    return f"{sign}{whole},{cents % 100:02d}\u00a0€"


def date_fr(value: date | datetime | None, with_weekday: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_paris(value)
    text = f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    return f"{DAYS[value.weekday()]} {text}" if with_weekday else text


def datetime_fr(value: datetime | None) -> str:
    if value is None:
        return ""
    local = to_paris(value)
    return f"{date_fr(local)} à {local:%H:%M}"
