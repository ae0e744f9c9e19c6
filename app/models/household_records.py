"""The household file's second version: dated QF records and desk invitations.

A QF is a value read on a proof (CAF or MSA attestation, tax notice) that holds for a span of
dates: the price of a week is judged at the week's start, so a QF changed in January does not
reprice the Christmas week already booked, and one that lapses is seen before it is used.

A household created at the desk from a paper file has no login; an invitation lets the parent claim
it once, with the invited address only. Only a hash of the token is stored: a database dump does not
open accounts.
"""
from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class QuotientSource:
    CAF = "caf"
    MSA = "msa"
    TAX_NOTICE = "tax_notice"
    ALL = (CAF, MSA, TAX_NOTICE)


class QuotientRecord(db.Model):
    __tablename__ = "quotient_record"
    __table_args__ = (
        CheckConstraint("value >= 0", name="ck_quotient_record_value"),
        CheckConstraint(f"source IN {QuotientSource.ALL}", name="ck_quotient_record_source"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_quotient_record_dates"),
    )

    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    value = Column(Integer, nullable=False)  # euros per month
    source = Column(String(20), nullable=False)
    valid_from = Column(Date, nullable=False)
    valid_to = Column(Date)  # inclusive; None = until a newer record
    entered_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    note = Column(Text)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    household = relationship("Household")
    entered_by = relationship("User")


class HouseholdInvitation(db.Model):
    __tablename__ = "household_invitation"

    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    email = Column(String(254), nullable=False)
    token_hash = Column(String(64), nullable=False, unique=True)  # sha256 hex of the mailed token
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)
    used_at = Column(UTCDateTime)
    revoked_at = Column(UTCDateTime)

    household = relationship("Household")
