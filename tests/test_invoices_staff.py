"""Staff and Admin screens of issue 16: the organiser's identity (Admin only: Staff are refused and
change nothing), the payment screen's links to its invoice and credit notes, the tax attestations of
a year in bulk (list, one PDF, all in a ZIP), the accountant's CSV, the tariff's meal share."""
from __future__ import annotations

import io
import zipfile
from datetime import datetime, timezone

import pytest

from tests.credit_helpers import book_and_pay
from tests.test_invoices import pdf_text


@pytest.fixture
def paid(app, factory):
    cat = factory.catalog(capacities=(10, 10))
    fam = factory.household(last_name="Morel", children=[("Léa", 8), ("Hugo", 4)])
    line = book_and_pay(app, fam.id, fam.child_ids[1], cat.week_ids[0])
    return cat, fam, line


def _organiser(app):
    from app.services.payments.organiser import get_organiser

    with app.app_context():
        org = get_organiser()
        return org.name, org.siret


ORGANISER = {"name": "Communauté de communes Cœur du Var", "address": "Quartier Précoumin\n83340 Le Luc",
             "siret": "248 300 394 00019", "regie_name": "Régie enfance-jeunesse", "regie_number": "R-0042",
             "contact": "04 94 00 00 00"}


def test_admin_enters_the_organiser_identity_printed_on_invoices(app, factory, paid, make_client, login):
    from app.models import Invoice, db
    from app.services.payments import documents_pdf

    admin = login(make_client(), factory.admin().email)
    page = admin.get("/organisateur/")
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
    refused = admin.post("/organisateur/", data=dict(ORGANISER, siret="123"))
    body = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "Le SIRET compte 14 chiffres." in body
    assert "Régie enfance-jeunesse" in body  # what was typed is kept
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 10
    saved = admin.post("/organisateur/", data=dict(ORGANISER, logo=(io.BytesIO(png), "logo.png")),
                       content_type="multipart/form-data")
    assert saved.status_code == 302
    assert _organiser(app) == ("Communauté de communes Cœur du Var", "24830039400019")
    _cat, fam, _line = paid
    with app.app_context():
        invoice = db.session.execute(db.select(Invoice).where(Invoice.household_id == fam.id)).scalar_one()
        text = pdf_text(documents_pdf.invoice_pdf(invoice))
    assert "Cœur du Var" in text and "SIRET 24830039400019" in text and "Régie enfance-jeunesse n° R-0042" in text


def test_staff_cannot_open_or_change_the_organiser_identity(app, factory, make_client, login):
    staff = login(make_client(), factory.staff().email)
    before = _organiser(app)
    response = staff.get("/organisateur/")
    assert response.status_code in (302, 403)
    assert "Identité de l'organisateur" not in staff.get(response.headers.get("Location", "/"),
                                                        follow_redirects=True).get_data(as_text=True)
    assert staff.post("/organisateur/", data=ORGANISER).status_code in (302, 403)
    assert _organiser(app) == before
    # ...while Staff do reach their own accounting screen, and a parent does not.
    assert staff.get("/comptabilite/").status_code == 200


def test_payment_screen_links_to_its_invoice_and_credit_note(app, factory, paid, make_client, login):
    from app.models import CreditNote, Invoice, db
    from app.services.payments.cancellations import cancel_by_parent

    _cat, fam, line = paid
    with app.app_context():
        cancel_by_parent(fam.id, line)
        invoice = db.session.execute(db.select(Invoice).where(Invoice.household_id == fam.id)).scalar_one()
        note = db.session.execute(db.select(CreditNote).where(CreditNote.household_id == fam.id)).scalar_one()
        ids = (invoice.id, invoice.number, invoice.payment_id, note.id, note.number)
    invoice_id, number, payment_id, note_id, note_number = ids
    staff = login(make_client(), factory.staff().email)
    page = staff.get(f"/paiements/{payment_id}").get_data(as_text=True)
    assert f'href="/comptabilite/factures/{invoice_id}/pdf">{number}</a>' in page
    assert f'href="/comptabilite/avoirs/{note_id}/pdf">{note_number}</a>' in page
    pdf = staff.get(f"/comptabilite/factures/{invoice_id}/pdf")
    assert pdf.status_code == 200 and f"Facture {number}" in pdf_text(pdf.data)
    assert f"Avoir {note_number}" in pdf_text(staff.get(f"/comptabilite/avoirs/{note_id}/pdf").data)
    assert staff.get("/comptabilite/factures/999999/pdf").status_code == 404
    parent = login(make_client(), fam.email)
    assert parent.get(f"/comptabilite/factures/{invoice_id}/pdf").status_code in (302, 403)


