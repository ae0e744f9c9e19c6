"""Invoices (factures) and the organiser's identity printed on every document.

An invoice copies everything it prints (payer, lines, totals, how it was paid) when it is issued,
inside the fulfilment transaction: a later change of a child's name, a tariff or a household's QF
never changes a document the family already holds (DESIGN.md §3.10). Updates are refused at flush.
"""
from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class Organiser(db.Model):
    """The public body that issues the documents: a single row (id 1), edited by Admin only."""

    __tablename__ = "organiser"
    __table_args__ = (CheckConstraint("id = 1", name="ck_organiser_single_row"),)

    id = Column(Integer, primary_key=True, default=1)
    name = Column(String(200), nullable=False, default="Pôle Jeunesse")
    address = Column(Text, nullable=False, default="")
    siret = Column(String(14), nullable=False, default="")
    regie_name = Column(String(200), nullable=False, default="")
    regie_number = Column(String(50), nullable=False, default="")
    contact = Column(Text, nullable=False, default="")  # phone, e-mail, hours: printed as written
    logo = Column(LargeBinary)  # PNG or JPEG, printed top left
    logo_mime = Column(String(30))
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return self.name


class Invoice(db.Model):
    """A facture FA-<year>-<000001>: one per paid basket, gapless per year, immutable."""

    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("year", "sequence", name="uq_invoice_year_sequence"),
        CheckConstraint("total_cents >= 0", name="ck_invoice_total"),
        CheckConstraint("card_cents >= 0 AND credit_cents >= 0", name="ck_invoice_paid_parts"),
    )

    id = Column(Integer, primary_key=True)
    number = Column(String(20), nullable=False, unique=True)
    year = Column(Integer, nullable=False)
    sequence = Column(Integer, nullable=False)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="RESTRICT"), nullable=False, index=True)
    basket_id = Column(Integer, ForeignKey("basket.id", ondelete="RESTRICT"), nullable=False, unique=True)
    payment_id = Column(Integer, ForeignKey("payment.id", ondelete="RESTRICT"), nullable=False, index=True)
    issued_at = Column(UTCDateTime, nullable=False, default=utcnow, index=True)
    payer_name = Column(String(200), nullable=False)
    payer_address = Column(Text, nullable=False, default="")
    total_cents = Column(Integer, nullable=False)
    card_cents = Column(Integer, nullable=False, default=0)  # paid by the payment (card, PayFiP or desk)
    payment_method = Column(String(30), nullable=False)  # card, cash, cheque… (Payment.method)
    payment_provider = Column(String(20), nullable=False)  # stripe, payfip, sandbox, desk, credit
    credit_cents = Column(Integer, nullable=False, default=0)  # paid by the household's avoirs
    credit_notes = Column(Text, nullable=False, default="")  # avoirs spent: "AV-…:cents", comma-separated

    lines = relationship("InvoiceLine", back_populates="invoice", order_by="InvoiceLine.id",
                         cascade="all, delete-orphan")
    household = relationship("Household")
    payment = relationship("Payment")

    def __repr__(self) -> str:
        return f"Facture {self.number}"


class InvoiceLine(db.Model):
    __tablename__ = "invoice_line"

    id = Column(Integer, primary_key=True)
    invoice_id = Column(Integer, ForeignKey("invoice.id", ondelete="CASCADE"), nullable=False, index=True)
    reservation_id = Column(Integer, ForeignKey("reservation.id", ondelete="SET NULL"), index=True)
    child_id = Column(Integer, ForeignKey("child.id", ondelete="SET NULL"), index=True)
    child_name = Column(String(200), nullable=False)
    child_birth_date = Column(Date)
    week_label = Column(String(100), nullable=False)
    week_starts_on = Column(Date, nullable=False)
    week_ends_on = Column(Date, nullable=False)
    establishment_name = Column(String(200), nullable=False)
    establishment_kind = Column(String(10), nullable=False)  # alsh | sejour (the tax attestation reads it)
    bracket_label = Column(String(100), nullable=False, default="")
    quotient = Column(Integer)  # the QF that chose the bracket (None: no QF → highest bracket)
    transport = Column(String(200), nullable=False, default="")
    price_cents = Column(Integer, nullable=False)
    bus_price_cents = Column(Integer, nullable=False, default=0)
    meal_share_cents = Column(Integer, nullable=False, default=0)  # copied from the tariff: tax attestation only
    total_cents = Column(Integer, nullable=False)

    invoice = relationship("Invoice", back_populates="lines")


@event.listens_for(Invoice, "before_update")
@event.listens_for(InvoiceLine, "before_update")
def _refuse_update(_mapper, _connection, target) -> None:
    """Issued is final: a correction is a credit note, never an edit."""
    raise ValueError(f"{target!r} is immutable once issued")
