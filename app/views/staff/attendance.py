"""Staff's side of attendance (issue 18): the CAF's « heures réalisées » per establishment and
month (screen + CSV, by age band and by QF band, with the households' scheme), the child-days
behind them with a correction form (reason required, audited), and the open days of the month
(open or close a day) and the establishment's ordinary hours, the justified absences that may
become an avoir, the month per child (screen + CSV), a bus's boarding list as a CSV, and which
animator covers which establishment or circuit. Thin over app.services.operations.*.
"""
from __future__ import annotations

from datetime import date, time

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from sqlalchemy import select

from app.models import BoardingLeg, Circuit, Establishment, Period, db
from app.services.errors import ValidationFailed
from app.services.localize import euros
from app.services.operations import (
    absence_credit,
    attendance,
    attendance_summary,
    boarding,
    caf_export,
    open_days,
)
from app.views.helpers import service_errors
from app.views.staff.ops_helpers import csv_response, date_arg, int_arg, paris_today

CATEGORY = "Présences"


def _month() -> tuple[int, int]:
    raw = (request.values.get("mois") or "").strip()
    try:
        year, month = (int(part) for part in raw.split("-"))
        caf_export.month_bounds(year, month)
        return year, month
    except (ValueError, ValidationFailed):
        today = paris_today()
        return today.year, today.month


def _minutes(raw: str) -> int:
    """« 5:30 », « 5h30 » or « 5,5 » (hours) → minutes."""
    text = (raw or "").strip().lower().replace("h", ":")
    try:
        if ":" in text:
            hours, _sep, minutes = text.partition(":")
            return int(hours or 0) * 60 + int(minutes or 0)
        return round(float(text.replace(",", ".")) * 60)
    except ValueError:
        raise ValidationFailed(_("Durée invalide : écrivez par exemple 5:30 ou 5,5."), code="invalid_minutes") from None


def _time(raw: str | None) -> time | None:
    return attendance.parse_time(raw, _("Heure")) if raw else None


class StaffAttendanceView(BaseView):
    route_base = "/presences"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        establishments = db.session.execute(select(Establishment).order_by(Establishment.name)).scalars().all()
        establishment_id = int_arg("establishment_id") or (establishments[0].id if establishments else None)
        year, month = _month()
        export = days = calendar = hours = absences = None
        if establishment_id and any(e.id == establishment_id for e in establishments):
            export = caf_export.caf_export(establishment_id, year, month)
            first, last = caf_export.month_bounds(year, month)
            days = attendance.realised_days(establishment_id, first, last)
            calendar = open_days.open_days(establishment_id, first, last)
            hours = open_days.establishment_hours(establishment_id)
            absences = absence_credit.justified_absences(establishment_id, first, last)
        return self.render_template("staff/attendance/index.html", title="Présences et heures réalisées (CAF)",
                                    establishments=establishments, establishment_id=establishment_id,
                                    month=f"{year:04d}-{month:02d}", export=export, days=days, calendar=calendar,
                                    hours=hours, absences=absences, euros=euros)

    @expose("/enfants")
    @has_access
    def children(self):
        """The month per child: booked days, present, absent (justified or not), not ticked, hours."""
        establishments = db.session.execute(select(Establishment).order_by(Establishment.name)).scalars().all()
        establishment_id = int_arg("establishment_id") or (establishments[0].id if establishments else None)
        establishment = next((e for e in establishments if e.id == establishment_id), None)
        year, month = _month()
        periods = (db.session.execute(select(Period).where(Period.establishment_id == establishment.id)
                                      .order_by(Period.starts_on.desc())).scalars().all()
                   if establishment is not None else [])
        period = next((p for p in periods if p.id == int_arg("periode_id")), None)
        lines: list = []
        label, slug = f"{month:02d}/{year:04d}", f"{year:04d}-{month:02d}"
        if establishment is not None and period is not None:
            lines = attendance_summary.child_summary(establishment.id, period.starts_on, period.ends_on)
            label, slug = period.name, f"periode-{period.id}"
        elif establishment is not None:
            lines = attendance_summary.child_month_summary(establishment.id, year, month)
        if establishment is not None and request.args.get("format") == "csv":
            return csv_response(attendance_summary.child_csv(establishment.name, label, lines),
                                f"presences-par-enfant-{slug}.csv")
        return self.render_template("staff/attendance/children.html", title="Présences par enfant",
                                    establishments=establishments, establishment=establishment,
                                    month=f"{year:04d}-{month:02d}", lines=lines, periods=periods, period=period,
                                    label=label)

    @expose("/car")
    @has_access
    @service_errors(".index")
    def boarding_list(self):
        """A circuit's boarding list for a day and leg, in route order, with its ticks; CSV on demand."""
        circuits = db.session.execute(select(Circuit).join(Period, Period.id == Circuit.period_id)
                                      .order_by(Period.starts_on.desc(), Circuit.name)).scalars().all()
        circuit_id = int_arg("circuit_id") or (circuits[0].id if circuits else None)
        day = date_arg("jour") or paris_today()
        leg = request.args.get("trajet") if request.args.get("trajet") in BoardingLeg.ALL else BoardingLeg.MORNING
        sheet = None
        if circuit_id is not None and any(c.id == circuit_id for c in circuits):
            sheet = boarding.boarding_sheet(circuit_id, day, leg)
            if request.args.get("format") == "csv":
                return csv_response(attendance_summary.boarding_csv(sheet),
                                    f"car-{circuit_id}-{day.isoformat()}-{leg}.csv")
        return self.render_template("staff/attendance/boarding.html", title="Listes du car", circuits=circuits,
                                    circuit_id=circuit_id, day=day, leg=leg, legs=boarding.LEG_LABELS, sheet=sheet)

    @expose("/horaires", methods=["POST"])
    @has_access
    @service_errors(lambda **kw: url_for("StaffAttendanceView.index", **request.args), not_found=False)
    def set_hours(self):
        establishment_id = int_arg("establishment_id", request.form)
        opens_at, closes_at = _time(request.form.get("ouverture")), _time(request.form.get("fermeture"))
        if establishment_id is None or opens_at is None or closes_at is None:
            raise ValidationFailed(_("Indiquez l'heure d'ouverture et l'heure de fermeture."), code="invalid")
        open_days.set_establishment_hours(establishment_id, opens_at, closes_at, actor=g.user)
        flash(_("Horaires de l'accueil enregistrés."), "success")
        return redirect(url_for(".index", **request.args))

    @expose("/avoir/<int:attendance_id>", methods=["POST"])
    @has_access
    @service_errors(lambda **kw: url_for("StaffAttendanceView.index", **request.args), not_found=False)
    def credit_absence(self, attendance_id: int):
        note = absence_credit.credit_justified_absence(
            attendance_id, certificate_received=request.form.get("certificat") == "1", actor=g.user)
        flash(_("Avoir %(number)s de %(amount)s accordé au foyer.", number=note.number,
                amount=euros(note.amount_cents)), "success")
        return redirect(url_for(".index", **request.args))

    @expose("/csv")
    @has_access
    @service_errors(".index")
    def csv(self):
        establishment_id = int_arg("establishment_id")
        if establishment_id is None:
            return redirect(url_for(".index"))
        year, month = _month()
        export = caf_export.caf_export(establishment_id, year, month)
        return csv_response(caf_export.caf_csv(export), f"heures-realisees-{year:04d}-{month:02d}.csv")

    @expose("/correction/<int:attendance_id>", methods=["POST"])
    @has_access
    @service_errors(lambda **kw: url_for("StaffAttendanceView.index", **request.args))
    def correct(self, attendance_id: int):
        attendance.correct_hours(attendance_id, _minutes(request.form.get("duree", "")),
                                 request.form.get("motif", ""), actor=g.user)
        flash(_("Heures corrigées."), "success")
        return redirect(url_for(".index", **request.args))

    @expose("/jour", methods=["POST"])
    @has_access
    @service_errors(lambda **kw: url_for("StaffAttendanceView.index", **request.args))
    def set_day(self):
        establishment_id = int_arg("establishment_id", request.form)
        day: date | None = date_arg("jour", request.form)
        if establishment_id is None or day is None:
            raise ValidationFailed(_("Choisissez un établissement et un jour."), code="invalid")
        open_days.set_open_day(establishment_id, day, is_open=request.form.get("ouvert") == "1",
                               opens_at=_time(request.form.get("ouverture")),
                               closes_at=_time(request.form.get("fermeture")), note=request.form.get("note", ""),
                               actor=g.user)
        flash(_("Calendrier mis à jour."), "success")
        return redirect(url_for(".index", **request.args))


