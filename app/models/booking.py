"""Baskets and reservations: where capacity is held and confirmed."""
from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class BasketStatus:
    OPEN = "open"  # lines can be added; places held until expires_at
    CHECKOUT = "checkout"  # a payment was started; lines frozen
    PAID = "paid"  # every line confirmed
    EXPIRED = "expired"  # the hold lapsed unpaid; lines released
    CANCELLED = "cancelled"
    OFFER = "offer"  # a waiting-list offer's own basket (app.models.waitlist): not the household's active one
    ALL = (OPEN, CHECKOUT, PAID, EXPIRED, CANCELLED, OFFER)
    ACTIVE = (OPEN, CHECKOUT)


class ReservationStatus:
    HELD = "held"  # in a basket; counts against capacity only while hold_expires_at > now
    CONFIRMED = "confirmed"  # paid
    EXPIRED = "expired"
    REMOVED = "removed"  # taken out of the basket by the parent
    CANCELLED = "cancelled"  # a confirmed week cancelled by staff
    ALL = (HELD, CONFIRMED, EXPIRED, REMOVED, CANCELLED)
    LIVE = (HELD, CONFIRMED)


class TransportMode:
    BUS = "bus"
    ONSITE = "onsite"
    ALL = (BUS, ONSITE)


_LIVE_SQL = "status IN ('held', 'confirmed')"
_ACTIVE_BASKET_SQL = "status IN ('open', 'checkout')"


class Basket(db.Model):
    __tablename__ = "basket"
    __table_args__ = (
        CheckConstraint(f"status IN {BasketStatus.ALL}", name="ck_basket_status"),
        # One open basket per household.
        Index("uq_basket_active_household", "household_id", unique=True,
              postgresql_where=text(_ACTIVE_BASKET_SQL), sqlite_where=text(_ACTIVE_BASKET_SQL)),
        Index("ix_basket_status_expires_at", "status", "expires_at"),
    )

    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    status = Column(String(20), nullable=False, default=BasketStatus.OPEN)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    # Set once from the first line, never extended.
    expires_at = Column(UTCDateTime, nullable=False)
    confirmed_at = Column(UTCDateTime)
    expired_at = Column(UTCDateTime)
    # Staff member who built the basket at the desk, None for the parent's own basket.
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)

    household = relationship("Household")
    created_by = relationship("User")
    lines = relationship("Reservation", back_populates="basket", order_by="Reservation.id")
    payments = relationship("Payment", back_populates="basket", order_by="Payment.id")

    def __repr__(self) -> str:
        return f"Panier n° {self.id}"


class Reservation(db.Model):
    """One child × one week, with its transport and price."""

    __tablename__ = "reservation"
    __table_args__ = (
        CheckConstraint(f"status IN {ReservationStatus.ALL}", name="ck_reservation_status"),
        CheckConstraint(f"transport_mode IN {TransportMode.ALL}", name="ck_reservation_transport"),
        CheckConstraint(
            "(transport_mode = 'bus' AND stop_id IS NOT NULL AND circuit_id IS NOT NULL)"
            " OR (transport_mode = 'onsite' AND stop_id IS NULL AND circuit_id IS NULL)",
            name="ck_reservation_transport_stop",
        ),
        CheckConstraint("price_cents >= 0 AND bus_price_cents >= 0", name="ck_reservation_prices"),
        # Last guard against double booking: one live reservation per child and week.
        Index("uq_reservation_live_child_week", "child_id", "week_id", unique=True,
              postgresql_where=text(_LIVE_SQL), sqlite_where=text(_LIVE_SQL)),
        # Availability counts: confirmed + held lines per week, and per circuit × week.
        Index("ix_reservation_week_status", "week_id", "status", "hold_expires_at"),
        Index("ix_reservation_circuit_week_status", "circuit_id", "week_id", "status"),
    )

    id = Column(Integer, primary_key=True)
    basket_id = Column(Integer, ForeignKey("basket.id", ondelete="CASCADE"), nullable=False, index=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    child_id = Column(Integer, ForeignKey("child.id", ondelete="CASCADE"), nullable=False, index=True)
    week_id = Column(Integer, ForeignKey("week.id", ondelete="RESTRICT"), nullable=False, index=True)
    status = Column(String(20), nullable=False, default=ReservationStatus.HELD)
    transport_mode = Column(String(10), nullable=False)
    circuit_id = Column(Integer, ForeignKey("circuit.id", ondelete="RESTRICT"), index=True)
    stop_id = Column(Integer, ForeignKey("stop.id", ondelete="RESTRICT"), index=True)
    price_cents = Column(Integer, nullable=False, default=0)
    bus_price_cents = Column(Integer, nullable=False, default=0)
    # Copy of the basket's expires_at so that availability counts need no join.
    hold_expires_at = Column(UTCDateTime)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    confirmed_at = Column(UTCDateTime)
    ended_at = Column(UTCDateTime)  # expired, removed or cancelled
    cancel_reason = Column(Text)

    basket = relationship("Basket", back_populates="lines")
    household = relationship("Household")
    child = relationship("Child")
    week = relationship("Week")
    circuit = relationship("Circuit")
    stop = relationship("Stop")

    @property
    def total_cents(self) -> int:
        return self.price_cents + self.bus_price_cents

    def __repr__(self) -> str:
        return f"{self.child} — {self.week}"
