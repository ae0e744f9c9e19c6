"""/animateur/…: thin pages over app.services.operations.attendance and .boarding.

/animateur/                                   this week's days for each establishment and circuit assigned
/animateur/presences/<establishment>/<day>    attendance sheet (offline-capable)
/animateur/car/<circuit>/<day>/<leg>          the driver's list in route order (offline-capable)
/animateur/sw.js                              the service worker, served here so that its scope is /animateur/

Every tick goes through the sync API from app/static/animator.js (one path, online or offline).
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import Response, abort, current_app, g
from flask_appbuilder import BaseView, expose, has_access

from app.models import AbsenceReason, BoardingLeg
from app.services.operations import attendance, boarding, open_days
from app.views.helpers import parse_id, service_errors

ABSENCE_LABELS = {AbsenceReason.JUSTIFIED: "Justifiée (certificat)", AbsenceReason.UNJUSTIFIED: "Non justifiée"}


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(404)


def _id(value) -> int:
    number = parse_id(value)
    if number is None:
        abort(404)
    return number


class AnimatorPagesView(BaseView):
    route_base = "/animateur"
    default_view = "home"

    @expose("/")
    @has_access
    def home(self):
        today = attendance.paris_today()
        mine = attendance.assignments(g.user.id)
        establishments = [(e, open_days.week_open_days(e.id, today)) for e in mine.establishments]
        circuits = [(c, [d for d in open_days.week_open_days(c.period.establishment_id, today) if d.is_open])
                    for c in mine.circuits]
        return self.render_template("animator/home.html", establishments=establishments, circuits=circuits,
                                    today=today, legs=boarding.LEG_LABELS)

    @expose("/presences/<establishment_id>/<day>")
    @has_access
    @service_errors()
    def sheet(self, establishment_id: str, day: str):
        sheet = attendance.day_sheet(_id(establishment_id), _day(day), user_id=g.user.id)
        return self.render_template("animator/attendance.html", sheet=sheet, absence_labels=ABSENCE_LABELS)

    @expose("/car/<circuit_id>/<day>/<leg>")
    @has_access
    @service_errors()
    def bus(self, circuit_id: str, day: str, leg: str):
        if leg not in BoardingLeg.ALL:
            abort(404)
        sheet = boarding.boarding_sheet(_id(circuit_id), _day(day), leg, user_id=g.user.id)
        return self.render_template("animator/boarding.html", sheet=sheet)

    @expose("/sw.js")
    def service_worker(self):
        """Public like any static file; served from /animateur/ so that it may control these pages."""
        script = Path(current_app.static_folder or "", "animator-sw.js").read_text(encoding="utf-8")
        response = Response(script, mimetype="text/javascript")
        response.headers["Cache-Control"] = "no-cache"
        return response


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(AnimatorPagesView)
