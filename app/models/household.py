"""The family file: households, guardians, children, their links and proof documents."""
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
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from . import db
from .types import UTCDateTime, utcnow


class HouseholdStatus:
    DRAFT = "draft"
    SUBMITTED = "submitted"
    VALIDATED = "validated"
    INCOMPLETE = "incomplete"
    ALL = (DRAFT, SUBMITTED, VALIDATED, INCOMPLETE)


class LinkStatus:
    """A child's link to a household: staff confirm it before the household can book for the child."""

    PENDING = "pending"
    VALIDATED = "validated"
    REFUSED = "refused"
    ALL = (PENDING, VALIDATED, REFUSED)


class DocumentKind:
    QF_ATTESTATION = "qf_attestation"
    INSURANCE = "insurance"
    VACCINATIONS = "vaccinations"
    CUSTODY_JUDGEMENT = "custody_judgement"
    EMPLOYER_ATTESTATION = "employer_attestation"  # one per working guardian: a priority criterion (allocation)
    ALL = (QF_ATTESTATION, INSURANCE, VACCINATIONS, CUSTODY_JUDGEMENT, EMPLOYER_ATTESTATION)
    # A justification of a late cancellation (issue 14): about one week, not the file, so staff decide
    # it in the cancellation queue and it never sends the file back to review.
    MEDICAL_CERTIFICATE = "medical_certificate"
    JUSTIFICATIONS = (MEDICAL_CERTIFICATE,)
    STORED = ALL + JUSTIFICATIONS


class Household(db.Model):
    __tablename__ = "household"
    __table_args__ = (
        CheckConstraint(f"status IN {HouseholdStatus.ALL}", name="ck_household_status"),
        CheckConstraint("quotient IS NULL OR quotient >= 0", name="ck_household_quotient"),
        CheckConstraint(
            "declared_quotient IS NULL OR declared_quotient >= 0", name="ck_household_declared_quotient"
        ),
    )

    id = Column(Integer, primary_key=True)
    # The FAB user who owns the login of this household (role Parent).
    owner_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), unique=True, index=True)
    name = Column(String(200), nullable=False)
    status = Column(String(20), nullable=False, default=HouseholdStatus.DRAFT, index=True)
    email = Column(String(254))
    phone = Column(String(30))
    address_line = Column(String(255))
    postcode = Column(String(10))
    city = Column(String(100))
    caf_number = Column(String(20))
    no_caf_number = Column(Boolean, nullable=False, default=False)
    # CAF, MSA or other (app.models.attendance.BenefitScheme): which office funds the hours of its
    # children (CAF export). The allocataire number, CAF's or MSA's, is caf_number above.
    benefit_scheme = Column(String(10))
    declared_quotient = Column(Integer)  # what the family says, in euros
    quotient = Column(Integer)  # what staff read on the CAF attestation; None = top tariff
    separated_parents = Column(Boolean, nullable=False, default=False)
    incomplete_reasons = Column(Text)  # JSON list of reason codes
    incomplete_note = Column(Text)
    submitted_at = Column(UTCDateTime, index=True)
    validated_at = Column(UTCDateTime)
    validated_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)
    # Set when the family's personal data were erased (GDPR, app.services.operations.privacy): the row
    # stays, emptied, only because invoices, payments and credit notes the books must keep point at it.
    erased_at = Column(UTCDateTime, index=True)

    owner = relationship("User", foreign_keys=[owner_id])
    validated_by = relationship("User", foreign_keys=[validated_by_id])
    guardians = relationship("Guardian", back_populates="household", cascade="all, delete-orphan",
                             order_by="Guardian.id")
    child_links = relationship("HouseholdChild", back_populates="household", cascade="all, delete-orphan",
                               order_by="HouseholdChild.id")
    documents = relationship("Document", back_populates="household", cascade="all, delete-orphan",
                             order_by="Document.id")

    @property
    def is_validated(self) -> bool:
        return self.status == HouseholdStatus.VALIDATED

    def __repr__(self) -> str:
        return self.name


