"""The organiser's identity printed on every invoice, credit note and tax attestation (issue 16):
entered once by Admin. Admin only: app/security.py gives this package to Admin alone, Staff get
FAB's refusal.

GET  /organisateur/    the form, filled with what is saved
POST /organisateur/    save (CSRF); a refusal shows the form again with what was typed
"""
from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.services.errors import ServiceError
from app.services.payments.organiser import FIELDS, MAX_LOGO_BYTES, get_organiser, update_organiser


class OrganiserView(BaseView):
    route_base = "/organisateur"
    default_view = "edit"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def edit(self):
        organiser = get_organiser()
        values = {field: getattr(organiser, field) or "" for field in FIELDS}
        error = None
        if request.method == "POST":
            values = {field: (request.form.get(field) or "")[:2000] for field in FIELDS}
            upload = request.files.get("logo")
            logo = upload.stream.read(MAX_LOGO_BYTES + 1) if upload and upload.filename else None
            try:
                update_organiser(values, logo=logo, remove_logo=request.form.get("remove_logo") == "1", actor=g.user)
            except ServiceError as exc:  # unit_of_work rolled back: nothing half-saved
                error = exc.message
            else:
                flash(_("Identité de l'organisateur enregistrée : elle figure sur les prochains documents imprimés."),
                      "success")
                return redirect(url_for(".edit"))
        return self.render_template("admin/organiser.html", title="Identité de l'organisateur", values=values,
                                    has_logo=bool(organiser.logo), error=error)


def register(appbuilder) -> None:
    appbuilder.add_view(OrganiserView, "Identité de l'organisateur", href="/organisateur/", icon="fa-building",
                        category="Paiements")
