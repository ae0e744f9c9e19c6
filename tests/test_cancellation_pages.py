"""The parent's « Annuler » page and « Mes avoirs » (issue 14): the rule stated before confirming,
the credit shown on « Accueil » and « Mes inscriptions », the late request with a medical certificate
that does not send the file back to review, the same through the API, and row scoping (another
household → 404)."""
from __future__ import annotations

import html

import pytest

from app.services.localize import paris_today
from tests.credit_helpers import book_and_pay, money, status

PDF = b"%PDF-1.4\n% certificat\n"


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def booked(app, factory):
    cat = factory.catalog(capacities=(10, 10))
    fam = factory.household(last_name="Morel", children=[("Léa", 8)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    return cat, fam, line


def _late_rules(app, cat):
    """Rules whose free deadline is already past for the catalogue's first week."""
    from app.models import Week, db
    from app.services.booking.cancellation import set_rules
    from app.services.transactions import unit_of_work

    with app.app_context():
        starts = db.session.get(Week, cat.week_ids[0]).starts_on
        with unit_of_work():
            set_rules(cat.period_id, free_days_before=(starts - paris_today()).days + 5,
                      late_with_justification=True, outcome="credit", actor=None)


def test_cancel_before_the_deadline_from_mes_inscriptions_then_the_credit_is_shown(app, booked, login, factory):
    cat, fam, line = booked
    client = login(app.test_client(), fam.email)
    listing = _text(client.get("/famille/inscriptions/"))
    assert f'href="/famille/annulation/{line}"' in listing and "Mon avoir" not in listing

    page = client.get(f"/famille/annulation/{line}")
    text = _text(page)
    assert page.status_code == 200
    assert "Annulation gratuite jusqu'au " in text and "un avoir de 45,00\u00a0€ sera crédité sur votre compte" in text
    assert "Confirmer l'annulation" in text and text.count("<form") == text.count('name="csrf_token"')
    assert status(app, line) == "confirmed"  # showing the rule cancels nothing

    # Another household: the page and the action are a 404, and nothing happens.
    other = login(app.test_client(), factory.household(last_name="Autre").email)
    assert other.get(f"/famille/annulation/{line}").status_code == 404
    assert other.post(f"/famille/annulation/{line}").status_code == 404
    assert client.get("/famille/annulation/99999999999").status_code == 404
    assert status(app, line) == "confirmed"

    done = client.post(f"/famille/annulation/{line}", follow_redirects=True)
    text = _text(done)
    assert done.status_code == 200 and "L'inscription est annulée." in text
    assert "Un avoir de 45,00\u00a0€ est crédité sur votre compte." in text
    assert status(app, line) == "cancelled" and money(app, fam.id)["balance"] == 4500
    assert "Mon avoir" in text and "45,00\u00a0€" in text  # « Mes inscriptions » shows the balance
    home = _text(client.get("/famille/"))
    assert "Mon avoir" in home and "avoir de <strong class=\"credit-balance\">45,00\u00a0€</strong>" in home
    account = _text(client.get("/famille/avoirs"))
    assert "AV-" in account and "+45,00\u00a0€" in account
    assert "Mon avoir" not in _text(other.get("/famille/"))
    assert "AV-" not in _text(other.get("/famille/avoirs"))

    # Cancelling again: the week is no longer confirmed; back to the list with the reason.
    again = client.get(f"/famille/annulation/{line}", follow_redirects=True)
    assert "Seule une inscription confirmée peut être annulée." in _text(again)
    assert money(app, fam.id)["balance"] == 4500


def test_after_the_deadline_a_certificate_makes_a_request_and_the_file_stays_validated(app, booked, login):
    from sqlalchemy import select

    from app.models import AuditLog, CancellationRequest, Document, Household, db

    cat, fam, line = booked
    _late_rules(app, cat)
    client = login(app.test_client(), fam.email)
    text = _text(client.get(f"/famille/annulation/{line}"))
    assert "Le délai d'annulation gratuite est passé" in text and 'type="file"' in text
    assert 'enctype="multipart/form-data"' in text

    empty = client.post(f"/famille/annulation/{line}", data={})
    assert empty.status_code == 400 and "joignez un justificatif" in _text(empty)
    wrong = client.post(f"/famille/annulation/{line}", content_type="multipart/form-data",
                        data={"file": (__import__("io").BytesIO(b"not a pdf"), "certificat.txt")})
    assert wrong.status_code == 400 and "ni un PDF" in _text(wrong)

    sent = client.post(f"/famille/annulation/{line}", content_type="multipart/form-data", follow_redirects=True,
                       data={"file": (__import__("io").BytesIO(PDF), "certificat.pdf"), "reason": "Varicelle"})
    assert sent.status_code == 200 and "Votre demande d'annulation est envoyée" in _text(sent)
    assert status(app, line) == "confirmed"
    with app.app_context():
        request = db.session.execute(select(CancellationRequest)).scalar_one()
        document = db.session.get(Document, request.document_id)
        assert document.kind == "medical_certificate" and document.household_id == fam.id
        assert request.reason == "Varicelle"
        # The certificate is about a week, not the file: the validated file is not sent back to review.
        assert db.session.get(Household, fam.id).status == "validated"
        assert not db.session.execute(select(AuditLog).where(AuditLog.action == "household.back_to_review")).first()
    # A second request on the same week is refused while the first waits.
    pending = _text(client.get(f"/famille/annulation/{line}"))
    assert "déjà en cours d'examen" in pending and 'type="file"' not in pending


def test_the_certificate_cannot_be_deleted_and_is_not_accepted_with_the_file(app, booked):
    from app.models import Document, Household, db
    from app.services.errors import ValidationFailed
    from app.services.household import documents

    _cat, fam, _line = booked
    with app.app_context():
        household = db.session.get(Household, fam.id)
        doc_id = documents.add_justification(household, "certificat.pdf", PDF).id
        with pytest.raises(ValidationFailed):
            documents.delete_document(household, doc_id)
        assert db.session.get(Household, fam.id).status == "validated"
        assert db.session.get(Document, doc_id).status == "pending"


def test_api_certificate_then_late_cancel_and_scoping(app, booked, client, make_client, factory):
    import io

    from tests.support.clients import jwt_headers

    cat, fam, line = booked
    _late_rules(app, cat)
    headers = jwt_headers(client, fam.email)
    other = factory.household(last_name="Autre")
    other_client = make_client()
    other_headers = jwt_headers(other_client, other.email)

    missing = client.post("/api/v1/portal/cancellation-certificates", headers=headers, data={})
    assert missing.status_code == 400 and missing.json["code"] == "no_file"
    theirs = other_client.post("/api/v1/portal/cancellation-certificates", headers=other_headers,
                               content_type="multipart/form-data",
                               data={"file": (io.BytesIO(PDF), "autre.pdf")})
    assert theirs.status_code == 201
    uploaded = client.post("/api/v1/portal/cancellation-certificates", headers=headers,
                           content_type="multipart/form-data", data={"file": (io.BytesIO(PDF), "certificat.pdf")})
    assert uploaded.status_code == 201 and uploaded.json["name"] == "certificat.pdf"

    # Another household's certificate is not found; so is another household's reservation.
    stolen = client.post(f"/api/v1/portal/reservations/{line}/cancel", headers=headers,
                         json={"document_id": theirs.json["document_id"]})
    assert stolen.status_code == 404
    assert client.post(f"/api/v1/portal/reservations/{line}/cancel", headers=other_headers,
                       json={"document_id": theirs.json["document_id"]}).status_code == 404
    done = client.post(f"/api/v1/portal/reservations/{line}/cancel", headers=headers,
                       json={"document_id": uploaded.json["document_id"]})
    assert done.status_code == 200 and done.json["outcome"] == "pending_review" and done.json["amount_cents"] == 4500
    assert status(app, line) == "confirmed"


def test_the_openapi_document_lists_the_cancellation_routes(app, factory, client):
    from tests.support.clients import jwt_headers

    spec = client.get("/api/v1/_openapi", headers=jwt_headers(client, factory.admin().email)).get_json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/portal/reservations/{reservation_id}/cancel"])
    assert "409" in paths["/api/v1/portal/reservations/{reservation_id}/cancel"]["post"]["responses"]
    assert "get" in paths["/api/v1/portal/account"]
    assert "201" in paths["/api/v1/portal/cancellation-certificates"]["post"]["responses"]
    assert {"PortalCertificate", "PortalAccount", "PortalCancellation"} <= set(spec["components"]["schemas"])


def test_the_basket_states_the_rules_and_the_credit_before_paying(app, booked, login):
    from tests.credit_helpers import add

    cat, fam, line = booked
    client = login(app.test_client(), fam.email)
    client.post(f"/famille/annulation/{line}")
    add(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    add(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    page = _text(client.get("/famille/panier"))
    assert "Conditions d'annulation" in page and page.count("Annulation gratuite jusqu'au ") == 2
    assert "un avoir sur votre compte" in page and "aucune annulation une fois la semaine commencée" in page
    assert "Votre avoir de <strong>45,00\u00a0€</strong> sera déduit automatiquement" in page
    assert 'id="to-pay">45,00\u00a0€<' in page


def test_a_too_large_certificate_is_refused_in_french_back_on_the_cancel_form(app, booked, login):
    import io

    cat, fam, line = booked
    _late_rules(app, cat)
    client = login(app.test_client(), fam.email)
    big = io.BytesIO(PDF + b"0" * (6 * 1024 * 1024))
    response = client.post(f"/famille/annulation/{line}", content_type="multipart/form-data",
                           data={"file": (big, "certificat.pdf")})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/famille/annulation/{line}")
    page = _text(client.get(f"/famille/annulation/{line}"))
    assert "5 Mo" in page and 'type="file"' in page
    assert status(app, line) == "confirmed"
