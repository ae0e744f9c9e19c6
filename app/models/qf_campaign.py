"""The yearly QF renewal campaign (issue 19): staff start one with a deadline; every family with a
file asked for a QF proof is mailed and sees « Nouvelle attestation de quotient familial » in its
checklist until it sends one dated after the campaign's start."""
from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Integer, String, Text

from . import db
from .types import UTCDateTime, utcnow


class QfCampaign(db.Model):
    __tablename__ = "qf_campaign"

    id = Column(Integer, primary_key=True)
    label = Column(String(200), nullable=False)  # « Quotient familial 2027 »
    deadline = Column(Date, nullable=False)  # families send the new proof by this day
    message = Column(Text)  # staff's words added to the mail
    started_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    started_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    households_asked = Column(Integer, nullable=False, default=0)
