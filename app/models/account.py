"""Per-account security state that FAB's `ab_user` table has no column for.

`auth_stamp` is a counter bumped whenever the account's credentials change (password changed or
reset; later: roles changed). Every browser session and every JWT carries the stamp it was issued
under, and one that carries an older stamp is refused: that is how a password change ends the other
sessions without a server-side session store. A user without a row has stamp 0.
"""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer

from . import db
from .types import UTCDateTime, utcnow


class AccountSecurity(db.Model):
    __tablename__ = "account_security"

    # The primary key is the user's id: checking a stamp is one primary-key lookup.
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    auth_stamp = Column(Integer, nullable=False, default=0)
    stamped_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
