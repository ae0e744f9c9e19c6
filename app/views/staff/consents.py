"""Staff's authorisation questions (issue 19): the consent questions families answer per child, for
every establishment or one kind (app.services.household.consents). Thin."""
from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.models import ConsentQuestion, db
from app.services.errors import ServiceError
from app.services.household import consents

FIELDS = [
    ("label", "Question (telle que les familles la lisent)", "text"),
    ("help_text", "Précision (facultative)", "area"),
    ("establishment_kind", "Posée pour", "select:kinds"),
    ("on_bus_list", "Afficher la réponse sur les listes de car (ex. « descend seul à l'arrêt »)", "check"),
    ("position", "Ordre d'affichage (0 en premier)", "text"),
]
CHOICES = {"kinds": list(consents.KIND_LABELS.items())}


class ConsentQuestionsView(BaseView):
    route_base = "/autorisations"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("staff/consents/index.html", questions=consents.questions(active_only=False),
                                    kinds=consents.KIND_LABELS)

    @expose("/ajouter", methods=["GET", "POST"])
    @expose("/<int:question_id>", methods=["GET", "POST"])
    @has_access
    def edit(self, question_id=None):
        question = db.session.get(ConsentQuestion, question_id) if question_id else None
        if question_id and question is None:
            return self.render_template("staff/consents/index.html", questions=consents.questions(False),
                                        kinds=consents.KIND_LABELS), 404
        fields = FIELDS + ([("active", "Question posée aux familles", "check")] if question else [])
        values = {name: getattr(question, name) for name, _l, _k in fields} if question else {"position": 0}
        values = {k: ("" if v is None else v) for k, v in values.items()}
        errors: dict = {}
        if request.method == "POST":
            values = {key: value for key, value in request.form.items() if key != "csrf_token"}
            try:
                consents.save_question(values, g.user, question_id)
            except ServiceError as exc:
                flash(exc.message, "danger")
                errors = exc.details.get("errors") or {}
            else:
                flash(_("Question enregistrée."), "success")
                return redirect(url_for("ConsentQuestionsView.index"))
        return self.render_template("staff/household_edit/form.html",
                                    title=_("Question d'autorisation") if question else _("Nouvelle question"),
                                    fields=fields, values=values, errors=errors, household=None, choices=CHOICES,
                                    note=_("Les familles répondent oui ou non pour chaque enfant, depuis leur "
                                           "dossier ; la date de la réponse est gardée.")), 400 if errors else 200


def register(appbuilder) -> None:
    appbuilder.add_view(ConsentQuestionsView, "Autorisations demandées", icon="fa-check-square-o", category="Familles")
