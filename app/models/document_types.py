"""Staff's settings of each kind of proof document (issue 19): its name, whether it is per child,
which establishments require it, and how long a proof stays valid.

One row per kind (`Document.kind`); staff may add their own kinds (« custom_<n> »). A built-in kind
without a row has the defaults of
app.services.household.validity. The validity is judged from the upload date: « none » (valid until
replaced), « months » (N months), « school_year » (until the 31 August that ends the school year of
the upload) or « calendar_year » (until the 31 December of the upload's year).
"""
from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Column, Integer, String

from . import db
from .types import UTCDateTime, utcnow


class ValidityRule:
    NONE = "none"
    MONTHS = "months"
    SCHOOL_YEAR = "school_year"
    CALENDAR_YEAR = "calendar_year"
    ALL = (NONE, MONTHS, SCHOOL_YEAR, CALENDAR_YEAR)


class RequiredFor:
    ALL_KINDS = "all"  # every file needs it
    ALSH = "alsh"  # only families who book or wish a week in an accueil de loisirs
    SEJOUR = "sejour"  # only families who book or wish a week of a séjour
    ALL = (ALL_KINDS, ALSH, SEJOUR)


class DocumentType(db.Model):
    __tablename__ = "document_type"
    __table_args__ = (
        CheckConstraint(f"validity_rule IN {ValidityRule.ALL}", name="ck_document_type_rule"),
        CheckConstraint(f"required_for IN {RequiredFor.ALL}", name="ck_document_type_required_for"),
        CheckConstraint("validity_months IS NULL OR (validity_months >= 1 AND validity_months <= 120)",
                        name="ck_document_type_months"),
        CheckConstraint("remind_days >= 0 AND remind_days <= 365", name="ck_document_type_remind_days"),
    )

    id = Column(Integer, primary_key=True)
    kind = Column(String(30), nullable=False, unique=True)
    name = Column(String(200), nullable=False)
    per_child = Column(Boolean, nullable=False, default=False)
    required_for = Column(String(10), nullable=False, default=RequiredFor.ALL_KINDS)
    validity_rule = Column(String(20), nullable=False, default=ValidityRule.NONE)
    validity_months = Column(Integer)
    remind_days = Column(Integer, nullable=False, default=30)  # mail the family this many days before expiry
    # A type staff added (kind « custom_<n> »); a built-in kind is always asked, a custom one while active.
    custom = Column(Boolean, nullable=False, default=False, server_default="0")
    active = Column(Boolean, nullable=False, default=True, server_default="1")
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
