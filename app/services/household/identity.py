"""Who sends a request: the user, its account stamp, its roles, the permissions version and its
household, read in ONE statement once per request (`identity`). The session or JWT stamp check
(accounts.user_with_stamp), the parent API's gate (app/api/gate.py) and `links.household_for_user`
all take it from here: on the opening rush an add costs one statement for all of them instead of
three. Nothing is kept past the request, so a role taken away is refused on the next one."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, has_request_context
from flask_appbuilder.security.sqla.models import assoc_group_role, assoc_user_group, assoc_user_role
from sqlalchemy import bindparam, func, select, true, union

from app.models import AccountSecurity, Household, SecurityVersion, db
from app.services.security_version import PERMISSIONS


@dataclass(frozen=True)
class Identity:
    """Who sends a request, as the checks of every request need it (read by `identity`)."""
    user: Any
    stamp: int
    permissions_version: int
    role_ids: frozenset[int]
    household: Household | None


_IDENTITY = "_portal_identity"


def identity(user_id) -> Identity | None:
    """The user's identity (roles direct and through groups, as FAB's get_user_roles), read once per
    request; None: no such user."""
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        return None
    memo = g.setdefault(_IDENTITY, {}) if has_request_context() else {}
    if user_id in memo:
        return memo[user_id]
    rows = db.session.execute(_statement(current_app.appbuilder.sm.user_model),  # type: ignore[attr-defined]
                              {"user_id": user_id}).all()
    found = None
    if rows:
        user, stamp, permissions_version, _role, household = rows[0]
        found = Identity(user, int(stamp), int(permissions_version),
                         frozenset(row[3] for row in rows if row[3] is not None), household)
    memo[user_id] = found
    return found


@functools.cache
def _statement(model):
    """Built once per user model (building a statement costs as much Python as running it)."""
    user_id = bindparam("user_id")
    roles = union(
        select(assoc_user_role.c.role_id.label("role_id")).where(assoc_user_role.c.user_id == user_id),
        select(assoc_group_role.c.role_id)
        .join(assoc_user_group, assoc_user_group.c.group_id == assoc_group_role.c.group_id)
        .where(assoc_user_group.c.user_id == user_id)).subquery()
    version = select(func.coalesce(func.max(SecurityVersion.version), 0).label("version")) \
        .where(SecurityVersion.name == PERMISSIONS).scalar_subquery()
    return (select(model, func.coalesce(AccountSecurity.auth_stamp, 0), version, roles.c.role_id, Household)
            .outerjoin(AccountSecurity, AccountSecurity.user_id == model.id)
            .outerjoin(Household, Household.owner_id == model.id)
            .outerjoin(roles, true())
            .where(model.id == user_id))


def known_household(user) -> tuple[bool, Household | None]:
    """(True, its household) when this request already read the user's identity, else (False, None)."""
    if not has_request_context():
        return False, None
    found = g.get(_IDENTITY, {}).get(getattr(user, "id", None))
    return (True, found.household) if found is not None else (False, None)
