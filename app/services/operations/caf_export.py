"""The CAF's « heures réalisées »: per establishment and month, the hours children actually spent,
by age band (under 6 / 6 and over, on the day) and by the household's scheme (CAF, MSA, other),
as a screen and a CSV for the CAF partner account; the same by QF band.

The hours are attendance's (operations.attendance.realised_days: ticks within the day's hours,
staff's corrections winning). The household counted is the one that booked the week (a shared
child's other household does not count twice); its QF band is the period's tariff bracket that
holds its quotient, « QF non connu » when staff have not set one.
"""
from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Attendance, Establishment, Household, Reservation, TariffBracket, Week, db
from app.services.errors import NotFound, ValidationFailed
from app.services.localize import BENEFIT_SCHEME_LABELS
from app.services.operations.attendance import realised_days
from app.services.operations.csv_export import to_csv
from app.services.operations.rosters import age_on

SCHEME_LABELS = BENEFIT_SCHEME_LABELS
NO_SCHEME = "Régime non renseigné"
UNDER_SIX, SIX_AND_OVER = "Moins de 6 ans", "6 ans et plus"
NO_QF = "QF non connu"


@dataclass
class CafLine:
    scheme: str
    band: str  # an age band or a QF band
    children: int
    child_days: int
    minutes: int

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 2)


@dataclass
class CafExport:
    establishment_id: int
    establishment_name: str
    month: date  # its first day
    by_age: list[CafLine]
    by_qf: list[CafLine]
    # Households counted under « Régime non renseigné » (id, name): staff complete their file.
    missing_scheme: list[tuple[int, str]] = field(default_factory=list)

    @property
    def total_minutes(self) -> int:
        return sum(line.minutes for line in self.by_age)

    @property
    def total_hours(self) -> float:
        return round(self.total_minutes / 60, 2)


def month_bounds(year: int, month: int) -> tuple[date, date]:
    if not (1 <= month <= 12 and 2000 <= year <= 2100):
        raise ValidationFailed(_("Mois invalide."), code="invalid_month")
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def _qf_band(quotient: int | None, brackets: list[TariffBracket]) -> str:
    if quotient is None:
        return NO_QF
    for bracket in brackets:
        if bracket.qf_min <= quotient and (bracket.qf_max is None or quotient <= bracket.qf_max):
            if bracket.qf_max is None:
                return f"QF {bracket.qf_min} et plus"
            return f"QF {bracket.qf_min} – {bracket.qf_max}"
    return f"QF {quotient} (hors grille)"


def caf_export(establishment_id: int, year: int, month: int) -> CafExport:
    first, last = month_bounds(year, month)
    establishment = db.session.get(Establishment, establishment_id)
    if establishment is None:
        raise NotFound(_("Cet établissement n'existe pas."), code="not_found")
    days = [d for d in realised_days(establishment_id, first, last) if d.minutes > 0]
    households = {h.id: h for h in db.session.execute(select(Household).where(
        Household.id.in_({d.household_id for d in days if d.household_id}))).scalars()}
    # The period of each child-day (through its booking) decides the QF grid.
    period_of = dict(db.session.execute(
        select(Attendance.id, Week.period_id).join(Reservation, Reservation.id == Attendance.reservation_id)
        .join(Week, Week.id == Reservation.week_id).where(Attendance.id.in_([d.attendance_id for d in days]))
    ).all())
    brackets: dict[int, list[TariffBracket]] = defaultdict(list)
    for bracket in db.session.execute(select(TariffBracket).where(
            TariffBracket.period_id.in_(set(period_of.values()))).order_by(TariffBracket.qf_min)).scalars():
        brackets[bracket.period_id].append(bracket)

    by_age: dict[tuple[str, str], list] = defaultdict(lambda: [set(), 0, 0])
    by_qf: dict[tuple[str, str], list] = defaultdict(lambda: [set(), 0, 0])
    for d in days:
        household = households.get(d.household_id) if d.household_id else None
        scheme = SCHEME_LABELS.get(household.benefit_scheme, NO_SCHEME) if household else NO_SCHEME
        age_band = UNDER_SIX if age_on(d.birth_date, d.day) < 6 else SIX_AND_OVER
        period_id = period_of.get(d.attendance_id)
        qf_band = _qf_band(household.quotient if household else None,
                           brackets[period_id] if period_id is not None else [])
        for table, band in ((by_age, age_band), (by_qf, qf_band)):
            entry = table[(scheme, band)]
            entry[0].add(d.child_id)
            entry[1] += 1
            entry[2] += d.minutes

    def lines(table) -> list[CafLine]:
        return [CafLine(scheme, band, len(v[0]), v[1], v[2]) for (scheme, band), v in sorted(table.items())]

    missing = sorted(((h.id, h.name) for h in households.values() if h.benefit_scheme not in SCHEME_LABELS),
                     key=lambda pair: (pair[1].lower(), pair[0]))
    return CafExport(establishment.id, establishment.name, first, lines(by_age), lines(by_qf), missing)


def caf_csv(export: CafExport) -> bytes:
    """One file, both breakdowns: « Tranche » says which (an age band or a QF band)."""
    header = ["Établissement", "Mois", "Régime", "Répartition", "Tranche", "Enfants", "Journées", "Heures réalisées"]
    month = f"{export.month:%m/%Y}"
    rows = [[export.establishment_name, month, line.scheme, kind, line.band, line.children, line.child_days,
             line.hours]
            for kind, table in (("Âge", export.by_age), ("QF", export.by_qf)) for line in table]
    return to_csv(header, rows)