class StaffAnimatorsView(BaseView):
    """Which animator covers which establishment (attendance) or circuit (boarding)."""

    route_base = "/animateurs"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        establishments = db.session.execute(select(Establishment).order_by(Establishment.name)).scalars().all()
        circuits = db.session.execute(select(Circuit).join(Period, Period.id == Circuit.period_id)
                                      .order_by(Period.starts_on.desc(), Circuit.name)).scalars().all()
        return self.render_template("staff/attendance/animators.html", title="Animateurs et affectations",
                                    animators=attendance.animators(), establishments=establishments,
                                    circuits=circuits)

    @expose("/affecter", methods=["POST"])
    @has_access
    @service_errors(".index", not_found=False)
    def assign(self):
        user_id = int_arg("user_id", request.form)
        target = (request.form.get("cible") or "").strip()
        kind, _sep, raw_id = target.partition("-")
        target_id = int_arg("id", {"id": raw_id})
        if user_id is None or target_id is None or kind not in ("etablissement", "circuit"):
            raise ValidationFailed(_("Choisissez un animateur et un établissement ou un circuit."), code="invalid")
        attendance.add_assignment(user_id, establishment_id=target_id if kind == "etablissement" else None,
                                  circuit_id=target_id if kind == "circuit" else None, actor=g.user)
        flash(_("Affectation enregistrée."), "success")
        return redirect(url_for(".index"))

    @expose("/retirer/<int:assignment_id>", methods=["POST"])
    @has_access
    @service_errors(".index", not_found=False)
    def unassign(self, assignment_id: int):
        attendance.remove_assignment(assignment_id, actor=g.user)
        flash(_("Affectation retirée."), "success")
        return redirect(url_for(".index"))


def register(appbuilder) -> None:
    appbuilder.add_view(StaffAttendanceView, "Heures réalisées (CAF)", href="/presences/", icon="fa-clock-o",
                        category=CATEGORY, category_icon="fa-check-square-o")
    appbuilder.add_link("Présences par enfant", href="/presences/enfants", icon="fa-child", category=CATEGORY)
    appbuilder.add_link("Listes du car", href="/presences/car", icon="fa-bus", category=CATEGORY)
    appbuilder.add_view(StaffAnimatorsView, "Animateurs et affectations", href="/animateurs/", icon="fa-users",
                        category=CATEGORY)
