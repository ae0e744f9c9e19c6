"""The household file, as the parent fills it: household, guardians, children (health sheet,
authorised pick-up people), proof documents, submit.

Thin over app.services.household.dossier / documents: every id that comes from the URL is resolved against the
logged-in parent's household by those services (another household's id → 404, never data).
Bad input re-shows the form with the typed values and a French message under each field.
"""
from __future__ import annotations

import logging
from datetime import date

from flask import current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from app.services.errors import ServiceError
from app.services.household import checklist, documents, dossier, validity
from app.services.localize import DOCUMENT_STATUS_LABELS
from app.views.helpers import household_required, parse_id, service_errors

log = logging.getLogger(__name__)

DOCUMENTS = "ParentDossierView.documents"


def _error_response(exc: ServiceError):
    """A refusal that leaves nothing to show (another household's id, a vanished row): the file's
    own error page with the service's French reason, under the refusal's status."""
    return render_template("parent/dossier/error.html", message=exc.message), exc.http_status


def _no_household():
    """Every page of the file needs a file: without one, a 404 that says so."""
    return render_template("parent/dossier/error.html",
                           message=_("Aucun dossier famille n'est associé à ce compte.")), 404


def _form_values() -> dict:
    return {key: value for key, value in request.form.items() if key != "csrf_token"}


def _errors(exc: ServiceError) -> dict:
    return exc.details.get("errors") or {}


def _values_of(obj, fields) -> dict:
    values = {}
    for field in fields:
        value = getattr(obj, field, None)
        if isinstance(value, date):
            value = value.isoformat()
        values[field] = "" if value is None else value
    return values


