"""« Mes factures » (issue 16): the household's invoices and credit notes with their PDFs, the tax
attestation page and PDF for a finished year; another household's ids are 404; the payment return
page and the old receipt point to the invoice."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.credit_helpers import book_and_pay
from tests.test_invoices import pdf_text


@pytest.fixture
def paid(app, factory):
    cat = factory.catalog(capacities=(10, 10, 10))
    fam = factory.household(last_name="Morel", children=[("Léa", 8), ("Hugo", 4)])
    line_id = book_and_pay(app, fam.id, fam.child_ids[1], cat.week_ids[0])
    return cat, fam, line_id


def _ids(app, household_id):
    from app.models import CreditNote, Invoice, db

    with app.app_context():
        invoice = db.session.execute(db.select(Invoice).where(Invoice.household_id == household_id)).scalar_one()
        notes = db.session.execute(db.select(CreditNote).where(CreditNote.household_id == household_id)).scalars()
        return invoice.id, invoice.number, [(n.id, n.number) for n in notes]


def test_list_and_pdfs_of_the_household(app, paid, make_client, login):
    from app.services.payments.cancellations import cancel_by_parent

    cat, fam, line_id = paid
    with app.app_context():
        cancel_by_parent(fam.id, line_id)
    invoice_id, number, notes = _ids(app, fam.id)
    (note_id, note_number), = notes
    client = login(make_client(), fam.email)
    page = client.get("/famille/factures").get_data(as_text=True)
    assert f"Facture {number}" in page and f"Avoir {note_number}" in page and f"(facture {number})" in page
    assert f'href="/famille/factures/{invoice_id}/pdf"' in page and f'href="/famille/avoirs/{note_id}/pdf"' in page
    assert 'aria-current="page">Mes factures' in page
    response = client.get(f"/famille/factures/{invoice_id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert f'filename="facture-{number}.pdf"' in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]
    text = pdf_text(response.data)
    assert f"Facture {number}" in text and "Foyer Morel" in text
    response = client.get(f"/famille/avoirs/{note_id}/pdf")
    assert response.status_code == 200 and f"Avoir {note_number}" in pdf_text(response.data)


def test_another_household_gets_404(app, factory, paid, make_client, login):
    from app.services.payments.cancellations import cancel_by_parent

    cat, fam, line_id = paid
    with app.app_context():
        cancel_by_parent(fam.id, line_id)
    invoice_id, number, [(note_id, _)] = _ids(app, fam.id)
    other = factory.household(last_name="Autre")
    client = login(make_client(), other.email)
    assert number not in client.get("/famille/factures").get_data(as_text=True)
    for url in (f"/famille/factures/{invoice_id}/pdf", f"/famille/avoirs/{note_id}/pdf",
                "/famille/factures/999999/pdf", "/famille/factures/99999999999999999999/pdf"):
        assert client.get(url).status_code == 404, url


def test_return_page_and_receipt_point_to_the_invoice(app, paid, make_client, login):
    from app.models import Invoice, Payment, db

    cat, fam, _line = paid
    with app.app_context():
        invoice = db.session.execute(db.select(Invoice).where(Invoice.household_id == fam.id)).scalar_one()
        ref = db.session.get(Payment, invoice.payment_id).provider_ref
        invoice_id, basket_id = invoice.id, invoice.basket_id
    client = login(make_client(), fam.email)
    back = client.get(f"/famille/paiement/retour?session_id={ref}").get_data(as_text=True)
    assert f'href="/famille/factures/{invoice_id}/pdf"' in back
    receipt = client.get(f"/famille/recu/{basket_id}").get_data(as_text=True)
    assert f'href="/famille/factures/{invoice_id}/pdf"' in receipt
    assert 'href="/famille/factures"' in client.get("/famille/inscriptions/").get_data(as_text=True)


def _backdate(app, household_id, when):
    from app.models import Invoice, db

    with app.app_context():  # the model refuses updates: the test moves the issue date in SQL
        db.session.execute(db.update(Invoice).where(Invoice.household_id == household_id)
                           .values(issued_at=when).execution_options(synchronize_session=False))
        db.session.commit()


def test_attestation_page_and_pdf_for_a_finished_year(app, paid, make_client, login):
    from app.models import utcnow
    from app.services.localize import to_paris

    cat, fam, _line = paid
    last_year = to_paris(utcnow()).year - 1
    client = login(make_client(), fam.email)
    this_year = last_year + 1
    response = client.get(f"/famille/attestation-fiscale/{this_year}")
    assert response.status_code == 302  # the year is not over: back to the list with the reason
    follow = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "disponible à partir du 1er janvier suivant" in follow
    assert f"Attestation {this_year}" not in follow
    _backdate(app, fam.id, datetime(last_year, 6, 15, 10, tzinfo=timezone.utc))
    page = client.get("/famille/factures").get_data(as_text=True)
    assert f'href="/famille/attestation-fiscale/{last_year}"' in page
    page = client.get(f"/famille/attestation-fiscale/{last_year}").get_data(as_text=True)
    assert "Hugo" in page and "Léa" not in page and 'id="attestation-total"' in page
    response = client.get(f"/famille/attestation-fiscale/{last_year}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = pdf_text(response.data)
    assert f"Attestation de frais de garde {last_year}" in text and "Hugo" in text and "Léa" not in text
