"""The parent API's light gate: the same answer as Flask-AppBuilder's `@protect()`, without its
per-request queries.

Why: under the opening rush FAB's `protect()` alone cost ~6 statements and ~4 ms of CPU on every
API call (public role, its permissions, the user, roles, groups, an EXISTS check) — more than a
quarter of an add (bench/README.md). The answer only changes when roles, permissions or a user's
roles change, which is rare and always goes through the ORM; so the gate keeps, per process, the
(permission, resource) pairs of every role and each user's role ids, and trusts them for as long
as the permissions version (app/services/security_version.py, bumped in the changing
transaction) stands. Each request reads that one row: a revoked role is refused on the very next
request, in every process, with no stale window.

Per request: the JWT is verified by flask_jwt_extended as before (its signature, and the account
stamp that a password change bumps: app/views/account.py); the stamp check reads, in ONE statement,
the user, its stamp, its roles, the permissions version and its household (household.identity, kept
for the request: FAB's user lookup, this gate and `require_household` take them from there); then
dictionary look-ups. Permissions
are FAB's own rows, written by `flask sync-roles` from the allow-list of app/security.py: the gate
grants exactly what FAB would. FAB's machinery stays for every staff screen.

The gate replaces `@protect()` on the endpoints of `PortalBaseApi` subclasses when their class is
created (`install`), so the API modules keep the familiar decorator and their OpenAPI documents.
"""
from __future__ import annotations

import functools
import logging
import threading

from flask import current_app
from flask_appbuilder.const import LOGMSG_ERR_SEC_ACCESS_DENIED
from flask_appbuilder.security.decorators import protect
from flask_appbuilder.security.sqla.models import (
    Permission,
    PermissionView,
    Role,
    ViewMenu,
    assoc_permissionview_role,
)
from flask_jwt_extended import get_current_user, verify_jwt_in_request
from sqlalchemy import select

from app.models import db
from app.services.household import identity
from app.services.security_version import permissions_version

log = logging.getLogger(__name__)

# FAB's protect() wrapper, recognised by its code object (every protect() closure shares it).
_PROTECT_CODE = protect()(lambda self: None).__code__


class _Cache:
    """Per process and application: the grants of every role at one permissions version."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: int | None = None
        self.grants: dict[int, frozenset[tuple[str, str]]] = {}  # role id -> (permission, resource)
        self.public: frozenset[tuple[str, str]] = frozenset()

    def at(self, version: int) -> _Cache:
        """Reload when the version moved (a role, a permission or a membership changed): one query."""
        with self.lock:
            if self.version == version:
                return self
            rows = db.session.execute(
                select(assoc_permissionview_role.c.role_id, Permission.name, ViewMenu.name)
                .join(PermissionView, PermissionView.id == assoc_permissionview_role.c.permission_view_id)
                .join(Permission, Permission.id == PermissionView.permission_id)
                .join(ViewMenu, ViewMenu.id == PermissionView.view_menu_id)).all()
            grants: dict[int, set[tuple[str, str]]] = {}
            for role_id, permission, resource in rows:
                grants.setdefault(role_id, set()).add((permission, resource))
            public_name = current_app.config.get("AUTH_ROLE_PUBLIC", "Public")
            public_id = db.session.execute(select(Role.id).where(Role.name == public_name)).scalar()
            self.grants = {role: frozenset(pairs) for role, pairs in grants.items()}
            self.public = self.grants.get(public_id, frozenset()) if public_id is not None else frozenset()
            self.version = version
            return self

    def allows(self, role_ids, permission: str, resource: str) -> bool:
        grants = self.grants
        return any((permission, resource) in grants.get(role, ()) for role in role_ids)


def _app_cache() -> _Cache:
    """One cache per application object (tests build several apps, each on its own database)."""
    cache = current_app.extensions.get("portal_gate")
    if cache is None:
        cache = current_app.extensions.setdefault("portal_gate", _Cache())
    return cache


def can(user_id: int, permission: str, resource: str) -> bool:
    """The gate's answer for one user, as FAB's has_access would give it: its roles and the permissions
    version come from the request's one identity read (household.identity, shared with the JWT's stamp
    check), read fresh on every request, so a role taken away is refused on the next one."""
    found = identity.identity(user_id)
    if found is None:
        return False
    return _app_cache().at(found.permissions_version).allows(found.role_ids, permission, resource)


def gate(protected):
    """Wrap the function FAB's protect() wrapped, with the same checks in the same order: the
    method's permission is one of the class's, a public permission needs no login, else a valid
    JWT (signature, account stamp, active user) whose roles hold the permission — else 401/403."""
    endpoint = protected.__wrapped__

    @functools.wraps(protected)
    def wrapper(self, *args, **kwargs):
        permission = f"can_{endpoint._permission_name}"
        if self.method_permission_name and self.method_permission_name.get(endpoint.__name__):
            permission = f"can_{self.method_permission_name[endpoint.__name__]}"
        resource = self.class_permission_name
        if permission not in self.base_permissions:
            return self.response_403()
        early = getattr(endpoint, "_waiting_room", None)  # a queued parent's refresh: no database at all
        if early is not None and (queue_answer := early()) is not None:
            return queue_answer
        if current_app.config.get("FAB_API_KEY_ENABLED", False) or current_app.appbuilder.sm.builtin_roles:
            return protected(self, *args, **kwargs)  # shapes the gate does not model: FAB decides
        verify_jwt_in_request(optional=True)  # a bad, expired or stale (password changed) token: 401
        user = get_current_user()  # FAB's loader: set only for an active user
        if user is None:
            if (permission, resource) in _app_cache().at(permissions_version()).public:
                return endpoint(self, *args, **kwargs)
            verify_jwt_in_request()  # no token: flask_jwt_extended's 401
            return self.response_401()
        if can(user.id, permission, resource):
            return endpoint(self, *args, **kwargs)
        log.warning(LOGMSG_ERR_SEC_ACCESS_DENIED, permission, resource)
        return self.response_403()

    wrapper._light_gate = True  # type: ignore[attr-defined]
    return wrapper


def install(cls) -> None:
    """Swap every `@protect()` endpoint defined on `cls` for the gate."""
    for name, value in list(vars(cls).items()):
        if callable(value) and getattr(value, "__code__", None) is _PROTECT_CODE:
            setattr(cls, name, gate(value))
