"""Staff's month (or period) per child (issue 18): for an establishment and a month or a period,
each booked child's open days, how many were ticked present, absent with a certificate, absent
without, not ticked at all, and the hours realised (the CAF's count:
operations.attendance.realised_days, corrections winning); as a screen and a CSV. And the driver's
boarding list of a circuit × day × leg as a CSV.

A child is listed when a confirmed week of theirs at the establishment covers an open day of the
range, or when they were ticked in it (a week cancelled after the tick still shows its tick).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from app.models import (
    AbsenceReason,
    AttendanceStatus,
    Child,
    Period,
    Reservation,
    ReservationStatus,
    Week,
    db,
)
from app.services.operations.attendance import realised_days
from app.services.operations.boarding import BoardingSheet
from app.services.operations.caf_export import month_bounds
from app.services.operations.csv_export import to_csv
from app.services.operations.open_days import open_days


@dataclass
class ChildMonth:
    child_id: int
    first_name: str
    last_name: str
    booked_days: int = 0  # open days of the month inside the child's confirmed weeks
    present: int = 0
    absent_justified: int = 0
    absent_unjustified: int = 0
    minutes: int = 0

    @property
    def absent(self) -> int:
        return self.absent_justified + self.absent_unjustified

    @property
    def not_ticked(self) -> int:
        return max(0, self.booked_days - self.present - self.absent)

    @property
    def hours(self) -> float:
        return round(self.minutes / 60, 2)


def child_month_summary(establishment_id: int, year: int, month: int) -> list[ChildMonth]:
    """One line per child, by name (see the module's docstring)."""
    first, last = month_bounds(year, month)
    return child_summary(establishment_id, first, last)


def child_summary(establishment_id: int, first: date, last: date) -> list[ChildMonth]:
    """The same lines over any range of days: a month, or a whole period."""
    opened = [d.day for d in open_days(establishment_id, first, last) if d.is_open]
    lines: dict[int, ChildMonth] = {}

    def line(child_id: int, first_name: str, last_name: str) -> ChildMonth:
        if child_id not in lines:
            lines[child_id] = ChildMonth(child_id, first_name, last_name)
        return lines[child_id]

    booked = db.session.execute(
        select(Child.id, Child.first_name, Child.last_name, Week.starts_on, Week.ends_on)
        .join(Reservation, Reservation.child_id == Child.id).join(Week, Week.id == Reservation.week_id)
        .join(Period, Period.id == Week.period_id)
        .where(Period.establishment_id == establishment_id, Reservation.status == ReservationStatus.CONFIRMED,
               Week.starts_on <= last, Week.ends_on >= first)
    ).all()
    seen: dict[int, set[date]] = {}
    for child_id, first_name, last_name, starts_on, ends_on in booked:
        days = seen.setdefault(child_id, set())
        days.update(d for d in opened if starts_on <= d <= ends_on)
        line(child_id, first_name, last_name)
    for child_id, days in seen.items():
        lines[child_id].booked_days = len(days)
    for d in realised_days(establishment_id, first, last):
        entry = line(d.child_id, d.first_name, d.last_name)
        if d.status == AttendanceStatus.PRESENT:
            entry.present += 1
        elif d.absence_reason == AbsenceReason.JUSTIFIED:
            entry.absent_justified += 1
        else:
            entry.absent_unjustified += 1
        entry.minutes += d.minutes
    return sorted(lines.values(), key=lambda c: (c.last_name.lower(), c.first_name.lower(), c.child_id))


def child_month_csv(establishment_name: str, year: int, month: int, lines: list[ChildMonth]) -> bytes:
    return child_csv(establishment_name, f"{month:02d}/{year:04d}", lines)


def child_csv(establishment_name: str, label: str, lines: list[ChildMonth]) -> bytes:
    """`label` names the range in the second column: « 05/2026 », or a period's name."""
    header = ["Établissement", "Mois ou période", "Nom", "Prénom", "Jours réservés", "Présent", "Absent justifié",
              "Absent non justifié", "Non pointé", "Heures réalisées"]
    return to_csv(header, [[establishment_name, label, c.last_name.upper(), c.first_name, c.booked_days, c.present,
                            c.absent_justified, c.absent_unjustified, c.not_ticked, c.hours] for c in lines])


def boarding_csv(sheet: BoardingSheet) -> bytes:
    """The driver's list in route order: stop, time, child, boarded, got off (oui/non)."""
    header = ["Circuit", "Jour", "Trajet", "Ordre", "Arrêt", "Heure", "Nom", "Prénom", "Âge", "Allergies", "PAI",
              "Téléphone", "Monté", "Descendu"]
    rows = [[sheet.circuit_name, sheet.day, sheet.leg_label, position, stop.name, stop.time, child.last_name.upper(),
             child.first_name, child.age, child.allergies, child.pai, child.guardian_phone, child.boarded,
             child.got_off]
            for position, stop in enumerate(sheet.stops, start=1) for child in stop.children]
    return to_csv(header, rows)
