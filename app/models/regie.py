"""Refunds that the régie pays by hand: PayFiP (the treasury's card payment) has no refund call.

A refund of a PayFiP payment is still a `Refund` row (the portal's books: the money is owed back
and counted as refunded, DESIGN.md §3.9), handed over to the régie as one of these tasks. The
régie asks the family for its bank details (RIB), pays by transfer, then marks the task done:
who and when are kept here and in the audit log.
"""
from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class RegieRefundStatus:
    TODO = "todo"  # to do: ask the family for its bank details
    DETAILS_REQUESTED = "details_requested"  # bank details asked for, transfer not made yet
    DONE = "done"  # the régie made the transfer
    ALL = (TODO, DETAILS_REQUESTED, DONE)
    OPEN = (TODO, DETAILS_REQUESTED)


class RegieRefund(db.Model):
    __tablename__ = "regie_refund"
    __table_args__ = (
        CheckConstraint(f"status IN {RegieRefundStatus.ALL}", name="ck_regie_refund_status"),
        CheckConstraint("amount_cents > 0", name="ck_regie_refund_amount"),
    )

    id = Column(Integer, primary_key=True)
    # The refund's idempotency key: the same refund handed over twice finds its task again.
    refund_key = Column(String(100), nullable=False, unique=True)
    refund_id = Column(Integer, ForeignKey("refund.id", ondelete="SET NULL"), index=True)
    payment_id = Column(Integer, ForeignKey("payment.id", ondelete="RESTRICT"), nullable=False, index=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="RESTRICT"), nullable=False, index=True)
    amount_cents = Column(Integer, nullable=False)
    reason = Column(Text, nullable=False)
    status = Column(String(20), nullable=False, default=RegieRefundStatus.TODO, index=True)
    # PayFiP's references of the payment to refund (refdet, idOp), for the régie's own books.
    refdet = Column(String(30))
    payfip_idop = Column(String(255))
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    details_requested_at = Column(UTCDateTime)
    done_at = Column(UTCDateTime)
    done_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    note = Column(Text)  # e.g. « virement du 12/03, mandat n° … »

    payment = relationship("Payment")
    household = relationship("Household")
    refund = relationship("Refund")
    done_by = relationship("User", foreign_keys=[done_by_id])

    def __repr__(self) -> str:
        return f"Remboursement régie n° {self.id}"
