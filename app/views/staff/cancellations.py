"""Staff screens of issue 14: late cancellation requests, the periods' published cancellation rules,
and the households' credit accounts (avoirs). Thin over the cancellation and credit services, which
audit and mail every change.

/annulations/                                    pending requests (oldest first), justification inline
POST /annulations/demande/<id>/accepter|refuser  decide (a refusal needs its reason, mailed)
/annulations/regles                              each period's rules; POST …/regles/<period> to change
/annulations/avoirs                              households with a credit balance; find one by file n°
/annulations/avoirs/<household>                  its account; POST …/accorder|retirer|rembourser-carte|
                                                 rembourser-regie with an amount and a reason
"""
from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.models import CancellationOutcome, Household, Period, db
from app.services.booking import cancellation as rules_service
from app.services.errors import ValidationFailed
from app.services.payments import credits
from app.services.payments.cancellations import decide_request
from app.services.transactions import unit_of_work
from app.views.helpers import parse_id, service_errors

from .ops_helpers import paris_today

CATEGORY = "Paiements"
OUTCOME_LABELS = {CancellationOutcome.CREDIT: "un avoir", CancellationOutcome.REFUND: "un remboursement sur la carte"}
CREDIT_ACTIONS = {
    "accorder": (credits.grant, "Avoir accordé."),
    "retirer": (credits.withdraw, "Avoir retiré."),
    "rembourser-carte": (credits.refund_to_card, "Remboursement sur la carte demandé."),
    "rembourser-regie": (credits.refund_by_regie, "Remboursement par la régie enregistré."),
}


CANCEL_DONE = {"refund": "Inscription annulée : la place est libérée et le remboursement est lancé.",
               "credit": "Inscription annulée : la place est libérée et un avoir est crédité à la famille.",
               "none": "Inscription annulée : la place est libérée."}


def cancel_outcome(form) -> str:
    """The staff cancel forms' choice: « outcome » (refund, credit, none), or the older « refund » box."""
    outcome = form.get("outcome")
    if outcome in CANCEL_DONE:
        return outcome
    return "refund" if form.get("refund") in ("1", "on", "y") else "none"


def _cents(text: str | None) -> int:
    """« 12,50 » or « 12.50 » euros → 1250 cents; anything else is a clear French refusal."""
    raw = (text or "").strip().replace("\u00a0", "").replace(" ", "").replace("€", "").replace(",", ".")
    try:
        whole, _dot, frac = raw.partition(".")
        if not whole.isascii() or not whole.isdigit() or (frac and (not frac.isascii() or not frac.isdigit()
                                                                     or len(frac) > 2)):
            raise ValueError
        return int(whole) * 100 + int((frac + "00")[:2])
    except ValueError:
        raise ValidationFailed(_("Indiquez un montant en euros, par exemple 12,50."), code="invalid_amount") from None


class StaffCancellationsView(BaseView):
    route_base = "/annulations"
    default_view = "queue"

    @expose("/")
    @has_access
    def queue(self):
        requests = rules_service.pending_requests()
        return self.render_template("staff/cancellations/queue.html", requests=requests,
                                    outcomes=OUTCOME_LABELS, rules_for=rules_service.rules_for,
                                    title=_("Demandes d'annulation"))

    @expose("/demande/<int:request_id>/<action>", methods=["POST"])
    @has_access
    @service_errors(".queue", not_found=False)
    def decide(self, request_id: int, action: str):
        if action not in ("accepter", "refuser"):
            abort(404)
        result = decide_request(request_id, accept=action == "accepter", note=request.form.get("note"),
                                actor=g.user)
        if result.outcome == "refused":
            flash(_("Demande refusée : la famille en est informée par e-mail."), "success")
        else:
            flash(_("Demande acceptée : %(message)s", message=result.message), "success")
        return redirect(url_for(".queue"))

    # --- the periods' rules ----------------------------------------------------------------------

    @expose("/regles")
    @has_access
    def rules(self):
        since = paris_today() - timedelta(days=60)
        periods = db.session.execute(
            select(Period).options(joinedload(Period.establishment)).where(Period.ends_on >= since)
            .order_by(Period.starts_on, Period.id)).scalars().all()
        return self.render_template("staff/cancellations/rules.html",
                                    periods=[(p, rules_service.rules_for(p.id)) for p in periods],
                                    outcomes=OUTCOME_LABELS, sentence=rules_service.rule_sentence,
                                    today=paris_today(), title=_("Règles d'annulation des périodes"))

    @expose("/regles/<int:period_id>", methods=["POST"])
    @has_access
    @service_errors(".rules", not_found=False)
    def save_rules(self, period_id: int):
        with unit_of_work():
            rules_service.set_rules(period_id, free_days_before=request.form.get("free_days_before"),
                                    late_with_justification=request.form.get("late_with_justification") == "1",
                                    outcome=request.form.get("outcome") or "", actor=g.user)
        flash(_("Règles d'annulation enregistrées : elles s'appliquent aux annulations à venir."), "success")
        return redirect(url_for(".rules"))

    # --- credit accounts ----------------------------------------------------------------------

    @expose("/avoirs")
    @has_access
    def accounts(self):
        wanted = request.args.get("famille")
        if wanted:
            household_id = parse_id(wanted)
            if household_id is not None and db.session.get(Household, household_id) is not None:
                return redirect(url_for(".account", household_id=household_id))
            flash(_("Aucun dossier famille n° %(number)s.", number=wanted[:20]), "warning")
        return self.render_template("staff/cancellations/accounts.html", rows=credits.households_with_credit(),
                                    title=_("Avoirs des familles"))

    @expose("/avoirs/<int:household_id>")
    @has_access
    def account(self, household_id: int):
        household = db.session.get(Household, household_id)
        if household is None:
            abort(404)
        return self.render_template("staff/cancellations/account.html", household=household,
                                    account=credits.account(household.id),
                                    title=_("Avoirs — %(name)s", name=household.name))

    @expose("/avoirs/<int:household_id>/<action>", methods=["POST"])
    @has_access
    @service_errors(".account", not_found=False)
    def credit_action(self, household_id: int, action: str):
        if action not in CREDIT_ACTIONS or db.session.get(Household, household_id) is None:
            abort(404)
        func, done = CREDIT_ACTIONS[action]
        func(household_id, _cents(request.form.get("amount")), request.form.get("reason") or "", actor=g.user)
        flash(_(done), "success")
        return redirect(url_for(".account", household_id=household_id))


def register(appbuilder) -> None:
    appbuilder.add_view(StaffCancellationsView, "Demandes d'annulation", href="/annulations/", icon="fa-ban",
                        category=CATEGORY)
    appbuilder.add_link("Règles d'annulation", href="/annulations/regles", icon="fa-gavel", category=CATEGORY,
                        baseview=StaffCancellationsView)
    appbuilder.add_link("Avoirs des familles", href="/annulations/avoirs", icon="fa-ticket", category=CATEGORY,
                        baseview=StaffCancellationsView)
