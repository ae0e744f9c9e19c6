"""Per-account security state that FAB's `ab_user` table has no column for.

`auth_stamp` is a counter bumped whenever the account's credentials change (password changed or
reset; later: roles changed). Every browser session and every JWT carries the stamp it was issued
under, and one that carries an older stamp is refused: that is how a password change ends the other
sessions without a server-side session store. A user without a row has stamp 0.
"""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String

from . import db
from .types import UTCDateTime, utcnow


class AccountSecurity(db.Model):
    __tablename__ = "account_security"

    # The primary key is the user's id: checking a stamp is one primary-key lookup.
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    auth_stamp = Column(Integer, nullable=False, default=0)
    stamped_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


class SecurityVersion(db.Model):
    """Process-wide versions of security data, one row per name. ``permissions`` is bumped in the
    transaction of every change to roles, their permissions, groups or a user's roles, groups or
    active flag (app/services/security_version.py, a flush listener: FAB's screens and
    `flask sync-roles` alike). The parent API's gate (app/api/gate.py) caches role and permission
    answers per process and reads this one row per request: a change applies to the very next
    request in every process, with no stale window. ``catalog`` is bumped the same way by every
    write to an establishment, period, week, tariff, circuit or stop
    (app/services/booking/catalogue_snapshot.py): the offers' per-process catalogue snapshot is
    trusted for exactly as long as it stands."""

    __tablename__ = "security_version"

    name = Column(String(40), primary_key=True)
    version = Column(Integer, nullable=False, default=0)
