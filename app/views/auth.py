"""Public account pages (issue 3): the login page, parent sign-up confirmed by mail, password reset,
and the French page for throttled forms. Thin over app.services.household.accounts; the throttling rule
(issue 11) lives in app.services.household.login_throttle and is called from the web login, the JWT login
(`SecurityApi` below) and the mail-sending forms alike.

The two views keep Flask-AppBuilder's class names on purpose: endpoints are named after classes, and
the portal's public endpoints are known as `AuthDBView.*` and `RegisterUserDBView.*` (see
tests/test_foundation.py). `PortalSecurityManager` (app/security.py) plugs them in.
"""
from __future__ import annotations

import math

from flask import current_app, flash, g, jsonify, redirect, render_template, request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import safe
from flask_appbuilder.security.api import SecurityApi as _FabSecurityApi
from flask_appbuilder.security.decorators import no_cache
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.security.views import AuthDBView as _FabAuthDBView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_user

from app.services.household import login_throttle


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
            email, address = form.username.data, request.remote_addr
            retry_after = login_throttle.check_allowed(email, address)
            if retry_after:
                return too_many_response(retry_after)
            user = self.appbuilder.sm.auth_user_db(email, form.password.data)
            if user:
                login_user(user, remember=False)
                return redirect(get_safe_redirect(next_arg) if next_arg else self.appbuilder.get_url_for_index)
            login_throttle.record_failure(email, address)
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
        from app.services.errors import ServiceError
        from app.services.household import accounts

        if g.user is not None and g.user.is_authenticated:
            return redirect("/")
        values, errors = {}, {}
        if request.method == "POST":
            values = request.form.to_dict()
            retry_after = login_throttle.check_mail_form("signup", values.get("email"), request.remote_addr)
            if retry_after:
                return too_many_response(retry_after)
            try:
                result = accounts.register_parent(values)
            except ServiceError as exc:
                errors = exc.details.get("errors") or {"_": exc.message}
                flash(exc.message, "danger")
            else:
                login_throttle.record_mail("signup", values.get("email"))
                return self._render("auth/signup_sent.html", email=result.email)
        values.pop("password", None)
        values.pop("conf_password", None)
        return self._render("auth/signup.html", values=values, errors=errors,
                            min_length=accounts.PASSWORD_MIN_LENGTH), (400 if errors else 200)

    @expose("/confirmer/<string:token>")
    def confirm(self, token):
        from app.services.errors import ServiceError
        from app.services.household import accounts

        try:
            user = accounts.confirm_registration(token)
        except ServiceError as exc:
            return self._render("auth/message.html", title=_("Lien non valable"), message=exc.message), 400
        login_user(user, remember=False)
        flash(_("Votre compte est activé. Complétez maintenant votre dossier famille."), "success")
        return redirect("/famille/")

    @expose("/mot-de-passe-oublie", methods=["GET", "POST"])
    def forgot(self):
        from app.services.errors import ServiceError
        from app.services.household import accounts

        errors = {}
        email = ""
        if request.method == "POST":
            email = (request.form.get("email") or "").strip()
            retry_after = login_throttle.check_mail_form("reset", email, request.remote_addr)
            if retry_after:
                return too_many_response(retry_after)
            try:
                accounts.request_password_reset(email)
            except ServiceError as exc:
                errors = exc.details.get("errors") or {"email": exc.message}
            else:
                # Counted whether or not an account exists: the answer must not tell them apart.
                login_throttle.record_mail("reset", email)
                return self._render("auth/message.html", title=_("Vérifiez votre messagerie"), message=_(
                    "Si un compte existe pour cette adresse, un e-mail vient de vous être envoyé avec un lien "
                    "pour choisir un nouveau mot de passe. Ce lien est valable %(minutes)d minutes.",
                    minutes=accounts.reset_max_age() // 60))
        return self._render("auth/forgot.html", email=email, errors=errors), (400 if errors else 200)

    @expose("/nouveau-mot-de-passe/<string:token>", methods=["GET", "POST"])
    def reset(self, token):
        from app.services.errors import ServiceError
        from app.services.household import accounts

        try:
            user = accounts.user_for_reset_token(token)
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
                # The owner proved they hold the mailbox: their earlier failures must not keep them out.
                login_throttle.clear_account(user.email)
                flash(_("Votre mot de passe a été modifié. Connectez-vous avec le nouveau."), "success")
                return redirect(self.appbuilder.get_url_for_login)
        return self._render("auth/reset.html", errors=errors, min_length=accounts.PASSWORD_MIN_LENGTH), \
            (400 if errors else 200)


class SecurityApi(_FabSecurityApi):
    """FAB's JWT login under the same throttle as the web login: without it the API was a way
    around the web page's limits (unlimited password guessing). Failures here count on the same
    account counters. Keeps FAB's class name so that its endpoint stays `SecurityApi.login`."""

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        body = request.get_json(silent=True) if request.is_json else None
        email = body.get("username") if isinstance(body, dict) and isinstance(body.get("username"), str) else ""
        address = request.remote_addr
        retry_after = login_throttle.check_allowed(email, address)
        if retry_after:
            response = jsonify(message=_("Trop de tentatives de connexion. Réessayez dans %(wait)s.",
                                         wait=wait_text(retry_after)))
            response.status_code = 429
            response.headers["Retry-After"] = str(retry_after)
            return response
        response = super().login()
        if response.status_code == 401:
            login_throttle.record_failure(email, address)
        return response

    # FAB's OpenAPI text, plus the answer a throttled client gets.
    login.__doc__ = (_FabSecurityApi.login.__doc__ or "").replace(
        "            500:\n",
        "            429:\n              description: Trop de tentatives ; réessayer après Retry-After secondes\n"
        "            500:\n", 1)


def wait_text(seconds: int) -> str:
    """How long to wait, the way the page says it: « 12 minutes », « 1 minute », « 40 secondes »."""
    seconds = max(1, int(seconds))
    if seconds < 60:
        return ngettext("%(num)d seconde", "%(num)d secondes", seconds)
    minutes = math.ceil(seconds / 60)
    if minutes <= 90:
        return ngettext("%(num)d minute", "%(num)d minutes", minutes)
    hours = math.ceil(minutes / 60)
    return ngettext("%(num)d heure", "%(num)d heures", hours)


def too_many_response(retry_after: int | None):
    """The French 429 page, with Retry-After when the wait is known."""
    wait = wait_text(retry_after) if retry_after else None
    response = current_app.make_response((render_template("auth/too_many.html", appbuilder=None, wait=wait),
                                          429))
    if retry_after:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


def too_many_requests(error):
    """Any other 429 (Flask-Limiter, abort(429)), in French, with Retry-After when known."""
    retry_after = getattr(error, "retry_after", None)
    return too_many_response(math.ceil(retry_after) if retry_after else None)
