"""Payments of whole baskets, refunds, and the provider notifications already processed."""
from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class PaymentStatus:
    PENDING = "pending"  # checkout started, not paid yet
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"  # the provider's checkout can no longer be paid
    REFUNDED = "refunded"  # refunded in full
    PARTIALLY_REFUNDED = "partially_refunded"
    ALL = (PENDING, PAID, FAILED, EXPIRED, REFUNDED, PARTIALLY_REFUNDED)


class Payment(db.Model):
    __tablename__ = "payment"
    __table_args__ = (
        CheckConstraint(f"status IN {PaymentStatus.ALL}", name="ck_payment_status"),
        CheckConstraint("amount_cents >= 0", name="ck_payment_amount"),
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name="ck_payment_refunded"),
        UniqueConstraint("provider", "provider_ref", name="uq_payment_provider_ref"),
        UniqueConstraint("basket_id", "attempt", name="uq_payment_basket_attempt"),
    )

    id = Column(Integer, primary_key=True)
    basket_id = Column(Integer, ForeignKey("basket.id", ondelete="RESTRICT"), nullable=False, index=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="RESTRICT"), nullable=False, index=True)
    provider = Column(String(20), nullable=False)  # stripe, sandbox, desk
    attempt = Column(Integer, nullable=False, default=1)
    provider_ref = Column(String(255))  # Stripe Checkout Session id, sandbox token…
    provider_payment_ref = Column(String(255))  # Stripe PaymentIntent id
    method = Column(String(30), nullable=False, default="card")  # card, cash, cheque, cheques_vacances, card_terminal
    status = Column(String(20), nullable=False, default=PaymentStatus.PENDING, index=True)
    amount_cents = Column(Integer, nullable=False)
    refunded_cents = Column(Integer, nullable=False, default=0)
    currency = Column(String(3), nullable=False, default="EUR")
    checkout_url = Column(Text)
    checkout_expires_at = Column(UTCDateTime)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    paid_at = Column(UTCDateTime)
    # Set when money needs a human look (late payment refunded, refund failed…).
    flagged = Column(Boolean, nullable=False, default=False, index=True)
    flag_reason = Column(Text)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)

    basket = relationship("Basket", back_populates="payments")
    household = relationship("Household")
    refunds = relationship("Refund", back_populates="payment", order_by="Refund.id")

    def __repr__(self) -> str:
        return f"Paiement n° {self.id}"


class Refund(db.Model):
    __tablename__ = "refund"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="ck_refund_amount"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="ck_refund_status"),
    )

    id = Column(Integer, primary_key=True)
    payment_id = Column(Integer, ForeignKey("payment.id", ondelete="RESTRICT"), nullable=False, index=True)
    reservation_id = Column(Integer, ForeignKey("reservation.id", ondelete="SET NULL"), index=True)
    amount_cents = Column(Integer, nullable=False)
    reason = Column(Text, nullable=False)
    status = Column(String(20), nullable=False, default="pending")
    provider_ref = Column(String(255))
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)

    payment = relationship("Payment", back_populates="refunds")
    reservation = relationship("Reservation")


class ProviderEvent(db.Model):
    """A provider notification already processed: a replay finds its id here and does nothing."""

    __tablename__ = "provider_event"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_provider_event"),)

    id = Column(Integer, primary_key=True)
    provider = Column(String(20), nullable=False)
    event_id = Column(String(255), nullable=False)
    type = Column(String(100), nullable=False)
    payment_id = Column(Integer, ForeignKey("payment.id", ondelete="SET NULL"), index=True)
    received_at = Column(UTCDateTime, nullable=False, default=utcnow)
    payload = Column(Text)
