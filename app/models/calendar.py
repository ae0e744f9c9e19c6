"""A household's private calendar feed (ICS): the secret in its address, renewable by the parent.

Phones' calendar apps fetch the feed without logging in, so the address itself is the key: a long
random token, one per household, replaced (the old address stops working) when the parent renews it.
"""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String

from . import db
from .types import UTCDateTime, utcnow


class CalendarFeed(db.Model):
    __tablename__ = "calendar_feed"

    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), primary_key=True)
    token = Column(String(64), nullable=False, unique=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
