"""Staff edit of a household file and desk onboarding (issue 19): every field of the household, its
guardians and children, through app.services.household.staff_edit — the parent's own services, so the
same bad input gets the same French message here as on the parent's pages; dated QF records; reopen
a validated file; create a family from a paper file, send it, invite the parent or keep it desk-only.

Thin: parse → call a service → redirect, or re-show the form with the service's messages per field.
"""
from __future__ import annotations

from datetime import date

from flask import Response, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.models import DocumentKind, Household, db
from app.services.errors import NotFound, ServiceError
from app.services.household import (
    checklist,
    child_merge,
    consents,
    desk_onboarding,
    documents,
    dossier,
    quotients,
    staff_edit,
    validity,
)
from app.services.household.links import child_link
from app.services.localize import AUDIT_ACTION_LABELS, BENEFIT_SCHEME_LABELS, QUOTIENT_SOURCE_LABELS
from app.services.operations import privacy
from app.views.helpers import parse_id, service_errors

CATEGORY = "Familles"
FILE = "HouseholdFileEditView.file"

# (name, label, kind) per form; kind: text, email, tel, date, check, select:<choices attr>, area.
HOUSEHOLD_FORM = [
    ("email", "Adresse e-mail du foyer (facultative pour une famille suivie au guichet)", "email"),
    ("phone", "Téléphone du foyer", "tel"), ("address_line", "Numéro et rue", "text"),
    ("postcode", "Code postal", "text"), ("city", "Commune", "text"),
    ("caf_number", "Numéro d'allocataire CAF", "text"), ("declared_quotient", "Quotient familial déclaré", "text"),
    ("no_caf_number", "Pas de numéro d'allocataire CAF", "check"),
    ("benefit_scheme", "Régime (CAF, MSA, autre)", "select:schemes"),
    ("separated_parents", "Parents séparés", "check"),
]
GUARDIAN_FORM = [
    ("first_name", "Prénom", "text"), ("last_name", "Nom", "text"),
    ("relationship_label", "Lien (mère, père…)", "text"),
    ("phone", "Téléphone", "tel"), ("email", "E-mail", "email"), ("employer", "Employeur", "text"),
]
CHILD_FORM = [
    ("first_name", "Prénom", "text"), ("last_name", "Nom", "text"), ("birth_date", "Date de naissance", "date"),
    ("sex", "Sexe", "select:sexes"), ("school", "École", "text"), ("school_level", "Classe", "select:levels"),
    ("image_rights", "Droit à l'image accordé", "check"),
]
HEALTH_FORM = [
    ("allergies", "Allergies", "area"), ("diet", "Régime alimentaire", "text"), ("pai", "PAI", "check"),
    ("pai_details", "Détails du PAI", "area"), ("medical_notes", "Informations médicales", "area"),
    ("doctor_name", "Médecin traitant", "text"), ("doctor_phone", "Téléphone du médecin", "tel"),
    ("vaccinations_up_to_date", "Vaccinations obligatoires à jour", "check"),
]
PICKUP_FORM = [
    ("name", "Nom et prénom", "text"), ("phone", "Téléphone", "tel"),
    ("relationship_label", "Lien avec l'enfant (grand-mère, voisin…)", "text"),
]
CHOICES = {"sexes": [("F", "Fille"), ("M", "Garçon")], "levels": [(v, v) for v in dossier.SCHOOL_LEVELS],
           "sources": list(QUOTIENT_SOURCE_LABELS.items()), "schemes": list(BENEFIT_SCHEME_LABELS.items()),
           "kinds": [(kind, checklist.DOCUMENT_LABELS[kind]) for kind in DocumentKind.ALL]}


def _form_values() -> dict:
    return {key: value for key, value in request.form.items() if key != "csrf_token"}


def _values_of(obj, fields) -> dict:
    values = {}
    for name, _label, _kind in fields:
        value = getattr(obj, name, None)
        values[name] = value.isoformat() if isinstance(value, date) else ("" if value is None else value)
    return values


def _back_to_file(household_id, **_ignored) -> str:
    return url_for(FILE, household_id=household_id)


