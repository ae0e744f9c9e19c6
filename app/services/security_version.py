"""The version of the security data (roles, their permissions, groups, who holds which), bumped in
the very transaction that changes it, so that a per-process cache of permission answers (the
parent API's gate, app/api/gate.py) can be trusted for exactly as long as that version stands.

Why a flush listener and not a call in each screen: roles change through Flask-AppBuilder's own
admin screens (users, roles, groups), through `flask sync-roles` and through the portal's account
code; a listener on every ORM flush sees all of them, including a screen FAB adds later. Core
statements written straight to the association tables (none in the portal) are not seen.
"""
from __future__ import annotations

from flask_appbuilder.security.sqla.models import Group, Permission, PermissionView, Role, User, ViewMenu
from sqlalchemy import event, inspect, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.models import SecurityVersion, db

PERMISSIONS = "permissions"
# Any change to one of these rows changes who may do what.
_SECURITY_ROWS = (Role, Group, PermissionView, Permission, ViewMenu)
# A user's row matters only through these attributes (a new user is in no cache yet; a password
# change has its own stamp, app.models.AccountSecurity).
_USER_ATTRIBUTES = ("roles", "groups", "active")


def permissions_version() -> int:
    """One primary-key read, on every parent API request."""
    return db.session.execute(
        select(SecurityVersion.version).where(SecurityVersion.name == PERMISSIONS)).scalar() or 0


def bump_permissions_version(connection) -> None:
    """+1 in the caller's transaction (an upsert: the first bump creates the row, and two first
    bumps at once do not collide)."""
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        table = SecurityVersion.__table__
        statement = insert(table).values(name=PERMISSIONS, version=1)
        connection.execute(statement.on_conflict_do_update(
            index_elements=[table.c.name], set_={"version": table.c.version + 1}))
        return
    result = connection.execute(update(SecurityVersion).where(SecurityVersion.name == PERMISSIONS)
                                .values(version=SecurityVersion.version + 1))
    if not result.rowcount:
        connection.execute(SecurityVersion.__table__.insert().values(name=PERMISSIONS, version=1))


def _user_access_changed(user) -> bool:
    state = inspect(user)
    return any(state.attrs[name].history.has_changes() for name in _USER_ATTRIBUTES)


def changes_permissions(session: Session) -> bool:
    """Does the flush under way change roles, permissions, groups or a user's access?"""
    for obj in session.deleted:
        if isinstance(obj, _SECURITY_ROWS + (User,)):
            return True
    for obj in session.new:
        if isinstance(obj, _SECURITY_ROWS):
            return True
    for obj in session.dirty:
        if isinstance(obj, _SECURITY_ROWS) and session.is_modified(obj):
            return True
        if isinstance(obj, User) and _user_access_changed(obj):
            return True
    return False


@event.listens_for(Session, "after_flush")
def _bump_on_security_change(session: Session, _flush_context) -> None:
    # after_flush: the rows are written and their history is still readable; the bump joins the
    # same transaction, so it commits (or rolls back) with the change itself.
    if changes_permissions(session):
        bump_permissions_version(session.connection())
