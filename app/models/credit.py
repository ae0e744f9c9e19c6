"""Cancellation rules per period, parents' cancellation requests, and the household's credit account
(avoirs): numbered credit notes in, uses out.

Why two tables for the account rather than one signed ledger: a credit note (avoir) is a document
with a gapless number per year (DESIGN.md §3.10) that the invoices issue prints; what takes money
out of the account (a checkout, a withdrawal, a refund) is not an avoir and has no number. The
balance is Σ credit notes − Σ uses that count (app/services/payments/credits.py says which).
"""
from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class CancellationOutcome:
    CREDIT = "credit"  # an avoir on the household's account
    REFUND = "refund"  # back to the card that paid
    ALL = (CREDIT, REFUND)


class CancellationRules(db.Model):
    """A period's published cancellation rules; a period without a row has the defaults."""

    __tablename__ = "cancellation_rules"
    __table_args__ = (
        CheckConstraint("free_days_before >= 0 AND free_days_before <= 365", name="ck_cancellation_days"),
        CheckConstraint(f"outcome IN {CancellationOutcome.ALL}", name="ck_cancellation_outcome"),
    )

    id = Column(Integer, primary_key=True)
    period_id = Column(Integer, ForeignKey("period.id", ondelete="CASCADE"), nullable=False, unique=True)
    # Free cancellation until the end of the day N days before the week starts (Paris time).
    free_days_before = Column(Integer, nullable=False, default=7)
    # After that, a request with a justification that staff decide (False: no late cancellation).
    late_with_justification = Column(Boolean, nullable=False, default=True)
    outcome = Column(String(10), nullable=False, default=CancellationOutcome.CREDIT)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    period = relationship("Period")


class CancellationRequestStatus:
    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"
    ALL = (PENDING, ACCEPTED, REFUSED)


_PENDING_SQL = "status = 'pending'"


class CancellationRequest(db.Model):
    """A late cancellation asked by a parent with a justification; staff accept or refuse it."""

    __tablename__ = "cancellation_request"
    __table_args__ = (
        CheckConstraint(f"status IN {CancellationRequestStatus.ALL}", name="ck_cancellation_request_status"),
        # One pending request per reservation: asking twice finds the first one.
        Index("uq_cancellation_request_pending", "reservation_id", unique=True,
              postgresql_where=text(_PENDING_SQL), sqlite_where=text(_PENDING_SQL)),
    )

    id = Column(Integer, primary_key=True)
    reservation_id = Column(Integer, ForeignKey("reservation.id", ondelete="CASCADE"), nullable=False, index=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    document_id = Column(Integer, ForeignKey("document.id", ondelete="SET NULL"), index=True)
    reason = Column(Text)  # the parent's words
    status = Column(String(10), nullable=False, default=CancellationRequestStatus.PENDING, index=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    decided_at = Column(UTCDateTime)
    decided_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    decision_note = Column(Text)  # the reason of a refusal, mailed to the family

    reservation = relationship("Reservation")
    household = relationship("Household")
    document = relationship("Document")
    decided_by = relationship("User", foreign_keys=[decided_by_id])


class CreditNoteKind:
    CANCELLATION = "cancellation"  # a cancelled week
    GRANT = "grant"  # granted by staff (goodwill, correction), with a reason
    ALL = (CANCELLATION, GRANT)


class CreditNote(db.Model):
    """An avoir: money the household may spend at its next checkouts. Immutable once issued."""

    __tablename__ = "credit_note"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="ck_credit_note_amount"),
        CheckConstraint(f"kind IN {CreditNoteKind.ALL}", name="ck_credit_note_kind"),
        UniqueConstraint("year", "sequence", name="uq_credit_note_year_sequence"),
    )

    id = Column(Integer, primary_key=True)
    number = Column(String(20), nullable=False, unique=True)  # AV-2026-000001
    year = Column(Integer, nullable=False)
    sequence = Column(Integer, nullable=False)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="RESTRICT"), nullable=False, index=True)
    kind = Column(String(20), nullable=False)
    amount_cents = Column(Integer, nullable=False)
    reason = Column(Text, nullable=False)
    reservation_id = Column(Integer, ForeignKey("reservation.id", ondelete="SET NULL"), index=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)

    household = relationship("Household")
    reservation = relationship("Reservation")

    def __repr__(self) -> str:
        return f"Avoir {self.number}"


class CreditUseKind:
    CHECKOUT = "checkout"  # spent on a basket (counts while its payment is pending, then once applied)
    WITHDRAWAL = "withdrawal"  # withdrawn by staff with a reason
    REFUND_CARD = "refund_card"  # paid back to the card by staff
    REFUND_REGIE = "refund_regie"  # paid back by the régie (transfer)
    ALL = (CHECKOUT, WITHDRAWAL, REFUND_CARD, REFUND_REGIE)


class CreditUse(db.Model):
    """Money out of the household's credit account."""

    __tablename__ = "credit_use"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="ck_credit_use_amount"),
        CheckConstraint(f"kind IN {CreditUseKind.ALL}", name="ck_credit_use_kind"),
        CheckConstraint("kind <> 'checkout' OR payment_id IS NOT NULL", name="ck_credit_use_checkout_payment"),
    )

    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="RESTRICT"), nullable=False, index=True)
    kind = Column(String(20), nullable=False)
    amount_cents = Column(Integer, nullable=False)
    payment_id = Column(Integer, ForeignKey("payment.id", ondelete="RESTRICT"), index=True, unique=True)
    # A checkout's use counts for good only once its basket is confirmed (fulfilment sets it).
    applied = Column(Boolean, nullable=False, default=False)
    reason = Column(Text)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)

    household = relationship("Household")
    payment = relationship("Payment")


class DocumentCounter(db.Model):
    """The next number of a numbered document type per year, locked FOR UPDATE by the transaction
    that issues one: a number is used only if that transaction commits, so numbers have no gaps."""

    __tablename__ = "document_counter"
    __table_args__ = (UniqueConstraint("kind", "year", name="uq_document_counter_kind_year"),)

    id = Column(Integer, primary_key=True)
    kind = Column(String(10), nullable=False)  # AV (avoir); issue 16 may add FA (facture)
    year = Column(Integer, nullable=False)
    last_number = Column(Integer, nullable=False, default=0)