class Guardian(db.Model):
    __tablename__ = "guardian"

    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    first_name = Column(String(100), nullable=False)
    last_name = Column(String(100), nullable=False)
    relationship_label = Column(String(50))  # mère, père, tuteur…
    phone = Column(String(30))
    email = Column(String(254))
    employer = Column(String(200))

    household = relationship("Household", back_populates="guardians")

    def __repr__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Child(db.Model):
    """One record per real child, shared by the households it belongs to (separated parents)."""

    __tablename__ = "child"
    __table_args__ = (CheckConstraint("sex IS NULL OR sex IN ('F', 'M')", name="ck_child_sex"),)

    id = Column(Integer, primary_key=True)
    first_name = Column(String(100), nullable=False)
    last_name = Column(String(100), nullable=False, index=True)
    birth_date = Column(Date, nullable=False)
    sex = Column(String(1))
    school = Column(String(200))
    school_level = Column(String(50))
    # Health sheet (fiche sanitaire): the child's, visible to each of its households.
    allergies = Column(Text)
    diet = Column(String(200))
    pai = Column(Boolean, nullable=False, default=False)  # projet d'accueil individualisé
    pai_details = Column(Text)
    medical_notes = Column(Text)
    doctor_name = Column(String(200))
    doctor_phone = Column(String(30))
    vaccinations_up_to_date = Column(Boolean, nullable=False, default=False)
    image_rights = Column(Boolean, nullable=False, default=False)
    health_updated_at = Column(UTCDateTime)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    household_links = relationship("HouseholdChild", back_populates="child", cascade="all, delete-orphan")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def __repr__(self) -> str:
        return self.full_name


class HouseholdChild(db.Model):
    __tablename__ = "household_child"
    __table_args__ = (
        UniqueConstraint("household_id", "child_id", name="uq_household_child"),
        CheckConstraint(f"status IN {LinkStatus.ALL}", name="ck_household_child_status"),
    )

    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    child_id = Column(Integer, ForeignKey("child.id", ondelete="CASCADE"), nullable=False, index=True)
    status = Column(String(20), nullable=False, default=LinkStatus.PENDING)
    # True when the child already existed in another household: staff confirm with the custody judgement.
    shared_request = Column(Boolean, nullable=False, default=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    validated_at = Column(UTCDateTime)

    household = relationship("Household", back_populates="child_links")
    child = relationship("Child", back_populates="household_links")
    pickups = relationship("AuthorizedPickup", back_populates="link", cascade="all, delete-orphan",
                           order_by="AuthorizedPickup.id")

    def __repr__(self) -> str:
        return f"{self.child} ({self.household})"


class AuthorizedPickup(db.Model):
    """A person a household authorises to collect its child; private to that household."""

    __tablename__ = "authorized_pickup"

    id = Column(Integer, primary_key=True)
    link_id = Column(Integer, ForeignKey("household_child.id", ondelete="CASCADE"), nullable=False, index=True)
    name = Column(String(200), nullable=False)
    phone = Column(String(30), nullable=False)
    relationship_label = Column(String(50))

    link = relationship("HouseholdChild", back_populates="pickups")


class Document(db.Model):
    __tablename__ = "document"
    __table_args__ = (
        # The built-in kinds, or a kind staff added (app.models.document_types, « custom_<n> »).
        CheckConstraint(f"kind IN {DocumentKind.STORED} OR kind LIKE 'custom_%'", name="ck_document_kind"),
        CheckConstraint("status IN ('pending', 'accepted', 'refused')", name="ck_document_status"),
        CheckConstraint("size_bytes > 0", name="ck_document_size"),
    )

    id = Column(Integer, primary_key=True)
    household_id = Column(Integer, ForeignKey("household.id", ondelete="CASCADE"), nullable=False, index=True)
    child_id = Column(Integer, ForeignKey("child.id", ondelete="SET NULL"), index=True)
    kind = Column(String(30), nullable=False)
    original_name = Column(String(255), nullable=False)
    storage_key = Column(String(64), nullable=False, unique=True)  # random name on disk, never the user's
    content_type = Column(String(50), nullable=False)
    size_bytes = Column(Integer, nullable=False)
    status = Column(String(20), nullable=False, default="pending")
    refusal_reason = Column(Text)
    uploaded_at = Column(UTCDateTime, nullable=False, default=utcnow)

    household = relationship("Household", back_populates="documents")
    child = relationship("Child")
