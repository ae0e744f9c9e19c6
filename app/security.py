"""Roles as data, and the command that syncs them into Flask-AppBuilder's tables.

The matrix is a list of rules per role, matched against every (permission, view menu) pair that
the registered views declare. Keeping it as data means a new staff screen is covered by the
Staff rule without editing this file, and a new parent screen must be named ``Parent…View`` (or
live in ``PortalApi``) to be reachable by parents at all.
"""
from __future__ import annotations

import logging
import re
from flask_appbuilder.security.sqla.manager import SecurityManager

log = logging.getLogger(__name__)

ADMIN, STAFF, PARENT = "Admin", "Staff", "Parent"

# Flask-AppBuilder's own user/role administration: Admin only.
SECURITY_RESOURCES = re.compile(
    r"^(Security|List Users|List Roles|List Groups|User's Statistics|User Registrations|Base Permissions"
    r"|Views/Menus|Permission on Views/Menus|Action Log|Api Keys"
    r"|UserDBModelView|UserLDAPModelView|UserOAuthModelView|UserOIDModelView|UserRemoteUserModelView"
    r"|RoleModelView|GroupModelView|PermissionModelView|ViewMenuModelView|PermissionViewModelView"
    r"|RegisterUserModelView|UserStatsChartView|ApiKeyModelView"
    r"|Role|User|Group|Permission|ViewMenu|PermissionViewMenu|ApiKey)$"
)
# The parent area (Parent…View) and the parent JSON API (Portal…Api).
PARENT_RESOURCES = re.compile(r"^(Parent[A-Za-z]*View|Portal[A-Za-z]*Api)$")
# What every logged-in person may do with their own account.
SELF_SERVICE = {
    ("can_userinfo", "UserDBModelView"),
    ("resetmypassword", "UserDBModelView"),
    ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"),
}


def _admin(permission: str, resource: str) -> bool:
    """Admin runs the portal: everything, including users and roles."""
    return True


def _staff(permission: str, resource: str) -> bool:
    """Staff manage families, catalogue, bookings and payments, but neither users nor roles,
    and they do not use the parent self-service area (they book at the desk instead)."""
    if (permission, resource) in SELF_SERVICE:
        return True
    return not SECURITY_RESOURCES.match(resource) and not PARENT_RESOURCES.match(resource)


def _parent(permission: str, resource: str) -> bool:
    """Parents reach their own area and API and nothing else; row scoping is done by services."""
    return (permission, resource) in SELF_SERVICE or bool(PARENT_RESOURCES.match(resource))


ROLE_PREDICATES = {ADMIN: _admin, STAFF: _staff, PARENT: _parent}


def sync_roles(appbuilder) -> dict[str, int]:
    """Create the permissions of every registered view, then make each role hold exactly what its
    rule grants. Idempotent: a second run changes nothing. Returns the permission count per role."""
    from flask import current_app

    sm = appbuilder.sm
    session = sm.session
    for role_name in ROLE_PREDICATES:  # FAB grants new permissions to Admin as it creates them
        sm.find_role(role_name) or sm.add_role(role_name)
    appbuilder.add_permissions(update_perms=True)
    all_pvs = session.query(sm.permissionview_model).all()
    counts: dict[str, int] = {}
    for role_name, predicate in ROLE_PREDICATES.items():
        role = sm.find_role(role_name) or sm.add_role(role_name)
        wanted = sorted(
            (pv for pv in all_pvs if pv.permission and pv.view_menu
             and predicate(pv.permission.name, pv.view_menu.name)),
            key=lambda pv: pv.id,
        )
        if {pv.id for pv in role.permissions} != {pv.id for pv in wanted}:
            role.permissions = wanted
            session.commit()
            log.info("role %s synced: %d permissions", role_name, len(wanted))
        counts[role_name] = len(wanted)
    # The anonymous role gets nothing: every page but login, sign-up and health needs an account.
    public_name = current_app.config["AUTH_ROLE_PUBLIC"]
    public = sm.find_role(public_name) or sm.add_role(public_name)
    if public.permissions:
        public.permissions = []
        session.commit()
    return counts


# --- accounts: login with the e-mail, parent sign-up, password reset (issue 3) --------------
#
# The two views below keep FAB's class names on purpose: endpoints are named after classes, and the
# public endpoints of the portal are known as `AuthDBView.*` and `RegisterUserDBView.*`.

from flask import current_app, flash, g, redirect, render_template, request  # noqa: E402
from flask_appbuilder import BaseView, expose  # noqa: E402
from flask_appbuilder.security.views import AuthDBView as _FabAuthDBView  # noqa: E402
from flask_babel import gettext as _  # noqa: E402
from flask_login import login_user  # noqa: E402


class AuthDBView(_FabAuthDBView):
    """FAB's login, on a phone-first French page that says the login is the e-mail address."""

    login_template = "auth/login.html"
    title = "Connexion"


class RegisterUserDBView(BaseView):
    """Public pages: create a parent account, confirm it from the mail, reset a forgotten password.
    Thin over app.services.accounts (the rules and mails live there)."""

    route_base = "/compte"
    default_view = "signup"

    def _render(self, template: str, **context):
        return self.render_template(template, **context)

    @expose("/creer", methods=["GET", "POST"])
    def signup(self):
        from app.services import accounts
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
        from app.services import accounts
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
        from app.services import accounts
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
        from app.services import accounts
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


def _too_many_requests(error):
    """Flask-Limiter's 429, in French (the login, sign-up and reset forms are throttled)."""
    retry_after = getattr(error, "retry_after", None)
    response = current_app.make_response((render_template("auth/too_many.html", appbuilder=None), 429))
    if retry_after:
        response.headers["Retry-After"] = str(int(retry_after))
    return response


class PortalSecurityManager(SecurityManager):
    """The portal's account rules: login with the e-mail, parent sign-up confirmed by a mail sent
    through the job queue (app.services.accounts), password reset, throttled forms, French 429."""

    authdbview = AuthDBView
    registeruserdbview = RegisterUserDBView

    def register_views(self):
        super().register_views()
        if self.is_auth_limited and getattr(self, "registeruser_view", None) is not None:
            # Sign-up and password-reset requests send mails: throttle them like the login.
            self.limiter.limit(self.auth_rate_limit, methods=["POST"])(self.registeruser_view.blueprint)
        current_app.register_error_handler(429, _too_many_requests)
