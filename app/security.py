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


# Login with the e-mail, parent sign-up and password reset: the views live in app/views/auth.py.
from app.views.auth import AuthDBView, RegisterUserDBView, too_many_requests  # noqa: E402


class PortalSecurityManager(SecurityManager):
    """The portal's account rules: login with the e-mail, parent sign-up confirmed by a mail sent
    through the job queue (app.services.household.accounts), password reset, throttled forms, French 429."""

    authdbview = AuthDBView
    registeruserdbview = RegisterUserDBView

    def register_views(self):
        from flask import current_app

        super().register_views()
        if self.is_auth_limited and getattr(self, "registeruser_view", None) is not None:
            # Sign-up and password-reset requests send mails: throttle them like the login.
            self.limiter.limit(self.auth_rate_limit, methods=["POST"])(self.registeruser_view.blueprint)
        current_app.register_error_handler(429, too_many_requests)
