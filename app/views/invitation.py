"""The public page of a desk invitation (issue 19): a family registered at the desk from its paper
file claims its login — once, with the invited address only — and lands in its parent area.
Thin over app.services.household.desk_onboarding. No permission declared: the token is the key
(app/security.py classifies it public)."""
from __future__ import annotations

from flask import flash, g, redirect, request
from flask_appbuilder import BaseView, expose
from flask_babel import gettext as _
from flask_login import login_user

from app.services.errors import ServiceError
from app.services.household import accounts, desk_onboarding


class InvitationClaimView(BaseView):
    route_base = "/compte/rejoindre"
    default_view = "claim"

    @expose("/<string:token>", methods=["GET", "POST"])
    def claim(self, token):
        if g.user is not None and g.user.is_authenticated:
            flash(_("Vous êtes déjà connecté : déconnectez-vous pour utiliser cette invitation."), "warning")
            return redirect("/")
        try:
            invitation = desk_onboarding.invitation_for_token(token)
        except ServiceError as exc:
            return self.render_template("auth/message.html", title=_("Lien non valable"), message=exc.message), 400
        values, errors = {}, {}
        if request.method == "POST":
            values = {key: value for key, value in request.form.items() if key != "csrf_token"}
            try:
                user = desk_onboarding.claim(token, values)
            except ServiceError as exc:
                flash(exc.message, "danger")
                errors = exc.details.get("errors") or {"email": exc.message}
            else:
                login_user(user, remember=False)
                flash(_("Votre accès est créé : vous pouvez réserver en ligne."), "success")
                return redirect("/famille/")
        values.pop("password", None)
        values.pop("conf_password", None)
        return self.render_template("auth/claim.html", household=invitation.household, values=values,
                                    errors=errors, min_length=accounts.PASSWORD_MIN_LENGTH), (400 if errors else 200)


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(InvitationClaimView)
