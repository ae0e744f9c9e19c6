"""Who changed what, and every mail the portal sent."""
from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Text

from . import db
from .types import UTCDateTime, utcnow


class AuditLog(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)

    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    actor_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    actor_label = Column(String(254), nullable=False)  # e-mail, or "système" for jobs
    action = Column(String(100), nullable=False, index=True)
    entity = Column(String(50), nullable=False)
    entity_id = Column(Integer)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="SET NULL"), index=True)
    before = Column(Text)  # JSON
    after = Column(Text)  # JSON


class MailLog(db.Model):
    __tablename__ = "mail_log"

    id = Column(Integer, primary_key=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    kind = Column(String(50), nullable=False, index=True)
    to_address = Column(String(254), nullable=False, index=True)
    subject = Column(String(255), nullable=False)
    body_text = Column(Text, nullable=False)
    body_html = Column(Text)
    status = Column(String(20), nullable=False, default="queued")  # queued, sent, failed
    attempts = Column(Integer, nullable=False, default=0)
    sent_at = Column(UTCDateTime)
    error = Column(Text)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="SET NULL"), index=True)
    # A mail that must go once (basket expired, payment confirmed) carries a key; a second try finds it.
    dedupe_key = Column(String(100), unique=True)
    # Documents attached when sent, as "kind:id" lines (rebuilt at send time; e.g. "invoice:12").
    attachments = Column(Text)
