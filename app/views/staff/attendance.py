"""Staff's side of attendance (issue 18): the CAF's « heures réalisées » per establishment and
month (screen + CSV, by age band and by QF band, with the households' scheme), the child-days
behind them with a correction form (reason required, audited), and the open days of the month
(open or close a day). Thin over app.services.operations.attendance / caf_export / open_days.
"""
from __future__ import annotations

from datetime import date, time

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Establishment, db
from app.services.errors import ValidationFailed
from app.services.operations import attendance, caf_export, open_days
from app.views.helpers import service_errors
from app.views.staff.ops_helpers import csv_response, date_arg, int_arg, today_paris

CATEGORY = "Présences"


def _month() -> tuple[int, int]:
    raw = (request.values.get("mois") or "").strip()
    try:
        year, month = (int(part) for part in raw.split("-"))
        caf_export.month_bounds(year, month)
        return year, month
    except (ValueError, ValidationFailed):
        today = today_paris()
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
        export = days = calendar = None
        if establishment_id and any(e.id == establishment_id for e in establishments):
            export = caf_export.caf_export(establishment_id, year, month)
            first, last = caf_export.month_bounds(year, month)
            days = attendance.realised_days(establishment_id, first, last)
            calendar = open_days.open_days(establishment_id, first, last)
        return self.render_template("staff/attendance/index.html", title="Présences et heures réalisées (CAF)",
                                    establishments=establishments, establishment_id=establishment_id,
                                    month=f"{year:04d}-{month:02d}", export=export, days=days, calendar=calendar)

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


def register(appbuilder) -> None:
    appbuilder.add_view(StaffAttendanceView, "Heures réalisées (CAF)", href="/presences/", icon="fa-clock-o",
                        category=CATEGORY, category_icon="fa-check-square-o")