class HouseholdFileEditView(BaseView):
    route_base = "/dossiers-famille"
    default_view = "new"

    def _household(self, household_id) -> Household:
        household = db.session.get(Household, household_id)
        if household is None:
            raise NotFound(_("Dossier introuvable."), code="not_found")
        return household

    def _form(self, title, fields, values, errors, household=None, status=200, note=None):
        return self.render_template("staff/household_edit/form.html", title=title, fields=fields, values=values,
                                    errors=errors, household=household, choices=CHOICES, note=note), status

    def _edit(self, title, fields, initial, save, household=None, note=None, done=None):
        """GET shows the form; POST calls `save(values)`: a refusal re-shows the form with the
        service's messages (the same as the parent's page), a success goes back to the file."""
        values, errors = initial, {}
        if request.method == "POST":
            values = _form_values()
            try:
                result = save(values)
            except ServiceError as exc:
                if exc.http_status == 404:
                    raise
                flash(exc.message, "danger")
                errors = exc.details.get("errors") or {}
                if not errors:
                    return redirect(request.path)
            else:
                flash(done or _("Modifications enregistrées."), "success")
                target = household.id if household is not None else result.id
                return redirect(url_for(FILE, household_id=target))
        return self._form(title, fields, values, errors, household, 400 if errors else 200, note)

    # --- desk onboarding -------------------------------------------------------------------
    @expose("/nouveau", methods=["GET", "POST"])
    @has_access
    def new(self):
        return self._edit(_("Nouveau dossier famille (dossier papier)"), GUARDIAN_FORM, {},
                          lambda values: desk_onboarding.create_at_desk(values, g.user),
                          note=_("Le premier responsable légal du dossier papier. Complétez ensuite le foyer, "
                                 "les enfants et les pièces scannées."), done=_("Dossier créé."))

    @expose("/<int:household_id>")
    @has_access
    @service_errors(not_found=True)
    def file(self, household_id):
        household = self._household(household_id)
        return self.render_template(
            "staff/household_edit/file.html", household=household, items=checklist.evaluate(household),
            status_label=dossier.status_label(household), records=quotients.records_of(household.id),
            source_labels=QUOTIENT_SOURCE_LABELS, invitation=desk_onboarding.pending_invitation(household.id),
            desk_only=desk_onboarding.is_desk_only(household), choices=CHOICES, today=quotients.paris_today(),
            action_labels=AUDIT_ACTION_LABELS,
            upload_kinds=[(kind, checklist.document_label(kind)) for kind in validity.upload_kinds()],
            erase_blockers=privacy.blockers(household.id) if household.erased_at is None else [],
            answers_of={link.child_id: [a for a in consents.answers(household, link.child_id)
                                        if a.granted is not None] for link in household.child_links},
            duplicates={link.child_id: child_merge.possible_duplicates(link.child) for link in household.child_links})

    @expose("/<int:household_id>/foyer", methods=["GET", "POST"])
    @has_access
    @service_errors(not_found=True)
    def household(self, household_id):
        household = self._household(household_id)
        return self._edit(_("Foyer"), HOUSEHOLD_FORM, _values_of(household, HOUSEHOLD_FORM),
                          lambda values: staff_edit.update_household(household.id, values, g.user), household)

    @expose("/<int:household_id>/responsables/ajouter", methods=["GET", "POST"])
    @expose("/<int:household_id>/responsables/<int:guardian_id>", methods=["GET", "POST"])
    @has_access
    @service_errors(not_found=True)
    def guardian(self, household_id, guardian_id=None):
        household = self._household(household_id)
        guardian = dossier.household_guardian(household, guardian_id) if guardian_id else None
        return self._edit(_("Responsable légal"), GUARDIAN_FORM, _values_of(guardian, GUARDIAN_FORM),
                          lambda values: staff_edit.save_guardian(household.id, values, g.user, guardian_id),
                          household)

    @expose("/<int:household_id>/enfants/ajouter", methods=["GET", "POST"])
    @expose("/<int:household_id>/enfants/<int:child_id>", methods=["GET", "POST"])
    @has_access
    @service_errors(not_found=True)
    def child(self, household_id, child_id=None):
        household = self._household(household_id)
        child = child_link(household.id, child_id).child if child_id else None
        if child is None:
            return self._edit(_("Ajouter un enfant"), CHILD_FORM, {},
                              lambda values: staff_edit.add_child(household.id, values, g.user), household)
        return self._edit(_("Enfant : %(name)s", name=child.full_name), CHILD_FORM, _values_of(child, CHILD_FORM),
                          lambda values: staff_edit.update_child(household.id, child.id, values, g.user), household)

    @expose("/<int:household_id>/enfants/<int:child_id>/sante", methods=["GET", "POST"])
    @has_access
    @service_errors(not_found=True)
    def health(self, household_id, child_id):
        household = self._household(household_id)
        child = child_link(household.id, child_id).child
        return self._edit(_("Fiche sanitaire : %(name)s", name=child.full_name), HEALTH_FORM,
                          _values_of(child, HEALTH_FORM),
                          lambda values: staff_edit.update_health(household.id, child.id, values, g.user), household)

    @expose("/<int:household_id>/enfants/<int:child_id>/autorisations", methods=["GET", "POST"])
    @has_access
    @service_errors(not_found=True)
    def child_consents(self, household_id, child_id):
        """The authorisations from the family's paper form (a desk-only family has no other way)."""
        household = self._household(household_id)
        child = child_link(household.id, child_id).child
        errors: dict = {}
        values = {consents.field_name(a.question): ("oui" if a.granted else "non")
                  for a in consents.answers(household, child.id) if a.granted is not None}
        if request.method == "POST":
            values = _form_values()
            try:
                consents.set_answers(household, child.id, values, actor=g.user)
            except ServiceError as exc:
                if exc.http_status == 404:
                    raise
                flash(exc.message, "danger")
                errors = exc.details.get("errors") or {}
            else:
                flash(_("Autorisations enregistrées."), "success")
                return redirect(_back_to_file(household.id))
        return self.render_template("staff/household_edit/consents.html", household=household, child=child,
                                    answers=consents.answers(household, child.id), values=values,
                                    errors=errors, field_name=consents.field_name), 400 if errors else 200

    @expose("/<int:household_id>/enfants/<int:child_id>/personnes-autorisees", methods=["GET", "POST"])
    @has_access
    @service_errors(not_found=True)
    def pickup(self, household_id, child_id):
        household = self._household(household_id)
        child = child_link(household.id, child_id).child
        return self._edit(_("Personne autorisée à venir chercher %(name)s", name=child.full_name), PICKUP_FORM,
                          {}, lambda values: staff_edit.add_pickup(household.id, child.id, values, g.user),
                          household, done=_("Personne autorisée ajoutée."))

    # --- actions on the file ---------------------------------------------------------------
    @expose("/<int:household_id>/personnes-autorisees/<int:pickup_id>/supprimer", methods=["POST"])
    @has_access
    @service_errors(_back_to_file, not_found=False)
    def pickup_remove(self, household_id, pickup_id):
        staff_edit.remove_pickup(household_id, pickup_id, g.user)
        flash(_("Personne autorisée retirée."), "success")
        return redirect(_back_to_file(household_id))

    @expose("/<int:household_id>/responsables/<int:guardian_id>/supprimer", methods=["POST"])
    @has_access
    @service_errors(_back_to_file, not_found=False)
    def guardian_remove(self, household_id, guardian_id):
        staff_edit.remove_guardian(household_id, guardian_id, g.user)
        flash(_("Responsable légal retiré du dossier."), "success")
        return redirect(_back_to_file(household_id))

    @expose("/<int:household_id>/qf", methods=["POST"])
    @has_access
    @service_errors(_back_to_file, not_found=False)
    def quotient(self, household_id):
        quotients.record_quotient(self._household(household_id), _form_values(), g.user)
        flash(_("QF enregistré."), "success")
        return redirect(_back_to_file(household_id))

    @expose("/<int:household_id>/pieces", methods=["POST"])
    @has_access
    @service_errors(_back_to_file, not_found=False)
    def document(self, household_id):
        upload = request.files.get("file")
        documents.add_document(self._household(household_id), request.form.get("kind") or "",
                               upload.filename if upload else None, upload.read() if upload else b"",
                               child_id=parse_id(request.form.get("child_id")), actor=g.user)
        flash(_("Pièce ajoutée au dossier."), "success")
        return redirect(_back_to_file(household_id))

    @expose("/<int:household_id>/envoyer", methods=["POST"])
    @has_access
    @service_errors(_back_to_file, not_found=False)
    def submit(self, household_id):
        desk_onboarding.submit_at_desk(household_id, g.user)
        flash(_("Dossier envoyé en vérification : validez-le depuis la file des dossiers."), "success")
        return redirect(url_for("DossierReviewView.review", household_id=household_id))

    @expose("/<int:household_id>/inviter", methods=["POST"])
    @has_access
    @service_errors(_back_to_file, not_found=False)
    def invite(self, household_id):
        email = request.form.get("email")
        desk_onboarding.invite(household_id, email, g.user)
        flash(_("Invitation envoyée à %(email)s.", email=(email or "").strip().lower()), "success")
        return redirect(_back_to_file(household_id))

    @expose("/<int:household_id>/rouvrir", methods=["POST"])
    @has_access
    @service_errors(_back_to_file, not_found=False)
    def reopen(self, household_id):
        staff_edit.reopen(household_id, g.user, request.form.get("note"))
        flash(_("Dossier rouvert : il est de nouveau dans la file des dossiers à vérifier."), "success")
        return redirect(_back_to_file(household_id))

    @expose("/<int:household_id>/enfants/<int:child_id>/fusionner", methods=["POST"])
    @has_access
    @service_errors(_back_to_file, not_found=False)
    def merge_child(self, household_id, child_id):
        """Two records of the same child: this household's one is kept, the duplicate's rows move to it."""
        household = self._household(household_id)
        child_link(household.id, child_id)
        duplicate_id = parse_id(request.form.get("duplicate_id"))
        if duplicate_id is None:
            flash(_("Indiquez le numéro de la fiche en double (un nombre)."), "danger")
            return redirect(_back_to_file(household_id))
        kept = child_merge.merge(child_id, duplicate_id, g.user)
        flash(_("Fiches fusionnées : %(name)s garde ses inscriptions et celles de la fiche n° %(id)s.",
                name=kept.full_name, id=duplicate_id), "success")
        return redirect(_back_to_file(household_id))

    # --- data rights (GDPR) ----------------------------------------------------------------
    @expose("/<int:household_id>/donnees")
    @has_access
    @service_errors(_back_to_file, not_found=False)
    def export(self, household_id):
        """The same ZIP as the parent's « Mes données », for a family followed at the desk."""
        name, data = privacy.export_zip(self._household(household_id).id, actor=g.user)
        response = Response(data, mimetype="application/zip")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @expose("/<int:household_id>/effacer", methods=["POST"])
    @has_access
    @service_errors(_back_to_file, not_found=False)
    def erase(self, household_id):
        household = self._household(household_id)
        if (request.form.get("confirm") or "").strip().upper() != "EFFACER":
            flash(_("Pour effacer ce dossier, tapez EFFACER dans la case de confirmation."), "danger")
            return redirect(_back_to_file(household_id))
        privacy.erase(household.id, g.user, reason="request")
        flash(_("Les données personnelles du foyer sont effacées ; les factures et paiements restent conservés."),
              "success")
        return redirect(_back_to_file(household_id))

    @expose("/conservation")
    @has_access
    def retention(self):
        """Households past the retention period: the daily job erases them; here, why some wait."""
        return self.render_template("staff/household_edit/retention.html", due=privacy.due_for_retention(),
                                    years=privacy.retention_years())


def register(appbuilder) -> None:
    appbuilder.add_view(HouseholdFileEditView, "Nouveau dossier (guichet)", icon="fa-plus", category=CATEGORY)
    appbuilder.add_link("Conservation des données", href="/dossiers-famille/conservation", icon="fa-user-secret",
                        category=CATEGORY)
