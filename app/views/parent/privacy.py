"""« Mes données » (GDPR, issue 19): the parent downloads the household's data (a ZIP: foyer.json and
every document) and asks for its erasure, which staff carry out once nothing stands in the way.
Thin over app.services.operations.privacy; the same two actions are in the parent API
(app/api/privacy.py)."""
from __future__ import annotations

from flask import Response, flash, g, redirect, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.services.operations import privacy
from app.views.helpers import household_required, service_errors

INDEX = "ParentPrivacyView.index"


def zip_response(name: str, data: bytes) -> Response:
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


class ParentPrivacyView(BaseView):
    route_base = "/famille/donnees"
    default_view = "index"

    @expose("/")
    @has_access
    @household_required
    def index(self, household):
        return self.render_template("parent/privacy/index.html", household=household,
                                    reasons=privacy.blockers(household.id), years=privacy.retention_years())

    @expose("/telecharger")
    @has_access
    @household_required
    @service_errors(INDEX)
    def export(self, household):
        name, data = privacy.export_zip(household.id, actor=g.user)
        return zip_response(name, data)

    @expose("/effacement", methods=["POST"])
    @has_access
    @household_required
    @service_errors(INDEX)
    def erasure_request(self, household):
        privacy.request_erasure(household.id, g.user)
        flash(_("Votre demande d'effacement est transmise au Pôle Jeunesse, qui vous répondra par courriel."),
              "success")
        return redirect(url_for(INDEX))


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentPrivacyView())
