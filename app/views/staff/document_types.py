"""Staff's settings of the proof documents (issue 19): per kind, its name as families read it, which
establishments require it and how long it stays valid (app.services.household.validity), and the list
of proofs about to expire. Thin: parse → service → redirect, or the form again with its messages."""
from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.models import DocumentKind
from app.services.errors import ServiceError
from app.services.household import checklist, validity

CATEGORY = "Familles"
FIELDS = [
    ("name", "Nom de la pièce (tel que les familles le lisent)", "text"),
    ("required_for", "Exigée pour", "select:required_for"),
    ("validity_rule", "Validité", "select:rules"),
    ("validity_months", "Durée de validité en mois (si « un nombre de mois »)", "text"),
    ("remind_days", "Rappel par courriel, jours avant l'expiration (0 : pas de rappel)", "text"),
]
CHOICES = {"required_for": list(validity.REQUIRED_FOR_LABELS.items()), "rules": list(validity.RULE_LABELS.items())}


def _rows():
    settings = validity.settings()
    return [(kind, checklist.document_label(kind), settings[kind]) for kind in DocumentKind.ALL]


class DocumentTypesView(BaseView):
    route_base = "/types-de-pieces"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("staff/document_types/index.html", rows=_rows(), rules=validity.RULE_LABELS,
                                    required_for=validity.REQUIRED_FOR_LABELS)

    @expose("/<string:kind>", methods=["GET", "POST"])
    @has_access
    def edit(self, kind):
        if kind not in DocumentKind.ALL:
            abort(404)
        current = validity.settings_for(kind)
        values = {"name": checklist.document_label(kind), "required_for": current.required_for,
                  "validity_rule": current.validity_rule, "validity_months": current.validity_months or "",
                  "remind_days": current.remind_days}
        errors: dict = {}
        if request.method == "POST":
            values = {key: value for key, value in request.form.items() if key != "csrf_token"}
            try:
                validity.save_settings(kind, values, g.user)
            except ServiceError as exc:
                flash(exc.message, "danger")
                errors = exc.details.get("errors") or {}
            else:
                flash(_("Réglages de la pièce enregistrés."), "success")
                return redirect(url_for("DocumentTypesView.index"))
        return self.render_template("staff/household_edit/form.html", title=_("Pièce : %(name)s",
                                    name=checklist.document_label(kind)), fields=FIELDS, values=values,
                                    errors=errors, household=None, choices=CHOICES,
                                    note=_("La validité compte à partir de l'envoi de la pièce. Une pièce qui expire "
                                           "avant la fin d'une semaine réservée ou demandée par la famille est "
                                           "considérée comme manquante.")), 400 if errors else 200

    @expose("/echeances")
    @has_access
    def expiring(self):
        days = 60
        return self.render_template("staff/document_types/expiring.html", entries=validity.expiring(within_days=days),
                                    days=days, label=checklist.document_label, today=validity.paris_today())


def register(appbuilder) -> None:
    appbuilder.add_view(DocumentTypesView, "Types de pièces", icon="fa-file-text-o", category=CATEGORY)
    appbuilder.add_link("Pièces bientôt expirées", href="/types-de-pieces/echeances", icon="fa-clock-o",
                        category=CATEGORY)
