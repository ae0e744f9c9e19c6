"""Staff's side of a wish campaign (issue 15): the published priority rules, the dry run, the
publication and the CSV of the allocation. The same services as the CLI `flask --app run allocate`.

/attribution/                                 periods opened by wishes: window, wishes so far, published or not
/attribution/periode/<id>                     rules (editable until the window opens), dry run with a public value
                                              (?valeur=…, read only: nothing is written), publication
POST /attribution/periode/<id>/regles         save the criteria and points (refused once frozen)
POST /attribution/periode/<id>/publier        publish with the public value (offers, waiting lists, mails, audit)
/attribution/periode/<id>/csv                 the published allocation, one line per wish
"""
from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.models import db
from app.services.booking import allocation_reads, allocation_run, wishes
from app.services.errors import NotFound, ServiceError
from app.services.operations import csv_export

from .ops_helpers import csv_response
from .wishes_fields import OPENING_MODE_LABELS

REASON_LABELS = {"full": "complet", "group_no_room": "pas de place pour toute la fratrie", "bus_full": "bus complet",
                 "group_member": "fratrie « ensemble » incomplète", "max_reached": "maximum par enfant atteint",
                 "already_given": "semaine déjà obtenue"}


class StaffAllocationView(BaseView):
    route_base = "/attribution"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("staff/allocation/index.html", campaigns=allocation_reads.staff_campaigns(),
                                    title=_("Attribution sur vœux"), modes=OPENING_MODE_LABELS)

    @expose("/periode/<int:period_id>")
    @has_access
    def period(self, period_id: int):
        try:
            state = allocation_reads.staff_campaign(period_id)
        except NotFound:
            abort(404)
        value = (request.args.get("valeur") or "").strip()[:500]
        report = None
        error = None
        if request.args.get("essai") is not None and state["run"] is None:
            try:
                report = allocation_reads.dry_run_report(allocation_run.dry_run(period_id, value or None,
                                                                                 actor=g.user))
            except ServiceError as exc:
                db.session.rollback()
                error = exc.message
        return self.render_template("staff/allocation/period.html", state=state, report=report, value=value,
                                    error=error, reasons=REASON_LABELS,
                                    title=_("Attribution — %(period)s", period=state["period"].name))

    @expose("/periode/<int:period_id>/regles", methods=["POST"])
    @has_access
    def rules(self, period_id: int):
        try:
            wishes.save_rules(period_id, request.form.to_dict(), actor=g.user)
            flash(_("Règles d'attribution enregistrées : elles sont publiées sur la page « Règles d'attribution »."),
                  "success")
        except NotFound:
            abort(404)
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        return redirect(url_for(".period", period_id=period_id))

    @expose("/periode/<int:period_id>/publier", methods=["POST"])
    @has_access
    def publish(self, period_id: int):
        value = (request.form.get("public_value") or "").strip()[:500]
        if not request.form.get("confirm"):
            flash(_("Cochez la case de confirmation : la publication est définitive."), "danger")
            return redirect(url_for(".period", period_id=period_id, valeur=value, essai=1))
        try:
            run = allocation_run.publish(period_id, value, actor=g.user)
            flash(_("Attribution publiée (graine %(seed)s) : les familles reçoivent leur résultat par e-mail.",
                    seed=run.seed[:12] + "…"), "success")
        except NotFound:
            abort(404)
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        return redirect(url_for(".period", period_id=period_id))

    @expose("/periode/<int:period_id>/csv")
    @has_access
    def csv(self, period_id: int):
        try:
            rows = allocation_reads.csv_rows(period_id)
        except NotFound:
            abort(404)
        return csv_response(csv_export.to_csv(allocation_reads.CSV_HEADER, rows), f"attribution-{period_id}.csv")


def register(appbuilder) -> None:
    appbuilder.add_view(StaffAllocationView, "Attribution sur vœux", href="/attribution/", icon="fa-random",
                        category="Suivi")
