"""Public account pages (issue 3): the login page, parent sign-up confirmed by mail, password reset,
and the French page for throttled forms. Thin over app.services.household.accounts.

The two views keep Flask-AppBuilder's class names on purpose: endpoints are named after classes, and
the portal's public endpoints are known as `AuthDBView.*` and `RegisterUserDBView.*` (see
tests/test_foundation.py). `PortalSecurityManager` (app/security.py) plugs them in.
"""
from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.security.views import AuthDBView as _FabAuthDBView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _
from flask_login import login_user


class AuthDBView(_FabAuthDBView):
    """FAB's login, on a phone-first French page that says the login is the e-mail address.
    A wrong password shows the form again with the e-mail kept (FAB's redirect would lose it)."""

    login_template = "auth/login.html"
    title = "Connexion"

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        next_arg = request.args.get("next")
        if g.user is not None and g.user.is_authenticated:
            return redirect(get_safe_redirect(next_arg) if next_arg else self.appbuilder.get_url_for_index)
        form = LoginForm_db()
        if form.validate_on_submit():
            user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            if user:
                login_user(user, remember=False)
                return redirect(get_safe_redirect(next_arg) if next_arg else self.appbuilder.get_url_for_index)
            flash(_("Identifiant ou mot de passe incorrect. Veuillez réessayer."), "warning")
        return self.render_template(self.login_template, title=self.title, form=form, appbuilder=self.appbuilder)


class RegisterUserDBView(BaseView):
    """Public pages: create a parent account, confirm it from the mail, reset a forgotten password.
    Thin over app.services.household.accounts (the rules and mails live there)."""

    route_base = "/compte"
    default_view = "signup"

    def _render(self, template: str, **context):
        return self.render_template(template, **context)

    @expose("/creer", methods=["GET", "POST"])
    def signup(self):
        from app.services.household import accounts
        from app.services.errors import ServiceError

        if g.user is not None and g.user.is_authenticated:
            return redirect("/")
        values, errors = {}, {}
        if request.method == "POST":
            values = request.form.to_dict()
            try:
                result = accounts.register_parent(values)
            except ServiceError as exc:
                errors = exc.details.get("errors") or {"_": exc.message}
                flash(exc.message, "danger")
            else:
                return self._render("auth/signup_sent.html", email=result.email)
        values.pop("password", None)
        values.pop("conf_password", None)
        return self._render("auth/signup.html", values=values, errors=errors,
                            min_length=accounts.PASSWORD_MIN_LENGTH), (400 if errors else 200)

    @expose("/confirmer/<string:token>")
    def confirm(self, token):
        from app.services.household import accounts
        from app.services.errors import ServiceError

        try:
            user = accounts.confirm_registration(token)
        except ServiceError as exc:
            return self._render("auth/message.html", title=_("Lien non valable"), message=exc.message), 400
        login_user(user, remember=False)
        flash(_("Votre compte est activé. Complétez maintenant votre dossier famille."), "success")
        return redirect("/famille/")

    @expose("/mot-de-passe-oublie", methods=["GET", "POST"])
    def forgot(self):
        from app.services.household import accounts
        from app.services.errors import ServiceError

        errors = {}
        email = ""
        if request.method == "POST":
            email = (request.form.get("email") or "").strip()
            try:
                accounts.request_password_reset(email)
            except ServiceError as exc:
                errors = exc.details.get("errors") or {"email": exc.message}
            else:
                return self._render("auth/message.html", title=_("Vérifiez votre messagerie"), message=_(
                    "Si un compte existe pour cette adresse, un e-mail vient de vous être envoyé avec un lien "
                    "pour choisir un nouveau mot de passe. Ce lien est valable %(minutes)d minutes.",
                    minutes=accounts.reset_max_age() // 60))
        return self._render("auth/forgot.html", email=email, errors=errors), (400 if errors else 200)

    @expose("/nouveau-mot-de-passe/<string:token>", methods=["GET", "POST"])
    def reset(self, token):
        from app.services.household import accounts
        from app.services.errors import ServiceError

        try:
            accounts.user_for_reset_token(token)
        except ServiceError as exc:
            return self._render("auth/message.html", title=_("Lien non valable"), message=exc.message,
                                forgot_link=True), 400
        errors = {}
        if request.method == "POST":
            try:
                accounts.reset_password(token, request.form.get("password") or "",
                                        request.form.get("conf_password") or "")
            except ServiceError as exc:
                errors = exc.details.get("errors") or {"password": exc.message}
            else:
                flash(_("Votre mot de passe a été modifié. Connectez-vous avec le nouveau."), "success")
                return redirect(self.appbuilder.get_url_for_login)
        return self._render("auth/reset.html", errors=errors, min_length=accounts.PASSWORD_MIN_LENGTH), \
            (400 if errors else 200)


def too_many_requests(error):
    """Flask-Limiter's 429, in French (the login, sign-up and reset forms are throttled)."""
    retry_after = getattr(error, "retry_after", None)
    response = current_app.make_response((render_template("auth/too_many.html", appbuilder=None), 429))
    if retry_after:
        response.headers["Retry-After"] = str(int(retry_after))
    return response