class ParentDossierView(BaseView):
    route_base = "/famille/dossier"
    default_view = "overview"

    def _page(self, template: str, status: int = 200, **context):
        return self.render_template(f"parent/dossier/{template}", **context), status

    def _error_page(self, exc: ServiceError):
        return _error_response(exc)

    # --- overview and submit -----------------------------------------------------------
    @expose("/")
    @has_access
    @household_required(otherwise=_no_household)
    def overview(self, household):
        items = checklist.evaluate(household)
        return self._page("overview.html", household=household, items=items,
                          missing=[i for i in items if not i.done], links=checklist.active_links(household),
                          can_see=dossier.can_see_child_details, link_labels=dossier.LINK_LABELS,
                          status_label=dossier.status_label(household),
                          reasons=dossier.incomplete_reasons(household))

    @expose("/envoyer", methods=["POST"])
    @has_access
    @household_required(otherwise=_no_household)
    @service_errors("ParentHomeView.index", not_found=False)
    def submit(self, household):
        dossier.submit(household, actor=g.user)
        flash(_("Votre dossier a été envoyé au Pôle Jeunesse. Vous recevrez un e-mail dès qu'il aura été "
                "vérifié (sous 72 h ouvrées)."), "success")
        return redirect(url_for("ParentHomeView.index"))

    # --- household -----------------------------------------------------------------------
    @expose("/foyer", methods=["GET", "POST"])
    @has_access
    @household_required(otherwise=_no_household)
    def household(self, household):
        values, errors = _values_of(household, dossier.HOUSEHOLD_FIELDS), {}
        if request.method == "POST":
            values = _form_values()
            try:
                changed = dossier.update_household(household, values, actor=g.user)
            except ServiceError as exc:
                flash(exc.message, "danger")
                errors = _errors(exc)
            else:
                flash(_("Informations du foyer enregistrées.") if changed else _("Aucune modification."), "success")
                return redirect(url_for(".overview"))
        return self._page("household.html", 400 if errors else 200, household=household, values=values,
                          errors=errors)

    # --- guardians -----------------------------------------------------------------------
    @expose("/responsables")
    @has_access
    @household_required(otherwise=_no_household)
    def guardians(self, household):
        return self._page("guardians.html", household=household, max_guardians=dossier.MAX_GUARDIANS)

    @expose("/responsables/ajouter", methods=["GET", "POST"])
    @has_access
    @household_required(otherwise=_no_household)
    def guardian_add(self, household):
        return self._guardian_form(household, None)

    @expose("/responsables/<int:guardian_id>", methods=["GET", "POST"])
    @has_access
    @household_required(otherwise=_no_household)
    def guardian_edit(self, household, guardian_id):
        return self._guardian_form(household, guardian_id)

    def _guardian_form(self, household, guardian_id):
        try:
            guardian = dossier.household_guardian(household, guardian_id) if guardian_id else None
        except ServiceError as exc:
            return self._error_page(exc)
        values = _values_of(guardian, dossier.GUARDIAN_FIELDS) if guardian else {}
        errors = {}
        if request.method == "POST":
            values = _form_values()
            try:
                dossier.save_guardian(household, values, guardian_id=guardian_id, actor=g.user)
            except ServiceError as exc:
                flash(exc.message, "danger")
                errors = _errors(exc)
                if not errors:
                    return redirect(url_for(".guardians"))
            else:
                flash(_("Responsable légal enregistré."), "success")
                return redirect(url_for(".guardians"))
        return self._page("guardian_form.html", 400 if errors else 200, household=household, guardian=guardian,
                          values=values, errors=errors)

    @expose("/responsables/<int:guardian_id>/supprimer", methods=["POST"])
    @has_access
    @household_required(otherwise=_no_household)
    @service_errors(".guardians", not_found=_error_response)
    def guardian_remove(self, household, guardian_id):
        dossier.remove_guardian(household, guardian_id, actor=g.user)
        flash(_("Responsable légal retiré du dossier."), "success")
        return redirect(url_for(".guardians"))

    # --- children ------------------------------------------------------------------------
    @expose("/enfants/ajouter", methods=["GET", "POST"])
    @has_access
    @household_required(otherwise=_no_household)
    def child_add(self, household):
        values, errors = {"image_rights": False}, {}
        if request.method == "POST":
            values = _form_values()
            try:
                added = dossier.add_child(household, values, actor=g.user)
            except ServiceError as exc:
                flash(exc.message, "danger")
                errors = _errors(exc)
            else:
                if added.shared:
                    # Neutral until staff confirm: never tell who else has this child (issue 11).
                    flash(added.message, "info")
                    return redirect(url_for(".overview"))
                flash(_("Enfant ajouté. Complétez maintenant sa fiche sanitaire."), "success")
                return redirect(url_for(".child_health", child_id=added.link.child_id))
        return self._page("child_form.html", 400 if errors else 200, household=household, link=None,
                          identity_editable=True, values=values, errors=errors, levels=dossier.SCHOOL_LEVELS)

    @expose("/enfants/<int:child_id>", methods=["GET", "POST"])
    @has_access
    @household_required(otherwise=_no_household)
    def child_edit(self, household, child_id):
        try:
            link = dossier.visible_link(household, child_id)
        except ServiceError as exc:
            return self._error_page(exc)
        child = link.child
        values = _values_of(child, dossier.CHILD_IDENTITY_FIELDS + dossier.CHILD_SCHOOL_FIELDS)
        errors, pickup_values, pickup_errors = {}, {}, {}
        if request.method == "POST":
            values = _form_values()
            try:
                dossier.update_child(household, child_id, values, actor=g.user)
            except ServiceError as exc:
                flash(exc.message, "danger")
                errors = _errors(exc)
            else:
                flash(_("Informations de %(child)s enregistrées.", child=child.first_name), "success")
                return redirect(url_for(".child_edit", child_id=child_id))
        return self._page("child_form.html", 400 if errors else 200, household=household, link=link,
                          identity_editable=dossier.identity_editable(link), values=values, errors=errors,
                          levels=dossier.SCHOOL_LEVELS, pickup_values=pickup_values, pickup_errors=pickup_errors,
                          link_labels=dossier.LINK_LABELS)

    @expose("/enfants/<int:child_id>/retirer", methods=["POST"])
    @has_access
    @household_required(otherwise=_no_household)
    @service_errors(".overview", not_found=_error_response)
    def child_remove(self, household, child_id):
        dossier.remove_child(household, child_id, actor=g.user)
        flash(_("Enfant retiré de votre dossier."), "success")
        return redirect(url_for(".overview"))

    @expose("/enfants/<int:child_id>/sante", methods=["GET", "POST"])
    @has_access
    @household_required(otherwise=_no_household)
    def child_health(self, household, child_id):
        try:
            link = dossier.visible_link(household, child_id)
        except ServiceError as exc:
            return self._error_page(exc)
        values, errors = _values_of(link.child, dossier.HEALTH_FIELDS), {}
        if request.method == "POST":
            values = _form_values()
            try:
                dossier.update_health(household, child_id, values, actor=g.user)
            except ServiceError as exc:
                flash(exc.message, "danger")
                errors = _errors(exc)
            else:
                flash(_("Fiche sanitaire de %(child)s enregistrée.", child=link.child.first_name), "success")
                return redirect(url_for(".overview"))
        return self._page("health_form.html", 400 if errors else 200, household=household, link=link,
                          values=values, errors=errors)

    @expose("/enfants/<int:child_id>/personnes-autorisees", methods=["POST"])
    @has_access
    @household_required(otherwise=_no_household)
    def pickup_add(self, household, child_id):
        try:
            link = dossier.visible_link(household, child_id)
        except ServiceError as exc:
            return self._error_page(exc)
        values = _form_values()
        try:
            dossier.add_pickup(household, child_id, values, actor=g.user)
        except ServiceError as exc:
            flash(exc.message, "danger")
            errors = _errors(exc)
            if errors:
                return self._page("child_form.html", 400, household=household, link=link,
                                  identity_editable=dossier.identity_editable(link),
                                  values=_values_of(link.child, dossier.CHILD_IDENTITY_FIELDS
                                                    + dossier.CHILD_SCHOOL_FIELDS),
                                  errors={}, levels=dossier.SCHOOL_LEVELS, pickup_values=values,
                                  pickup_errors=errors, link_labels=dossier.LINK_LABELS)
        else:
            flash(_("Personne autorisée ajoutée."), "success")
        return redirect(url_for(".child_edit", child_id=child_id))

    @expose("/personnes-autorisees/<int:pickup_id>/supprimer", methods=["POST"])
    @has_access
    @household_required(otherwise=_no_household)
    def pickup_remove(self, household, pickup_id):
        try:
            dossier.remove_pickup(household, pickup_id, actor=g.user)
        except ServiceError as exc:
            return self._error_page(exc)
        flash(_("Personne autorisée retirée."), "success")
        # Back to the child's page the form came from (a path of this area only, never another site).
        child_id = parse_id(request.form.get("child_id"))
        return redirect(url_for(".child_edit", child_id=child_id) if child_id else url_for(".overview"))

    # --- documents -----------------------------------------------------------------------
    def _documents_page(self, household, status=200, errors=None, values=None):
        kinds = [(kind, checklist.document_label(kind)) for kind in validity.upload_kinds()]  # staff's names
        items = checklist.evaluate(household)
        required = [item for item in items if item.code.startswith("doc:")]
        return self._page("documents.html", status, household=household, kinds=kinds, required=required,
                          missing=[item for item in items if not item.done],
                          links=[link for link in checklist.active_links(household)],
                          kind_labels={**documents.KIND_LABELS, **dict(kinds)}, document_status=DOCUMENT_STATUS_LABELS,
                          errors=errors or {}, values=values or {})

    @expose("/pieces")
    @has_access
    @household_required(otherwise=_no_household)
    def documents(self, household):
        values = {key: request.args.get(key) for key in ("kind", "child_id") if request.args.get(key)}
        return self._documents_page(household, values=values)

    @expose("/pieces/envoyer", methods=["POST"])
    @has_access
    @household_required(otherwise=_no_household)
    def document_upload(self, household):
        try:
            upload = request.files.get("file")
            values = _form_values()
        except RequestEntityTooLarge:
            flash(documents.too_large_message(), "danger")
            return redirect(url_for(DOCUMENTS))
        child_id = parse_id(values.get("child_id"))
        data = upload.read(documents.MAX_BYTES + 1) if upload else b""
        name = upload.filename if upload else ""
        try:
            documents.add_document(household, values.get("kind") or "", name, data, child_id=child_id,
                                   actor=g.user)
        except ServiceError as exc:
            if exc.http_status == 404:
                return self._error_page(exc)
            flash(exc.message, "danger")
            errors = {exc.details.get("field") or "file": exc.message}
            return self._documents_page(household, 400, errors=errors, values=values)
        flash(_("Pièce envoyée : elle sera vérifiée par le Pôle Jeunesse."), "success")
        return redirect(url_for(DOCUMENTS))

    @expose("/pieces/<int:document_id>")
    @has_access
    @household_required(otherwise=_no_household)
    def document_download(self, household, document_id):
        try:
            document = documents.household_document(household.id, document_id)
            stored = documents.stored_file(document)
        except ServiceError as exc:
            return self._error_page(exc)
        response = send_file(stored.path, mimetype=stored.content_type, as_attachment=True,
                             download_name=stored.download_name, max_age=0)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @expose("/pieces/<int:document_id>/supprimer", methods=["POST"])
    @has_access
    @household_required(otherwise=_no_household)
    @service_errors(DOCUMENTS, not_found=_error_response)
    def document_remove(self, household, document_id):
        documents.delete_document(household, document_id, actor=g.user)
        flash(_("Pièce supprimée."), "success")
        return redirect(url_for(DOCUMENTS))


def _request_too_large(error):
    """A body above MAX_CONTENT_LENGTH is refused before any view runs (even before CSRF): say it in
    French and send the parent back to the upload form; nothing was stored."""
    if request.path.startswith(url_for("ParentHomeView.index")):
        flash(documents.too_large_message(), "danger")
        # A cancellation's certificate goes back to its own form (issue 14), any other upload to the documents.
        cancelling = request.path.startswith("/famille/annulation/") and request.path.count("/") == 3
        return redirect(request.path if cancelling else url_for(DOCUMENTS), code=303)
    return error


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ParentDossierView())
    current_app.register_error_handler(413, _request_too_large)
