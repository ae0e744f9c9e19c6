"""Journey (issue 16), on a phone (375 px): the parent books a week, pays on the sandbox page, the
confirmation offers the invoice; « Mes factures » in the menu lists it with its number; the PDF
downloads and reads back with the number, the family, the child and the amount. Once the year is
over (the invoice's date moved back a year), the tax attestation of that year opens from the list."""
from __future__ import annotations

import io
import re

from playwright.sync_api import expect
from pypdf import PdfReader

from tests.e2e import helpers
from tests.support import factories


def _pdf_text(data: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return re.sub(r" +", " ", text.replace("\u202f", " ").replace("\u00a0", " "))


def test_pay_then_download_the_invoice_from_mes_factures(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(capacities=(5, 5), seats=3, name="ALSH Les Cigales")
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Sud", ("Mairie", "Collège", "Lavoir"),
                           period="Vacances de Noël")
    family = factory.household(email="nadia.benali@exemple.test", last_name="Benali", children=[("Inès", 5)])
    week1, _week2 = catalogue.week_ids

    page = new_page()
    helpers.login(page, server.url, family.email)
    page.goto(f"{server.url}/famille/inscrire")
    helpers.choose_weeks(page, "Inès Benali", "Vacances de Noël", {week1: f"stop-{catalogue.stop_ids[0]}"})
    helpers.add_to_basket(page, 1)
    page.goto(f"{server.url}/famille/panier")
    total = page.locator("#total").inner_text()
    helpers.pay_in_sandbox(page)

    # The confirmation offers the invoice (the receipt gave way to it).
    download_button = page.locator("#invoice-download")
    expect(download_button).to_contain_text(re.compile(r"Télécharger ma facture FA-\d{4}-\d{6} \(PDF\)"))
    number = re.search(r"FA-\d{4}-\d{6}", download_button.inner_text()).group(0)
    shots(page, "paiement confirme avec la facture")

    # « Mes factures » from the menu: the invoice, its date and amount, its download link.
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Mes factures").click()
    expect(page.get_by_role("heading", name="Mes factures", level=1)).to_be_visible()
    item = page.locator("li.document-invoice")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(f"Facture {number}")
    expect(item).to_contain_text(total)
    expect(page.get_by_role("heading", name="Attestations de frais de garde")).to_be_visible()
    shots(page, "mes factures")

    with page.expect_download() as download_info:
        item.get_by_role("link", name=f"Télécharger la facture {number} (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"facture-{number}.pdf"
    with open(download.path(), "rb") as handle:
        text = _pdf_text(handle.read())
    for expected in (f"Facture {number}", "Foyer Benali", "Inès", "ALSH Les Cigales", "Mairie",
                     total.replace("\u00a0", " ").replace("\u202f", " "), "Carte bancaire"):
        assert expected in text, expected

    # A year later: the attestation of the year the week was paid (Inès, 5 now, was under 6 on 1 January).
    from app.models import Invoice, db

    with app.app_context():  # invoices are immutable: the test moves the date in SQL
        invoice = db.session.execute(db.select(Invoice).where(Invoice.number == number)).scalar_one()
        year = invoice.issued_at.year - 1
        db.session.execute(db.update(Invoice).where(Invoice.id == invoice.id)
                           .values(issued_at=invoice.issued_at.replace(year=year))
                           .execution_options(synchronize_session=False))
        db.session.commit()
    page.reload()
    page.get_by_role("link", name=f"Attestation {year}").click()
    expect(page.get_by_role("heading", name=f"Attestation de frais de garde {year}", level=1)).to_be_visible()
    expect(page.locator("main section.card")).to_contain_text("Inès Benali")
    expect(page.locator("main")).to_contain_text(f"(facture {number})")
    expect(page.locator("#attestation-total")).to_contain_text("45,00")  # the week's 45 €, the bus excluded
    shots(page, "attestation de frais de garde")
    with page.expect_download() as download_info:
        page.get_by_role("link", name=f"Télécharger l'attestation {year} (PDF)").click()
    with open(download_info.value.path(), "rb") as handle:
        text = _pdf_text(handle.read())
    assert f"Attestation de frais de garde {year}" in text and "Inès" in text and "45,00" in text
