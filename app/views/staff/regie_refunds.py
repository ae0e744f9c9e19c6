"""Staff screens of the régie for PayFiP: the refunds it must pay by hand (PayFiP has no refund
call) and the daily reconciliation of PayFiP operations against the portal's payments.

GET  /regie/remboursements                       the tasks, open ones first (?statut=…)
POST /regie/remboursements/<id>/rib-demande      bank details asked for
POST /regie/remboursements/<id>/effectue         transfer made (note required): who and when kept
GET  /regie/rapprochement?jour=AAAA-MM-JJ        the day's PayFiP operations, PayFiP beside portal
POST /regie/rapprochement/<payment_id>/relire    read the operation back and fulfil like a notification

Thin over app.services.payments.regie; every change is a CSRF-protected POST, audited there.
"""
from __future__ import annotations

from datetime import date

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.services.localize import PAYMENT_STATUS_LABELS, paris_today
from app.services.payments import regie
from app.views.helpers import service_errors

CATEGORY = "Paiements"
TASK_STATUS_LABELS = {"todo": "À effectuer (RIB à demander)", "details_requested": "RIB demandé",
                      "done": "Effectué"}
PAYFIP_STATUS_LABELS = {"paid": "Payé", "failed": "Refusé", "expired": "Abandonné ou expiré",
                        "open": "Résultat non connu", None: "Pas de réponse"}


def _day(text: str | None) -> date:
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        return paris_today()


class StaffRegieView(BaseView):
    route_base = "/regie"
    default_view = "refunds"

    @expose("/remboursements")
    @has_access
    def refunds(self):
        status = request.args.get("statut") or "open"
        tasks = regie.list_tasks(status=status)
        return self.render_template("staff/regie/refunds.html", tasks=tasks, status=status,
                                    labels=TASK_STATUS_LABELS, totals=regie.regie_refund_totals(),
                                    title="Remboursements à effectuer par la régie")

    @expose("/remboursements/<int:task_id>/rib-demande", methods=["POST"])
    @has_access
    @service_errors(".refunds")
    def details_requested(self, task_id: int):
        regie.mark_details_requested(task_id, actor=g.user)
        flash(_("Demande de RIB notée."), "success")
        return redirect(url_for(".refunds"))

    @expose("/remboursements/<int:task_id>/effectue", methods=["POST"])
    @has_access
    @service_errors(".refunds")
    def done(self, task_id: int):
        regie.mark_done(task_id, request.form.get("note") or "", actor=g.user)
        flash(_("Remboursement marqué effectué."), "success")
        return redirect(url_for(".refunds"))

    @expose("/rapprochement")
    @has_access
    def reconciliation(self):
        day = _day(request.args.get("jour"))
        rows = regie.reconciliation(day)
        return self.render_template("staff/regie/reconciliation.html", rows=rows, day=day,
                                    status_fr=PAYMENT_STATUS_LABELS, payfip_fr=PAYFIP_STATUS_LABELS,
                                    differences=sum(1 for row in rows if row.difference),
                                    title="Rapprochement PayFiP")

    @expose("/rapprochement/<int:payment_id>/relire", methods=["POST"])
    @has_access
    @service_errors(".reconciliation")
    def recheck(self, payment_id: int):
        result = regie.recheck(payment_id)
        flash(_("Opération relue chez PayFiP (%(status)s).", status=result.outcome or result.status), "success")
        return redirect(url_for(".reconciliation", jour=request.form.get("jour") or None))


def register(appbuilder) -> None:
    appbuilder.add_view(StaffRegieView, "Remboursements régie (PayFiP)", href="/regie/remboursements",
                        icon="fa-university", category=CATEGORY)
    appbuilder.add_link("Rapprochement PayFiP", href="/regie/rapprochement", icon="fa-balance-scale",
                        category=CATEGORY)
