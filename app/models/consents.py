"""Authorisations (issue 19): the consent questions staff ask families per child (may go home alone,
may get off the bus alone, swimming, outings, emergency medical intervention…), for every
establishment or one kind only, and each household's answer per child with its date."""
from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class ConsentQuestion(db.Model):
    __tablename__ = "consent_question"
    __table_args__ = (
        CheckConstraint("establishment_kind IN ('all', 'alsh', 'sejour')", name="ck_consent_question_kind"),
    )

    id = Column(Integer, primary_key=True)
    label = Column(String(300), nullable=False)  # the question as families read it
    help_text = Column(Text)
    establishment_kind = Column(String(10), nullable=False, default="all")
    on_bus_list = Column(Boolean, nullable=False, default=False)  # e.g. « peut descendre seul à l'arrêt »
    position = Column(Integer, nullable=False, default=0)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class ChildConsent(db.Model):
    __tablename__ = "child_consent"
    __table_args__ = (UniqueConstraint("household_id", "child_id", "question_id", name="uq_child_consent"),)

    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    child_id = Column(Integer, ForeignKey("child.id", ondelete="CASCADE"), nullable=False, index=True)
    question_id = Column(Integer, ForeignKey("consent_question.id", ondelete="CASCADE"), nullable=False, index=True)
    granted = Column(Boolean, nullable=False)
    answered_at = Column(UTCDateTime, nullable=False, default=utcnow)
    answered_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)

    question = relationship("ConsentQuestion")