def test_attestations_of_a_year_in_bulk(app, factory, paid, make_client, login):
    from app.models import Invoice, db, utcnow
    from app.services.localize import to_paris

    cat, fam, _line = paid
    other = factory.household(last_name="Perrin", children=[("Noé", 3)])
    book_and_pay(app, other.id, other.child_ids[0], cat.week_ids[1])
    year = to_paris(utcnow()).year - 1
    with app.app_context():  # invoices are immutable: the test moves their date in SQL
        db.session.execute(db.update(Invoice).values(issued_at=datetime(year, 5, 2, 9, tzinfo=timezone.utc))
                           .execution_options(synchronize_session=False))
        db.session.commit()
    staff = login(make_client(), factory.staff().email)
    page = staff.get(f"/comptabilite/attestations?annee={year}").get_data(as_text=True)
    assert "Foyer Morel" in page and "Foyer Perrin" in page and "Télécharger les 2 attestations (ZIP)" in page
    one = staff.get(f"/comptabilite/attestations/{year}/foyer/{fam.id}/pdf")
    assert one.status_code == 200 and "Hugo" in pdf_text(one.data)
    archive = zipfile.ZipFile(io.BytesIO(staff.get(f"/comptabilite/attestations/{year}.zip").data))
    names = sorted(archive.namelist())
    assert names == sorted(f"attestation-{year}-foyer-{hid}.pdf" for hid in (fam.id, other.id))
    texts = [pdf_text(archive.read(name)) for name in names]
    assert any("Noé" in text for text in texts) and any("Hugo" in text for text in texts)
    assert staff.get(f"/comptabilite/attestations/{year}/foyer/999999/pdf").status_code == 404
    bad = staff.get("/comptabilite/attestations?annee=abc")
    assert bad.status_code == 302
    assert "Indiquez une année" in staff.get(bad.headers["Location"]).get_data(as_text=True)


def test_accountant_csv_from_the_staff_screen(app, factory, paid, make_client, login):
    staff = login(make_client(), factory.staff().email)
    page = staff.get("/comptabilite/").get_data(as_text=True)
    assert 'action="/comptabilite/export.csv"' in page
    response = staff.get("/comptabilite/export.csv?du=2000-01-01&au=2100-12-31")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.data.decode("utf-8")
    assert "Facture;" in text and "FA-" in text and "égal au net encaissé" in text
    bad = staff.get("/comptabilite/export.csv?du=2026-02-01&au=2026-01-01")
    assert bad.status_code == 302
    assert "Indiquez deux dates valides" in staff.get(bad.headers["Location"]).get_data(as_text=True)


def test_tariff_screen_edits_the_meal_share(app, factory, make_client, login):
    from app.models import Period, db

    cat = factory.catalog(tariffs=((0, None, 4500),))
    with app.app_context():
        bracket = db.session.get(Period, cat.period_id).tariffs[0]
        bracket_id = bracket.id
    staff = login(make_client(), factory.staff().email)
    form = {"period": str(cat.period_id), "label": "QF 0+", "qf_min": "0", "qf_max": "", "price_cents": "4500"}
    assert "Dont repas (centimes)" in staff.get(f"/tariffbracketview/edit/{bracket_id}").get_data(as_text=True)
    refused = staff.post(f"/tariffbracketview/edit/{bracket_id}", data=dict(form, meal_share_cents="5000"))
    assert "La part des repas (50,00" in refused.get_data(as_text=True)
    assert staff.post(f"/tariffbracketview/edit/{bracket_id}", data=dict(form, meal_share_cents="1200")).status_code == 302
    with app.app_context():
        from app.models import TariffBracket

        assert db.session.get(TariffBracket, bracket_id).meal_share_cents == 1200
