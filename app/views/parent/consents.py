"""« Autorisations » of a child (issue 19): the parent answers staff's consent questions yes or no.
Thin over app.services.household.consents; the API twin is PUT
/api/v1/portal/dossier/children/<id>/consents (app/api/consents.py). Another household's child: 404."""
from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.services.errors import ServiceError
from app.services.household import consents
from app.services.household.links import child_link
from app.views.helpers import household_required, service_errors


class ParentConsentsView(BaseView):
    route_base = "/famille/autorisations"
    default_view = "child"

    @expose("/<int:child_id>", methods=["GET", "POST"])
    @has_access
    @household_required
    @service_errors(not_found=True)
    def child(self, household, child_id):
        link = child_link(household.id, child_id)
        answers = consents.answers(household, child_id)
        values = {consents.field_name(a.question): ("oui" if a.granted else "non") for a in answers
                  if a.granted is not None}
        errors: dict = {}
        status = 200
        if request.method == "POST":
            values = {key: value for key, value in request.form.items() if key != "csrf_token"}
            try:
                consents.set_answers(household, child_id, values, actor=g.user)
            except ServiceError as exc:
                if exc.http_status == 404:
                    raise
                flash(exc.message, "danger")
                errors, status = exc.details.get("errors") or {}, 400
            else:
                flash(_("Autorisations enregistrées."), "success")
                return redirect(url_for("ParentDossierView.overview"))
        return self.render_template("parent/consents/form.html", link=link, answers=answers, values=values,
                                    errors=errors, field_name=consents.field_name), status


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentConsentsView())
