"""The yearly QF renewal campaign, staff's side (issue 19): start one (name, deadline, a few words for
the mail) and follow how many families answered. Thin over app.services.household.qf_campaign."""
from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import ngettext

from app.services.errors import ServiceError
from app.services.household import qf_campaign


class QfCampaignView(BaseView):
    route_base = "/campagne-qf"
    default_view = "index"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def index(self):
        values: dict = {}
        errors: dict = {}
        status = 200
        if request.method == "POST":
            values = {key: value for key, value in request.form.items() if key != "csrf_token"}
            try:
                campaign = qf_campaign.start(values, g.user)
            except ServiceError as exc:
                flash(exc.message, "danger")
                errors, status = exc.details.get("errors") or {}, 400
            else:
                flash(ngettext("Campagne lancée : %(num)d famille a été sollicitée.",
                               "Campagne lancée : %(num)d familles ont été sollicitées.", campaign.households_asked),
                      "success")
                return redirect(url_for("QfCampaignView.index"))
        return self.render_template("staff/qf_campaign/index.html", campaigns=qf_campaign.progress(), values=values,
                                    errors=errors, title=_("Renouvellement du quotient familial")), status


def register(appbuilder) -> None:
    appbuilder.add_view(QfCampaignView, "Renouvellement du QF", icon="fa-refresh", category="Familles")
