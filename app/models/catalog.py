"""The catalogue staff run: establishments, periods, weeks, tariffs, bus circuits and stops."""
from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime


class Establishment(db.Model):
    __tablename__ = "establishment"
    __table_args__ = (
        CheckConstraint("kind IN ('alsh', 'sejour')", name="ck_establishment_kind"),
        CheckConstraint("age_min >= 0 AND age_max >= age_min", name="ck_establishment_ages"),
    )

    id = Column(Integer, primary_key=True)
    name = Column(String(200), nullable=False, unique=True)
    kind = Column(String(10), nullable=False, default="alsh")
    commune = Column(String(100), nullable=False)
    address = Column(String(255))
    age_min = Column(Integer, nullable=False)  # years, inclusive, at the period's first day
    age_max = Column(Integer, nullable=False)
    description = Column(Text)
    active = Column(Boolean, nullable=False, default=True)

    periods = relationship("Period", back_populates="establishment", order_by="Period.starts_on")

    def __repr__(self) -> str:
        return self.name


class Period(db.Model):
    __tablename__ = "period"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="ck_period_dates"),
        CheckConstraint("closes_at > opens_at", name="ck_period_window"),
        CheckConstraint("bus_price_cents >= 0", name="ck_period_bus_price"),
        CheckConstraint("opening_mode IN ('first_come', 'wishes')", name="ck_period_opening_mode"),
        CheckConstraint("offer_hours >= 1", name="ck_period_offer_hours"),
        CheckConstraint("max_weeks_per_child IS NULL OR max_weeks_per_child >= 1", name="ck_period_max_weeks"),
    )

    id = Column(Integer, primary_key=True)
    establishment_id = Column(Integer, ForeignKey("establishment.id", ondelete="CASCADE"), nullable=False, index=True)
    name = Column(String(200), nullable=False)
    starts_on = Column(Date, nullable=False)
    ends_on = Column(Date, nullable=False)
    opens_at = Column(UTCDateTime, nullable=False)  # registration window, with a time of day
    closes_at = Column(UTCDateTime, nullable=False)
    # Until this moment a parent may change the bus stop of a confirmed week; after it only staff can.
    stop_change_deadline = Column(UTCDateTime)
    bus_price_cents = Column(Integer, nullable=False, default=0)
    # How the period opens (app.models.allocation): `first_come` (the booking window above decides) or
    # `wishes` (ranked wishes in [wishes_open_at, wishes_close_at), allocated by published rules;
    # each given week is an offer to pay within offer_hours; results promised for results_at).
    opening_mode = Column(String(12), nullable=False, default="first_come", server_default="first_come")
    wishes_open_at = Column(UTCDateTime)
    wishes_close_at = Column(UTCDateTime)
    results_at = Column(UTCDateTime)
    offer_hours = Column(Integer, nullable=False, default=72, server_default="72")
    max_weeks_per_child = Column(Integer)  # None = no maximum

    establishment = relationship("Establishment", back_populates="periods")
    weeks = relationship("Week", back_populates="period", order_by="Week.starts_on", cascade="all, delete-orphan")
    tariffs = relationship("TariffBracket", back_populates="period", order_by="TariffBracket.qf_min",
                           cascade="all, delete-orphan")
    circuits = relationship("Circuit", back_populates="period", order_by="Circuit.name", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return f"{self.name} — {self.establishment}" if self.establishment else self.name


class Week(db.Model):
    """The unit that is booked; for a séjour, the whole stay."""

    __tablename__ = "week"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="ck_week_capacity"),
        CheckConstraint("ends_on >= starts_on", name="ck_week_dates"),
    )

    id = Column(Integer, primary_key=True)
    period_id = Column(Integer, ForeignKey("period.id", ondelete="CASCADE"), nullable=False, index=True)
    label = Column(String(100), nullable=False)
    starts_on = Column(Date, nullable=False)
    ends_on = Column(Date, nullable=False)
    capacity = Column(Integer, nullable=False)

    period = relationship("Period", back_populates="weeks")

    def __repr__(self) -> str:
        return self.label


class TariffBracket(db.Model):
    """Price of one week for households whose QF is in [qf_min, qf_max] (qf_max None = no ceiling)."""

    __tablename__ = "tariff_bracket"
    __table_args__ = (
        CheckConstraint("qf_min >= 0", name="ck_tariff_qf_min"),
        CheckConstraint("qf_max IS NULL OR qf_max >= qf_min", name="ck_tariff_qf_max"),
        CheckConstraint("price_cents >= 0", name="ck_tariff_price"),
        UniqueConstraint("period_id", "qf_min", name="uq_tariff_period_qf_min"),
    )

    id = Column(Integer, primary_key=True)
    period_id = Column(Integer, ForeignKey("period.id", ondelete="CASCADE"), nullable=False, index=True)
    label = Column(String(100), nullable=False)
    qf_min = Column(Integer, nullable=False)
    qf_max = Column(Integer)
    price_cents = Column(Integer, nullable=False)
    # The meals in price_cents: deducted from the childcare costs of the tax attestation, nowhere else.
    meal_share_cents = Column(Integer, nullable=False, default=0, server_default="0")

    period = relationship("Period", back_populates="tariffs")

    def __repr__(self) -> str:
        return self.label


class Circuit(db.Model):
    """A bus route serving a period; `seats` is a capacity of its own for each week of the period."""

    __tablename__ = "circuit"
    __table_args__ = (CheckConstraint("seats >= 0", name="ck_circuit_seats"),)

    id = Column(Integer, primary_key=True)
    period_id = Column(Integer, ForeignKey("period.id", ondelete="CASCADE"), nullable=False, index=True)
    name = Column(String(200), nullable=False)
    seats = Column(Integer, nullable=False)

    period = relationship("Period", back_populates="circuits")
    stops = relationship("Stop", back_populates="circuit", order_by="Stop.position", cascade="all, delete-orphan")

    def __repr__(self) -> str:
        return self.name


class Stop(db.Model):
    __tablename__ = "stop"
    __table_args__ = (UniqueConstraint("circuit_id", "position", name="uq_stop_circuit_position"),)

    id = Column(Integer, primary_key=True)
    circuit_id = Column(Integer, ForeignKey("circuit.id", ondelete="CASCADE"), nullable=False, index=True)
    name = Column(String(200), nullable=False)
    position = Column(Integer, nullable=False)  # route order
    pickup_time = Column(Time, nullable=False)  # morning, towards the establishment
    dropoff_time = Column(Time, nullable=False)  # evening, back home

    circuit = relationship("Circuit", back_populates="stops")

    def __repr__(self) -> str:
        return f"{self.name} ({self.pickup_time:%H:%M} / {self.dropoff_time:%H:%M})"
