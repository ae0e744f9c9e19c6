"""The parent API of issue 16: invoices and credit notes with their PDFs, the tax attestation of a
finished year (JSON and PDF), another household's ids 404, and the OpenAPI document."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.credit_helpers import book_and_pay
from tests.test_invoices import pdf_text

API = "/api/v1/portal"


def test_documents_pdfs_and_isolation(app, factory, client, make_client):
    from app.services.payments.cancellations import cancel_by_parent
    from tests.support.clients import jwt_headers

    cat = factory.catalog(capacities=(10, 10))
    fam = factory.household(last_name="Blanc", children=[("Léo", 8)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    with app.app_context():
        cancel_by_parent(fam.id, line)
    headers = jwt_headers(client, fam.email)
    body = client.get(f"{API}/invoices", headers=headers).json
    kinds = sorted(doc["kind"] for doc in body["documents"])
    assert kinds == ["credit_note", "invoice", "invoice"], body
    note = next(doc for doc in body["documents"] if doc["kind"] == "credit_note")
    first_invoice = min((doc for doc in body["documents"] if doc["kind"] == "invoice"), key=lambda d: d["number"])
    assert note["number"].startswith("AV-") and note["invoice_number"] == first_invoice["number"]
    assert body["attestation_years"] == []
    for doc in body["documents"]:
        response = client.get(doc["pdf_url"], headers=headers)
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        title = "Facture" if doc["kind"] == "invoice" else "Avoir"
        assert f"{title} {doc['number']}" in pdf_text(response.data)

    other = factory.household(last_name="Autre")
    other_headers = jwt_headers(make_client(), other.email)
    assert client.get(f"{API}/invoices", headers=other_headers).json["documents"] == []
    for doc in body["documents"]:
        assert client.get(doc["pdf_url"], headers=other_headers).status_code == 404
    assert client.get(f"{API}/invoices/{10**25}/pdf", headers=headers).status_code == 404
    assert client.get(f"{API}/credit-notes/0/pdf", headers=headers).status_code == 404
    assert client.get(f"{API}/invoices").status_code == 401


def test_tax_attestation_json_and_pdf(app, factory, client):
    from app.models import Invoice, db, utcnow
    from app.services.localize import to_paris
    from tests.support.clients import jwt_headers

    cat = factory.catalog(capacities=(10,))
    fam = factory.household(last_name="Vert", children=[("Zoé", 3), ("Paul", 9)])
    book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    book_and_pay(app, fam.id, fam.child_ids[1], cat.week_ids[0])
    headers = jwt_headers(client, fam.email)
    year = to_paris(utcnow()).year
    refused = client.get(f"{API}/tax-attestations/{year}", headers=headers)
    assert refused.status_code == 400 and refused.json["code"] == "attestation_year"
    with app.app_context():  # invoices are immutable: move their date in SQL
        db.session.execute(db.update(Invoice).where(Invoice.household_id == fam.id).values(
            issued_at=datetime(year - 1, 3, 1, 9, tzinfo=timezone.utc)).execution_options(synchronize_session=False))
        db.session.commit()
    assert client.get(f"{API}/invoices", headers=headers).json["attestation_years"] == [year - 1]
    body = client.get(f"{API}/tax-attestations/{year - 1}", headers=headers).json
    assert body["year"] == year - 1 and [c["child_name"].split()[0] for c in body["children"]] == ["Zoé"]
    assert body["total_cents"] == body["children"][0]["total_cents"] > 0
    assert body["children"][0]["lines"][0]["invoice_number"].startswith("FA-")
    pdf = client.get(body["pdf_url"], headers=headers)
    assert pdf.status_code == 200 and "Zoé" in pdf_text(pdf.data) and "Paul" not in pdf_text(pdf.data)


def test_openapi_documents_the_invoice_routes(app, factory):
    from tests.support.clients import jwt_headers

    client = app.test_client()
    spec = client.get("/api/v1/_openapi", headers=jwt_headers(client, factory.admin().email)).get_json()
    for path in ("/api/v1/portal/invoices", "/api/v1/portal/invoices/{invoice_id}/pdf",
                 "/api/v1/portal/credit-notes/{note_id}/pdf", "/api/v1/portal/tax-attestations/{year}",
                 "/api/v1/portal/tax-attestations/{year}/pdf"):
        assert spec["paths"][path]["get"]["responses"], path
    assert "application/pdf" in spec["paths"]["/api/v1/portal/invoices/{invoice_id}/pdf"]["get"]["responses"]["200"][
        "content"]
    assert {"PortalDocuments", "PortalAttestation"} <= set(spec["components"]["schemas"])
