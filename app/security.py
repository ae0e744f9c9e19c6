"""Roles as data, and the command that syncs them into Flask-AppBuilder's tables.

Permissions are an allow-list (DESIGN invariant 12, "Staff never become Admin"). A list of excluded
names let Staff reset the Admin's password (FAB's ``ResetPasswordView`` was not on it) and join a
group holding the Admin role (the list said ``GroupModelView``, FAB 5.3 says
``UserGroupModelView``): a deny-list misses whatever FAB adds or renames. So every registered view
is classified by the first rule of ``VIEW_RULES`` that applies to it, judged by what the view *is*
(its class, the package it is defined in), as a staff screen, the parent area, a public page or
Admin-only, and a role holds a permission only when that classification names the role. FAB's
security views are found by class and are Admin-only whatever they are called; a view that no
rule classifies is Admin's alone until someone decides (tests/test_permissions_allowlist.py fails
until then).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from flask_appbuilder.api.manager import OpenApi, SwaggerView
from flask_appbuilder.baseviews import AbstractViewApi
from flask_appbuilder.menu import MenuApi
from flask_appbuilder.security.sqla.manager import SecurityManager

log = logging.getLogger(__name__)

from app.roles import ADMIN, ANIMATOR, PARENT, STAFF  # noqa: E402,F401 (the role names, shared with demo data and views)

# Audiences of a view besides the roles above.
PUBLIC = "public"  # declares no permission at all: the view checks the visitor itself (login, sign-up)
ADMIN_ONLY = "admin-only"  # Admin and nobody else

PARENT_VIEW_NAME = re.compile(r"^Parent[A-Za-z]*View$")
PARENT_API_NAME = re.compile(r"^Portal[A-Za-z]*Api$")
ANIMATOR_API_NAME = re.compile(r"^Animator[A-Za-z]*Api$")


@dataclass(frozen=True)
class ViewRule:
    """One line of the matrix: who gets every permission of the views it applies to, and why."""

    audience: str
    applies: Callable[[AbstractViewApi, SecurityManager], bool]
    reason: str


def security_manager_view_classes(sm: SecurityManager) -> tuple[type, ...]:
    """Every view class the security manager holds or registered (users, roles, groups, permissions,
    password and profile forms, registrations, its APIs, and the portal's own login and sign-up
    views plugged into it), read from its attributes so that a view FAB adds later is there too."""
    found: set[type] = set()
    for namespace in [vars(sm)] + [vars(klass) for klass in type(sm).__mro__]:
        for value in namespace.values():
            if isinstance(value, type) and issubclass(value, AbstractViewApi):
                found.add(value)
            elif isinstance(value, AbstractViewApi):
                found.add(type(value))
    return tuple(found)


def is_security_view(view: AbstractViewApi, sm: SecurityManager) -> bool:
    """A view of FAB's security manager, by class: defined (or derived from one defined) in
    ``flask_appbuilder.security``, or one of the classes the security manager holds. Never by name:
    renaming or subclassing a security view does not make it grantable."""
    cls = type(view)
    if any(klass.__module__.startswith("flask_appbuilder.security") for klass in cls.__mro__):
        return True
    return issubclass(cls, security_manager_view_classes(sm))


def _defined_in(package: str, name: re.Pattern | None = None):
    """Views whose class is defined in ``package`` (and, if given, whose resource name matches)."""
    def applies(view: AbstractViewApi, sm: SecurityManager) -> bool:
        module = type(view).__module__
        if module != package and not module.startswith(package + "."):
            return False
        return name is None or bool(name.match(view.class_permission_name or type(view).__name__))
    return applies


def _one_of(*classes: type):
    return lambda view, sm: isinstance(view, classes)


def _declares_no_permission(view: AbstractViewApi, sm: SecurityManager) -> bool:
    return not view.base_permissions


# The matrix, first rule that applies wins. Every registered view must fall under one of them.
VIEW_RULES: tuple[ViewRule, ...] = (
    ViewRule(ADMIN_ONLY, is_security_view,
             "Invariant 12: users, roles, groups (a group's roles are its members' roles), permissions, "
             "password resets, FAB's profile and password forms (the portal has its own at "
             "/compte/mot-de-passe), registrations and the security API are Admin's. First, so that it "
             "wins over every rule below whatever the view is called or where it is subclassed."),
    ViewRule(ADMIN_ONLY, _defined_in("app.views.admin"),
             "Settings only Admin changes: the organiser's identity printed on every invoice, credit note "
             "and tax attestation (issue 16)."),
    ViewRule(STAFF, _defined_in("app.views.staff"),
             "The back office: file review, families, catalogue, payments, lists of the day, follow-up "
             "and the desk. A screen lives in this package only if Staff are meant to use it."),
    ViewRule(STAFF, _one_of(OpenApi, SwaggerView),
             "The OpenAPI document of the parent API (routes and schemas, no data): staff read it to "
             "support families and integrators."),
    # Before the parent and staff API rules: Animateur only, and Staff do not get the phone pages
    # (staff read and correct attendance on their own screens, app/views/staff/attendance.py).
    ViewRule(ANIMATOR, _defined_in("app.views.animator"),
             "The animators' phone pages (issue 18): the day's attendance and bus boarding of the "
             "establishments and circuits assigned to them; which rows they reach is the service's "
             "business (app.services.operations.attendance.animator_scope)."),
    ViewRule(ANIMATOR, _defined_in("app.api", ANIMATOR_API_NAME),
             "The animators' sync API (Animator…Api), the same lists and ticks as their pages."),
    ViewRule(PARENT, _defined_in("app.views.parent", PARENT_VIEW_NAME),
             "The parent area (Parent…View); which household's rows a parent reaches is the services' "
             "business (invariant 6)."),
    ViewRule(PARENT, _defined_in("app.api", PARENT_API_NAME),
             "The parent JSON API (Portal…Api): the same journeys as the parent area."),
    ViewRule(ADMIN_ONLY, _one_of(MenuApi),
             "FAB's JSON menu feeds a React front end the portal does not have."),
    ViewRule(PUBLIC, _declares_no_permission,
             "Nothing to grant: the index, FAB's back and locale links; each checks the visitor itself."),
)


def classify_view(view: AbstractViewApi, sm: SecurityManager) -> str | None:
    """The audience of a registered view, or None when no rule decides (then only Admin gets it)."""
    for rule in VIEW_RULES:
        if rule.applies(view, sm):
            return rule.audience
    return None


def resource_audiences(appbuilder) -> dict[str, set[str]]:
    """Who may hold the permissions on each resource (FAB's "view menu"): a view's permission name
    or a menu entry. A resource shared by views of different audiences is Admin-only, so that a
    view cannot lend its name to another's permissions. A menu entry belongs to the audience of
    the view it opens; a link without a view, and a category, to the audiences of the views in
    its category (a category is shown to whoever has an entry under it)."""
    sm = appbuilder.sm
    by_view: dict[str, set[str | None]] = {}
    for view in appbuilder.baseviews:
        by_view.setdefault(view.class_permission_name, set()).add(classify_view(view, sm))
    audiences = {name: (found if len(found) == 1 and None not in found else {ADMIN_ONLY})
                 for name, found in by_view.items()}

    def view_audience(view) -> set[str]:
        # add_link(baseview=…) may be given the class: its permission name is set per instance.
        cls = view if isinstance(view, type) else type(view)
        return audiences.get(getattr(view, "class_permission_name", None) or cls.__name__, set())

    menus: dict[str, set[str]] = {}
    for item in appbuilder.menu.get_list():
        entries = [child for child in item.childs if child.name != "-"]
        if not entries:  # a top-level entry
            menus.setdefault(item.name, set()).update(view_audience(item.baseview) if item.baseview else ())
            continue
        in_category = set().union(*(view_audience(e.baseview) for e in entries if e.baseview is not None))
        for entry in entries:
            menus.setdefault(entry.name, set()).update(
                view_audience(entry.baseview) if entry.baseview is not None else in_category)
        menus.setdefault(item.name, set()).update(in_category)
    for name, found in menus.items():
        if audiences.get(name) == {ADMIN_ONLY}:
            continue  # a menu named like an Admin-only view does not open it up
        audiences.setdefault(name, set()).update(found)
    return audiences


def granted(role: str, permission: str, resource: str, audiences: dict[str, set[str]]) -> bool:
    """Admin runs the portal: everything, including users and roles. Any other role holds exactly
    the permissions on the resources classified for it; an unknown resource is no one else's."""
    if role == ADMIN:
        return True
    return role in audiences.get(resource, ())


ROLES = (ADMIN, STAFF, PARENT, ANIMATOR)


def sync_roles(appbuilder) -> dict[str, int]:
    """Create the permissions of every registered view, then make each role hold exactly what the
    matrix grants: a permission granted by hand or by an older rule is taken back. Idempotent: a
    second run changes nothing. Returns the permission count per role."""
    from flask import current_app

    sm = appbuilder.sm
    session = sm.session
    for role_name in ROLES:  # FAB grants new permissions to Admin as it creates them
        sm.find_role(role_name) or sm.add_role(role_name)
    appbuilder.add_permissions(update_perms=True)
    for view in appbuilder.baseviews:
        if classify_view(view, sm) is None:
            log.warning("view %s has no rule in app/security.py VIEW_RULES: Admin only until classified",
                        type(view).__name__)
    audiences = resource_audiences(appbuilder)
    all_pvs = session.query(sm.permissionview_model).all()
    counts: dict[str, int] = {}
    for role_name in ROLES:
        role = sm.find_role(role_name) or sm.add_role(role_name)
        wanted = sorted(
            (pv for pv in all_pvs if pv.permission and pv.view_menu
             and granted(role_name, pv.permission.name, pv.view_menu.name, audiences)),
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
    # A group's roles are its members' roles. Before the allow-list Staff could edit groups: say at
    # every deploy which groups make people Admin, so that one made that way is seen (not deleted:
    # an Admin may have made it on purpose).
    admin_role = sm.find_role(ADMIN)
    for group in session.query(sm.group_model).filter(sm.group_model.roles.contains(admin_role)):
        log.warning("group %r gives the Admin role to: %s", group.name,
                    ", ".join(sorted(user.username for user in group.users)) or "nobody")
    return counts


# Login with the e-mail, parent sign-up and password reset: the views live in app/views/auth.py.
# Changing one's password, and the stamp that ends other sessions and JWTs: app/views/account.py.
from app.views import account as account_guard  # noqa: E402
from app.views.auth import AuthDBView, RegisterUserDBView, too_many_requests  # noqa: E402
from app.views.auth import SecurityApi as ThrottledSecurityApi  # noqa: E402


class PortalSecurityManager(SecurityManager):
    """The portal's account rules: login with the e-mail, parent sign-up confirmed by a mail sent
    through the job queue (app.services.household.accounts), password reset, throttled forms, French 429."""

    authdbview = AuthDBView
    registeruserdbview = RegisterUserDBView
    # The JWT login under the same throttle as the web login (app.services.household.login_throttle).
    security_api = ThrottledSecurityApi
    # FAB's self-service form asked no current password: it now leads to /compte/mot-de-passe.
    resetmypasswordview = account_guard.ResetMyPasswordView

    def create_login_manager(self, app):
        """Sessions opened before a password change or reset are refused (see app/views/account.py)."""
        lm = super().create_login_manager(app)
        account_guard.configure_login_manager(lm, self)
        return lm

    def create_jwt_manager(self, app):
        """JWTs carry the account's stamp; one issued before a password change or reset is a 401."""
        jwt_manager = super().create_jwt_manager(app)
        account_guard.configure_jwt_manager(jwt_manager)
        return jwt_manager

    def reset_password(self, userid, password):
        """An admin setting someone's password (FAB's /resetpassword/form) ends that person's other
        sessions and tokens too."""
        from app.services.household.accounts import bump_auth_stamp

        bump_auth_stamp(userid)  # flushed now, committed by FAB's update_user below
        super().reset_password(userid, password)

    def register_views(self):
        from flask import current_app

        # Login, sign-up and reset are throttled by app.services.household.login_throttle, called from the
        # views: FAB's per-address limiter (AUTH_RATE_LIMITED) counted successes and locked out
        # everyone behind one NAT, so config.py turns it off.
        super().register_views()
        current_app.register_error_handler(429, too_many_requests)
