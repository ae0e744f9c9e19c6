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
    kinds = list(DocumentKind.ALL) + [kind for kind, s in settings.items() if s.custom]
    return [(kind, checklist.document_label(kind), settings[kind]) for kind in kinds]


def _known(kind: str) -> bool:
    return kind in DocumentKind.ALL or validity.settings_for(kind).custom


class DocumentTypesView(BaseView):
    route_base = "/types-de-pieces"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        return self.render_template("staff/document_types/index.html", rows=_rows(), rules=validity.RULE_LABELS,
                                    required_for=validity.REQUIRED_FOR_LABELS)

    @expose("/ajouter", methods=["GET", "POST"])
    @has_access
    def add(self):
        """A kind of proof staff add: asked of every family (or per child) like the built-in ones."""
        values: dict = {"required_for": "all", "validity_rule": "none", "remind_days": 30}
        errors: dict = {}
        if request.method == "POST":
            values = {key: value for key, value in request.form.items() if key != "csrf_token"}
            try:
                validity.add_custom_type(values, g.user)
            except ServiceError as exc:
                flash(exc.message, "danger")
                errors = exc.details.get("errors") or {}
            else:
                flash(_("Type de pièce ajouté : les familles concernées le verront dans leur dossier."), "success")
                return redirect(url_for("DocumentTypesView.index"))
        return self.render_template("staff/household_edit/form.html", title=_("Nouveau type de pièce"),
                                    fields=FIELDS[:1] + [("per_child", "Une pièce par enfant", "check")] + FIELDS[1:],
                                    values=values, errors=errors, household=None, choices=CHOICES,
                                    note=None), 400 if errors else 200

    @expose("/<string:kind>", methods=["GET", "POST"])
    @has_access
    def edit(self, kind):
        if not _known(kind):
            abort(404)
        current = validity.settings_for(kind)
        values = {"name": checklist.document_label(kind), "required_for": current.required_for,
                  "validity_rule": current.validity_rule, "validity_months": current.validity_months or "",
                  "remind_days": current.remind_days, "active": current.active}
        fields = FIELDS + ([("active", "Pièce demandée aux familles", "check")] if current.custom else [])
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
                                    name=checklist.document_label(kind)), fields=fields, values=values,
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
