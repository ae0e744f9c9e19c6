"""Staff's waiting lists: occupancy with the lists per period (and its offer rules), each week's list
in order with offers and outcomes, CSV, a manual offer or a removal with a reason (audited).

/listes-attente/                         a period's weeks: capacity, taken (offers included), waiting, offered
/listes-attente/semaine/<week>           the week's list: rank, child, household, transport, joined at, offers
/listes-attente/semaine/<week>/csv       the same as CSV (operations' CSV rules: BOM, « ; », no formula)
POST /listes-attente/entree/<id>/proposer|retirer   with a reason
POST /listes-attente/periode/<id>/reglages          offer hours and cut-off days
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.models import WaitlistEntry, db
from app.services.booking import waitlist
from app.services.errors import NotFound, ServiceError
from app.services.operations import csv_export
from app.views.helpers import parse_id

from .ops_helpers import csv_response, filter_choices, int_arg, paris_today

OUTCOME_LABELS = {"pending": "en cours", "accepted": "payée", "lapsed": "délai dépassé", "declined": "refusée",
                  "withdrawn": "retirée"}
STATUS_LABELS = {"waiting": "en attente", "offered": "place proposée", "accepted": "inscrit",
                 "lapsed": "délai dépassé", "withdrawn": "retiré", "closed": "close"}


class StaffWaitlistView(BaseView):
    route_base = "/listes-attente"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        establishment_id = int_arg("establishment_id")
        choices = filter_choices(establishment_id, None)
        period_id = int_arg("period_id")
        if not period_id:
            current = [p for p in choices["periods"] if p.ends_on >= paris_today()]
            period_id = min(current, key=lambda p: (p.starts_on, p.id)).id if current else (
                choices["periods"][0].id if choices["periods"] else None)
        overview = None
        if period_id:
            try:
                overview = waitlist.period_overview(period_id)
            except NotFound:
                abort(404)
        return self.render_template("staff/waitlist/index.html", choices=choices, period_id=period_id,
                                    establishment_id=establishment_id, overview=overview,
                                    title=_("Listes d'attente"))

    @expose("/semaine/<int:week_id>")
    @has_access
    def week(self, week_id: int):
        try:
            data = waitlist.week_queue(week_id)
        except NotFound:
            abort(404)
        return self.render_template("staff/waitlist/week.html", data=data, outcomes=OUTCOME_LABELS,
                                    statuses=STATUS_LABELS, title=_("Liste d'attente — %(week)s",
                                                                    week=data["week"].label))

    @expose("/semaine/<int:week_id>/csv")
    @has_access
    def week_csv(self, week_id: int):
        try:
            rows = waitlist.queue_rows(week_id)
        except NotFound:
            abort(404)
        return csv_response(csv_export.to_csv(waitlist.QUEUE_CSV_HEADER, rows), f"liste-attente-{week_id}.csv")

    @expose("/entree/<int:entry_id>/<action>", methods=["POST"])
    @has_access
    def act(self, entry_id: int, action: str):
        entry = db.session.get(WaitlistEntry, parse_id(entry_id) or 0)
        if entry is None or action not in ("proposer", "retirer"):
            abort(404)
        week_id = entry.week_id
        reason = (request.form.get("reason") or "").strip()[:1000]
        try:
            if action == "proposer":
                waitlist.manual_offer(entry_id, actor=g.user, reason=reason)
                flash(_("Une place a été proposée à cette famille (e-mail envoyé)."), "success")
            else:
                waitlist.remove_entry(entry_id, actor=g.user, reason=reason)
                flash(_("L'inscription a été retirée de la liste d'attente."), "success")
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        return redirect(url_for(".week", week_id=week_id))

    @expose("/periode/<int:period_id>/reglages", methods=["POST"])
    @has_access
    def settings(self, period_id: int):
        try:
            waitlist.save_settings(period_id, request.form.get("offer_hours"), request.form.get("cutoff_days"),
                                   actor=g.user)
            flash(_("Règles des listes d'attente enregistrées."), "success")
        except NotFound:
            abort(404)
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        return redirect(url_for(".index", period_id=period_id))


def register(appbuilder) -> None:
    appbuilder.add_view(StaffWaitlistView, "Listes d'attente", href="/listes-attente/", icon="fa-hourglass-half",
                        category="Suivi")
