"""A wish campaign: ranked wishes, the published priority rules, and the allocation run that settled them.

Why rows of their own rather than held reservations: a wish holds nothing (the time it was made
must not matter), so it never enters a capacity count; the allocation turns the given ones into
waiting-list offers (held reservations) in one published run.
"""
from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class OpeningMode:
    FIRST_COME = "first_come"
    WISHES = "wishes"
    ALL = (FIRST_COME, WISHES)


class Wish(db.Model):
    """One week wanted for one child, at a rank (1 = preferred), with its transport."""

    __tablename__ = "wish"
    __table_args__ = (
        CheckConstraint("rank >= 1", name="ck_wish_rank"),
        CheckConstraint("transport_mode IN ('bus', 'onsite', 'any')", name="ck_wish_transport"),
        CheckConstraint("(transport_mode = 'onsite' AND stop_id IS NULL) OR (transport_mode <> 'onsite' "
                        "AND stop_id IS NOT NULL)", name="ck_wish_transport_stop"),
        UniqueConstraint("household_id", "child_id", "week_id", name="uq_wish_household_child_week"),
        UniqueConstraint("household_id", "child_id", "period_id", "rank", name="uq_wish_household_child_rank"),
        Index("ix_wish_period_household", "period_id", "household_id"),
    )

    id = Column(Integer, primary_key=True)
    period_id = Column(Integer, ForeignKey("period.id", ondelete="CASCADE"), nullable=False)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    child_id = Column(Integer, ForeignKey("child.id", ondelete="CASCADE"), nullable=False, index=True)
    week_id = Column(Integer, ForeignKey("week.id", ondelete="CASCADE"), nullable=False, index=True)
    rank = Column(Integer, nullable=False)
    transport_mode = Column(String(10), nullable=False)  # as on the waiting list: bus | onsite | any
    stop_id = Column(Integer, ForeignKey("stop.id", ondelete="RESTRICT"))
    # « ensemble ou pas du tout »: the household's wishes for this week marked together are given to
    # all these siblings or to none.
    together = Column(Boolean, nullable=False, default=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    child = relationship("Child")
    week = relationship("Week")
    stop = relationship("Stop")

    def __repr__(self) -> str:
        return f"Vœu n° {self.id}"


class AllocationRules(db.Model):
    """A period's published priority criteria and their points; frozen once the wish window opens."""

    __tablename__ = "allocation_rules"
    __table_args__ = (
        CheckConstraint("resident_points >= 0 AND working_points >= 0 AND sibling_points >= 0 "
                        "AND no_previous_week_points >= 0 AND low_quotient_points >= 0", name="ck_allocation_points"),
    )

    period_id = Column(Integer, ForeignKey("period.id", ondelete="CASCADE"), primary_key=True)
    resident_points = Column(Integer, nullable=False, default=0)
    resident_communes = Column(Text)  # one commune a line
    working_points = Column(Integer, nullable=False, default=0)
    sibling_points = Column(Integer, nullable=False, default=0)
    no_previous_week_points = Column(Integer, nullable=False, default=0)
    low_quotient_points = Column(Integer, nullable=False, default=0)
    quotient_threshold = Column(Integer)  # euros; QF strictly under it
    # Where the draw's public value will come from (« tirage du Loto du … »), announced with the rules
    # before the window opens, so that staff cannot pick a value after seeing the wishes.
    public_value_source = Column(Text)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    period = relationship("Period")


class AllocationRun(db.Model):
    """The published allocation of a period: the draw's public value and seed, the rules as applied,
    and every household's and wish's result (JSON), so explanations never change after publication."""

    __tablename__ = "allocation_run"

    id = Column(Integer, primary_key=True)
    period_id = Column(Integer, ForeignKey("period.id", ondelete="CASCADE"), nullable=False, unique=True)
    public_value = Column(Text, nullable=False)
    seed = Column(String(64), nullable=False)
    rules_json = Column(Text, nullable=False)
    result_json = Column(Text, nullable=False)
    published_at = Column(UTCDateTime, nullable=False, default=utcnow)
    published_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    period = relationship("Period")
