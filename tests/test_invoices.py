"""Invoices (issue 16): one per paid basket, gapless FA numbers per year, lines copied and immutable,
the PDF's text read back, attached to the confirmation mail; credit-note PDF refers to the invoice."""
from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests.credit_helpers import add, book_and_pay, checkout, pay


def pdf_text(data: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return re.sub(r" +", " ", text.replace("\u202f", " ").replace("\u00a0", " "))  # justified lines


@pytest.fixture
def family(app, factory):
    cat = factory.catalog(capacities=(10, 10, 10))
    fam = factory.household(last_name="Morel", children=[("Léa", 8), ("Hugo", 5)])
    return cat, fam


def _invoices(app, household_id):
    from app.services.payments.invoices import household_invoices

    with app.app_context():
        return [(i.number, i.year, i.sequence, i.total_cents, len(i.lines)) for i in household_invoices(household_id)]


def test_one_invoice_per_paid_basket_numbered_without_gaps(app, family):
    cat, fam = family
    book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0], cat.stop_ids[0])
    add(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    add(app, fam.id, fam.child_ids[1], cat.week_ids[1])
    result = checkout(app, fam.id)
    pay(app, result, outcome="refuse")  # a failed payment issues nothing
    invoices = _invoices(app, fam.id)
    assert len(invoices) == 1
    pay(app, checkout(app, fam.id))
    invoices = sorted(_invoices(app, fam.id), key=lambda row: row[2])
    assert [row[2] for row in invoices] == [1, 2]
    year = invoices[0][1]
    assert [row[0] for row in invoices] == [f"FA-{year}-000001", f"FA-{year}-000002"]
    assert invoices[1][4] == 2


def test_invoice_content_pdf_and_immutability(app, factory, family):
    from app.models import Invoice, db
    from app.services.payments import documents_pdf
    from app.services.payments.organiser import update_organiser

    cat, fam = family
    admin = factory.admin()
    with app.app_context():
        from flask_appbuilder.security.sqla.models import User

        update_organiser({"name": "Communauté de communes Cœur du Var", "address": "Quartier Précoumin\n83340 Le Luc",
                          "siret": "248 300 394 00019", "regie_name": "Régie enfance-jeunesse",
                          "regie_number": "R-0042", "contact": "04 94 00 00 00"},
                         actor=db.session.get(User, admin.id))
    book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0], cat.stop_ids[0])
    with app.app_context():
        invoice = db.session.execute(db.select(Invoice).where(Invoice.household_id == fam.id)).scalar_one()
        line = invoice.lines[0]
        assert line.child_name.startswith("Léa") and line.quotient == 650 and line.bus_price_cents == 500
        assert invoice.total_cents == line.price_cents + 500 == invoice.card_cents
        text = pdf_text(documents_pdf.invoice_pdf(invoice))
        number, week_label, bracket_label = invoice.number, line.week_label, line.bracket_label
        invoice.total_cents = 1
        with pytest.raises(ValueError, match="immutable"):
            db.session.flush()
        db.session.rollback()
    assert f"Facture {number}" in text
    for expected in ("Cœur du Var", "SIRET 24830039400019", "Régie enfance-jeunesse n° R-0042", "Foyer Morel",
                     "Léa", week_label, "QF 650", bracket_label, "Bus", "Total :", "€",
                     "Carte bancaire"):
        assert expected in text, expected


def test_confirmation_mail_carries_the_invoice_pdf(app, family):
    from app.jobs.worker import run_pending
    from app.services.mail import console_outbox

    cat, fam = family
    book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    run_pending(app)
    mails = [m for m in console_outbox(app) if m.kind == "payment_confirmation" and m.to == fam.email]
    assert mails, "no confirmation mail"
    (filename, mime, data), = mails[-1].attachments
    assert filename.startswith("facture-FA-") and mime == "application/pdf"
    assert "Facture FA-" in pdf_text(data)


def test_credit_note_pdf_refers_to_the_invoice(app, family):
    from app.models import CreditNote, Invoice, db
    from app.services.payments import documents_pdf
    from app.services.payments.cancellations import cancel_by_parent

    cat, fam = family
    line_id = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    with app.app_context():
        cancel_by_parent(fam.id, line_id)
    with app.app_context():
        note = db.session.execute(db.select(CreditNote).where(CreditNote.household_id == fam.id)).scalar_one()
        invoice = db.session.execute(db.select(Invoice).where(Invoice.household_id == fam.id)).scalar_one()
        text = pdf_text(documents_pdf.credit_note_pdf(note))
    assert f"Avoir {note.number}" in text and f"facture {invoice.number}" in text


def test_invoice_names_the_credit_notes_spent_first_issued_first_used(app, factory):
    from flask_appbuilder.security.sqla.models import User

    from app.models import CreditNote, Invoice, db
    from app.services.payments import credits, documents_pdf
    from app.services.payments.cancellations import cancel_by_parent
    from app.services.payments.invoices import spent_credit_notes

    cat = factory.catalog(capacities=(10, 10, 10), tariffs=((0, None, 4500),))
    staff = factory.staff()
    fam = factory.household(children=[("Hugo", 5)])
    first = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    second = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    with app.app_context():
        cancel_by_parent(fam.id, first)  # AV n° 1: 45 €
        cancel_by_parent(fam.id, second)  # AV n° 2: 45 €
        credits.withdraw(fam.id, 1000, "Correction", actor=db.session.get(User, staff.id))  # from n° 1
        older, newer = db.session.execute(db.select(CreditNote.number).where(CreditNote.household_id == fam.id)
                                          .order_by(CreditNote.id)).scalars().all()
    book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[2])  # 45 €, all by credit
    with app.app_context():
        invoice = db.session.execute(db.select(Invoice).where(Invoice.household_id == fam.id)
                                     .order_by(Invoice.id.desc())).scalars().first()
        assert invoice.credit_cents == 4500 and invoice.card_cents == 0
        assert spent_credit_notes(invoice) == [(older, 3500), (newer, 1000)]
        text = pdf_text(documents_pdf.invoice_pdf(invoice))
    assert f"Avoir n° {older} : 35,00 €" in text and f"Avoir n° {newer} : 10,00 €" in text
    assert "Avoir du foyer" not in text
