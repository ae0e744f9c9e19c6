"""A justified absence turns into a credit (avoir) where the period's cancellation rules say so
(issue 18: « A justified absence can feed the cancellation rules (credit) »).

The animator ticks the child absent « justifiée (certificat médical) »; staff, once they hold the
certificate, grant the day back as an avoir from the attendance screen. The rule:
* only a justified absence on a confirmed (paid) week, never a cancelled one (its cancellation
  already gave what it gives);
* only where the period's rules (app.services.booking.cancellation.rules_for) accept a late
  cancellation with a justification AND their outcome is a credit: a period without late
  cancellation, or refunding to the card, gives nothing for an absent day;
* the amount is the day's share of what the week cost (price + bus) divided by the week's open days
  at that establishment, rounded down to the cent: never more than was paid;
* once per child-day: the attendance row keeps the avoir's id (unique), under the household's lock
  and the row's, so two staff clicking at once give one avoir.
The avoir is a credit note of the cancellation kind tied to the reservation (so the tax attestation
nets it, like a cancelled week's), issued by app.services.payments.credits; the family is mailed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from app.models import (
    AbsenceReason,
    Attendance,
    AttendanceStatus,
    CancellationOutcome,
    Child,
    CreditNote,
    CreditNoteKind,
    Reservation,
    ReservationStatus,
    Week,
    db,
)
from app.services import audit
from app.services.booking.cancellation import rules_for
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.mail import queue_mail
from app.services.operations.open_days import open_days
from app.services.payments import credits
from app.services.transactions import unit_of_work


@dataclass
class AbsenceCredit:
    """A justified absence as staff see it: whether it may become an avoir, and for how much."""

    attendance_id: int
    child_id: int
    first_name: str
    last_name: str
    day: date
    household_id: int | None
    amount_cents: int
    eligible: bool
    why_not: str = ""  # in French, when not eligible
    credit_note_number: str = ""  # once granted

    @property
    def granted(self) -> bool:
        return bool(self.credit_note_number)


def day_share_cents(reservation: Reservation, establishment_id: int) -> int:
    """What one open day of the booked week cost: the week's total over its open days, rounded down."""
    week: Week = reservation.week
    opened = sum(1 for d in open_days(establishment_id, week.starts_on, week.ends_on) if d.is_open)
    return reservation.total_cents // opened if opened else 0


def _assess(row: Attendance) -> tuple[int, str]:
    """(amount, why not) for a justified absence: why_not is "" when an avoir may be granted."""
    if row.status != AttendanceStatus.ABSENT or row.absence_reason != AbsenceReason.JUSTIFIED:
        return 0, _("Seule une absence justifiée par un certificat médical donne un avoir.")
    reservation = row.reservation
    if reservation is None or reservation.status != ReservationStatus.CONFIRMED:
        return 0, _("La réservation de cette semaine n'est plus confirmée (annulée ou retirée) : rien à créditer.")
    rules = rules_for(reservation.week.period_id)
    if not rules.late_with_justification or rules.outcome != CancellationOutcome.CREDIT:
        return 0, _("Les règles d'annulation de cette période ne prévoient pas d'avoir pour une absence justifiée.")
    amount = day_share_cents(reservation, row.establishment_id)
    if amount <= 0:
        return 0, _("Cette journée n'a rien coûté : rien à créditer.")
    return amount, ""


def justified_absences(establishment_id: int, first: date, last: date) -> list[AbsenceCredit]:
    """Every justified absence of an establishment between two dates, with what it may give (and
    every day that already gave an avoir, even if a later tick changed it)."""
    rows = db.session.execute(
        select(Attendance, Child).join(Child, Child.id == Attendance.child_id)
        .where(Attendance.establishment_id == establishment_id, Attendance.day >= first, Attendance.day <= last,
               or_(and_(Attendance.status == AttendanceStatus.ABSENT,
                        Attendance.absence_reason == AbsenceReason.JUSTIFIED),
                   Attendance.credit_note_id.is_not(None)))
        .order_by(Attendance.day, Child.last_name, Child.first_name, Child.id)
    ).all()
    result = []
    for row, child in rows:
        household_id = row.reservation.household_id if row.reservation else None
        if row.credit_note is not None:
            # Still listed if a later tick changed the day (the avoir stands: staff decide what to do).
            why = (_("Avoir déjà accordé.") if row.status == AttendanceStatus.ABSENT
                   else _("Avoir déjà accordé, mais l'enfant a depuis été pointé présent ce jour-là."))
            result.append(AbsenceCredit(row.id, child.id, child.first_name, child.last_name, row.day, household_id,
                                        row.credit_note.amount_cents, False, why, row.credit_note.number))
            continue
        amount, why_not = _assess(row)
        result.append(AbsenceCredit(row.id, child.id, child.first_name, child.last_name, row.day, household_id,
                                    amount, not why_not, why_not))
    return result


def credit_justified_absence(attendance_id: int, *, certificate_received: bool, actor=None) -> CreditNote:
    """Staff grant a justified absence back as an avoir (see the module's docstring). Audited."""
    if not certificate_received:
        raise ValidationFailed(_("Cochez « certificat médical reçu » : l'avoir n'est accordé que sur justificatif."),
                               code="certificate_required")
    with unit_of_work():
        row = db.session.get(Attendance, attendance_id)
        if row is None or row.reservation is None:
            raise NotFound(_("Ce pointage n'existe pas."), code="not_found")
        household_id = row.reservation.household_id
        credits.lock_household(household_id)  # one credit issuer per household at a time
        row = db.session.execute(select(Attendance).where(Attendance.id == attendance_id).with_for_update()
                                 .execution_options(populate_existing=True)).scalar_one()
        if row.credit_note_id is not None:
            raise Conflict(_("Un avoir a déjà été accordé pour cette absence."), code="already_credited")
        amount, why_not = _assess(row)
        if why_not:
            raise Conflict(why_not, code="not_creditable")
        child = row.child
        reason = _("Absence justifiée (certificat médical) de %(child)s le %(day)s",
                   child=f"{child.first_name} {child.last_name}", day=row.day.strftime("%d/%m/%Y"))
        note = credits.issue_credit_note(household_id, amount, CreditNoteKind.CANCELLATION, reason,
                                         reservation_id=row.reservation_id, actor=actor)
        row.credit_note_id = note.id
        audit.record("attendance.absence_credited", "attendance", row.id, actor=actor, household_id=household_id,
                     after={"credit_note": note.number, "amount_cents": amount, "day": row.day})
        _tell_family(row, note)
        return note


def _tell_family(row: Attendance, note: CreditNote) -> None:
    """The family is mailed (after the commit) unless its file has no address (a desk-only family)."""
    household = row.reservation.household
    to = household.email or getattr(household.owner, "email", None)
    if not to:
        return
    child = f"{row.child.first_name} {row.child.last_name}"
    queue_mail("absence_credit", to, _("Avoir pour l'absence de %(child)s", child=row.child.first_name),
               "absence_credit", household_id=household.id, dedupe_key=f"attendance-{row.id}-credited",
               child=child, day=row.day, establishment=row.establishment.name, amount_cents=note.amount_cents,
               number=note.number)
