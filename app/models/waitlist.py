"""The waiting list: a child × week wanted while full, and the offers made to it.

An offer is not a new kind of place: it is an ordinary held `Reservation` in a basket of its own
(status `offer`, outside the household's one active basket), whose `hold_expires_at` is the offer's
deadline. Every capacity count therefore includes it while it is live and forgets it the instant its
deadline passes, with no change to the counting code (DESIGN.md §3.8).
"""
from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class WaitlistStatus:
    WAITING = "waiting"  # in the queue
    OFFERED = "offered"  # a place is held for the child until the offer's deadline
    ACCEPTED = "accepted"  # the offer was paid: the child is booked
    LAPSED = "lapsed"  # the offer's deadline passed unpaid
    WITHDRAWN = "withdrawn"  # the family left the list or declined the offer, or staff removed it
    CLOSED = "closed"  # no offer can come any more (cut-off passed, child booked some other way)
    ALL = (WAITING, OFFERED, ACCEPTED, LAPSED, WITHDRAWN, CLOSED)
    ACTIVE = (WAITING, OFFERED)


class WaitlistTransport:
    BUS = "bus"  # a seat at the chosen stop is needed
    ONSITE = "onsite"
    ANY = "any"  # « bus ou sur place »: the bus at the chosen stop if a seat is free, else on-site
    ALL = (BUS, ONSITE, ANY)


class OfferOutcome:
    PENDING = "pending"
    ACCEPTED = "accepted"
    LAPSED = "lapsed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"  # staff removed the entry while offered
    ALL = (PENDING, ACCEPTED, LAPSED, DECLINED, WITHDRAWN)


_ACTIVE_SQL = "status IN ('waiting', 'offered')"
_PENDING_SQL = "outcome = 'pending'"


class WaitlistEntry(db.Model):
    __tablename__ = "waitlist_entry"
    __table_args__ = (
        CheckConstraint(f"status IN {WaitlistStatus.ALL}", name="ck_waitlist_status"),
        CheckConstraint(f"transport_mode IN {WaitlistTransport.ALL}", name="ck_waitlist_transport"),
        CheckConstraint("(transport_mode = 'onsite' AND stop_id IS NULL) OR (transport_mode = 'any') "
                        "OR (transport_mode = 'bus' AND stop_id IS NOT NULL)", name="ck_waitlist_transport_stop"),
        # One entry per child × week in the queue, whichever household asked (shared children).
        Index("uq_waitlist_active_child_week", "child_id", "week_id", unique=True,
              postgresql_where=text(_ACTIVE_SQL), sqlite_where=text(_ACTIVE_SQL)),
        # The queue of a week, in order.
        Index("ix_waitlist_week_status_joined", "week_id", "status", "joined_at", "id"),
    )

    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    child_id = Column(Integer, ForeignKey("child.id", ondelete="CASCADE"), nullable=False, index=True)
    week_id = Column(Integer, ForeignKey("week.id", ondelete="CASCADE"), nullable=False)
    transport_mode = Column(String(10), nullable=False)
    stop_id = Column(Integer, ForeignKey("stop.id", ondelete="SET NULL"))
    status = Column(String(20), nullable=False, default=WaitlistStatus.WAITING)
    joined_at = Column(UTCDateTime, nullable=False, default=utcnow)  # first come, first served
    ended_at = Column(UTCDateTime)
    end_reason = Column(Text)

    household = relationship("Household")
    child = relationship("Child")
    week = relationship("Week")
    stop = relationship("Stop")
    offers = relationship("WaitlistOffer", back_populates="entry", order_by="WaitlistOffer.id")

    def __repr__(self) -> str:
        return f"Liste d'attente n° {self.id}"


class WaitlistOffer(db.Model):
    """One offer made to an entry: the held line that carries it and what became of it."""

    __tablename__ = "waitlist_offer"
    __table_args__ = (
        CheckConstraint(f"outcome IN {OfferOutcome.ALL}", name="ck_waitlist_offer_outcome"),
        # An entry has at most one offer running: a freed place is never offered twice to it.
        Index("uq_waitlist_offer_pending_entry", "entry_id", unique=True,
              postgresql_where=text(_PENDING_SQL), sqlite_where=text(_PENDING_SQL)),
        Index("ix_waitlist_offer_outcome_expires", "outcome", "expires_at"),
    )

    id = Column(Integer, primary_key=True)
    entry_id = Column(Integer, ForeignKey("waitlist_entry.id", ondelete="CASCADE"), nullable=False, index=True)
    reservation_id = Column(Integer, ForeignKey("reservation.id", ondelete="SET NULL"), index=True)
    basket_id = Column(Integer, ForeignKey("basket.id", ondelete="SET NULL"), index=True)
    made_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)
    outcome = Column(String(20), nullable=False, default=OfferOutcome.PENDING)
    ended_at = Column(UTCDateTime)
    manual = Column(Boolean, nullable=False, default=False)
    actor_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    reason = Column(Text)  # a manual offer's reason

    entry = relationship("WaitlistEntry", back_populates="offers")
    reservation = relationship("Reservation")
    basket = relationship("Basket")

    def __repr__(self) -> str:
        return f"Offre n° {self.id}"


class WaitlistSettings(db.Model):
    """Per period: how long an offer lasts and when offers stop before a week starts (defaults when absent)."""

    __tablename__ = "waitlist_settings"
    __table_args__ = (
        CheckConstraint("offer_hours >= 1", name="ck_waitlist_settings_hours"),
        CheckConstraint("cutoff_days >= 0", name="ck_waitlist_settings_cutoff"),
    )

    period_id = Column(Integer, ForeignKey("period.id", ondelete="CASCADE"), primary_key=True)
    offer_hours = Column(Integer, nullable=False, default=24)
    cutoff_days = Column(Integer, nullable=False, default=2)

    period = relationship("Period")
