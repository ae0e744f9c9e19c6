"""Helpers shared by the household-file tests (issue 3): complete files, valid and invalid uploads."""
from __future__ import annotations

from app.models import utcnow

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 32 + b"\xff\xd9"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120
MZ = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 120


def fill_household(app, household_id: int, documents: bool = True, separated: bool = False) -> None:
    """Make a factory household's file complete, the way a parent would (documents through the service)."""
    from app.models import DocumentKind, Household, db
    from app.services.household import documents as document_service

    with app.app_context():
        household = db.session.get(Household, household_id)
        household.address_line = "3 rue des Écoles"
        household.postcode = "83340"
        household.city = "Le Luc"
        household.phone = "0611223344"
        household.email = household.email or "famille@example.test"
        household.caf_number = "7654321"
        household.no_caf_number = False
        household.declared_quotient = 820
        household.separated_parents = separated
        for guardian in household.guardians:
            guardian.phone = guardian.phone or "0611223344"
        for link in household.child_links:
            child = link.child
            child.sex = child.sex or "F"
            child.school = child.school or "École Jean Moulin"
            child.school_level = child.school_level or "CE2"
            child.doctor_name = child.doctor_name or "Dr Martin"
            child.doctor_phone = child.doctor_phone or "0494000000"
            child.vaccinations_up_to_date = True
            child.health_updated_at = child.health_updated_at or utcnow()
        db.session.commit()
        if documents:
            household = db.session.get(Household, household_id)
            document_service.add_document(household, DocumentKind.QF_ATTESTATION, "attestation-caf.pdf", PDF)
            document_service.add_document(household, DocumentKind.INSURANCE, "assurance.jpg", JPEG)
            for link in list(household.child_links):
                document_service.add_document(household, DocumentKind.VACCINATIONS, "vaccins.png", PNG,
                                              child_id=link.child_id)
            if separated:
                document_service.add_document(household, DocumentKind.CUSTODY_JUDGEMENT, "jugement.pdf", PDF)


def set_status(app, household_id: int, status: str, submitted_at=None) -> None:
    from app.models import Household, db

    with app.app_context():
        household = db.session.get(Household, household_id)
        household.status = status
        household.submitted_at = submitted_at or household.submitted_at or utcnow()
        db.session.commit()


def mails(app, kind: str | None = None) -> list:
    """Mail log rows (detached plain tuples): (kind, to, subject, body_text, status)."""
    from app.models import MailLog, db

    with app.app_context():
        query = db.session.query(MailLog).order_by(MailLog.id)
        if kind:
            query = query.filter(MailLog.kind == kind)
        rows = [(m.kind, m.to_address, m.subject, m.body_text, m.status) for m in query]
    return rows


def audit_actions(app, household_id: int | None = None) -> list[str]:
    from app.models import AuditLog, db

    with app.app_context():
        query = db.session.query(AuditLog).order_by(AuditLog.id)
        if household_id is not None:
            query = query.filter(AuditLog.household_id == household_id)
        actions = [entry.action for entry in query]
    return actions
