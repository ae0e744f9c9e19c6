"""The checkout API and the staff payment screens."""
from __future__ import annotations

from datetime import timedelta

from app.services import payments as service
from tests.support.clients import jwt_headers
from tests.support.payments import audit_actions, call, make_basket, state, use_stripe

API = "/api/v1/portal/basket/checkout"


# --- API ------------------------------------------------------------------------------------

def test_api_checkout_answers_the_payment_url(app, factory, client):
    b = make_basket(app, factory, weeks=(0, 1))
    headers = jwt_headers(client, b.household.email)
    response = client.post(API, headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["basket_id"] == b.basket_id and body["amount_cents"] == 9000
    assert body["payment_url"].startswith("http://portail.test/payments/sandbox/")
    assert client.post(API, headers=headers).get_json()["payment_url"] == body["payment_url"]
    # The API alone takes the parent to payment: the sandbox page and its button.
    client.post(body["payment_url"], data={"action": "pay"})
    assert state(app, b.basket_id).status == "paid"


def test_api_checkout_with_stripe(app, factory, client, monkeypatch):
    fake = use_stripe(app, monkeypatch)
    b = make_basket(app, factory)
    body = client.post(API, headers=jwt_headers(client, b.household.email)).get_json()
    assert body["payment_url"] == next(iter(fake.sessions.values()))["url"]


def test_api_zero_total_is_confirmed_without_url(app, factory, client):
    b = make_basket(app, factory, tariffs=((0, None, 0),), bus_price_cents=0)
    body = client.post(API, headers=jwt_headers(client, b.household.email)).get_json()
    assert body == {"basket_id": b.basket_id, "amount_cents": 0, "payment_url": None, "status": "confirmed",
                    "credit_cents": 0}  # no credit on this household's account (issue 14)
    assert state(app, b.basket_id).lines == ["confirmed"]


def test_api_errors_are_french_json(app, factory, client):
    empty = factory.household()
    response = client.post(API, headers=jwt_headers(client, empty.email))
    assert response.status_code == 404 and response.get_json()["code"] == "basket_empty"
    assert response.get_json()["message"] == "Votre panier est vide."
    lapsed = make_basket(app, factory, expires_in=timedelta(minutes=-1))
    response = client.post(API, headers=jwt_headers(client, lapsed.household.email))
    assert response.status_code == 409 and response.get_json()["code"] == "basket_expired"
    assert "expiré" in response.get_json()["message"]


def test_api_needs_a_jwt_not_a_browser_session(app, factory, client, login):
    b = make_basket(app, factory)
    login(client, b.household.email)
    assert client.post(API).status_code == 401
    assert state(app, b.basket_id).status == "open"


def test_api_checkout_is_in_the_openapi_spec(app, factory, client):
    spec = client.get("/api/v1/_openapi", headers=jwt_headers(client, factory.admin().email))
    assert spec.status_code == 200
    operation = spec.get_json()["paths"]["/api/v1/portal/basket/checkout"]["post"]
    assert {"200", "404", "409", "503"} <= set(operation["responses"])


# --- staff ----------------------------------------------------------------------------------

def _paid_stripe_basket(app, factory, fake, **kwargs):
    b = make_basket(app, factory, **kwargs)
    result = call(app, service.start_checkout, b.household.id)
    session = fake.pay(state(app, b.basket_id).payments[0].provider_ref)
    call(app, service.fulfil, result.payment_id, source="test", provider_payment_ref=session["payment_intent"])
    b.payment_id = result.payment_id
    b.session = session
    return b


def test_staff_see_payments_with_references(app, factory, client, login, monkeypatch):
    fake = use_stripe(app, monkeypatch)
    b = _paid_stripe_basket(app, factory, fake)
    login(client, factory.staff().email)
    listing = client.get("/paiements/").get_data(as_text=True)
    assert f'/paiements/{b.payment_id}"' in listing and "Payé" in listing
    detail = client.get(f"/paiements/{b.payment_id}").get_data(as_text=True)
    assert b.session["id"] in detail and b.session["payment_intent"] in detail
    assert "Rembourser" in detail and "Annuler la semaine" in detail
    assert client.get("/paiements/999999").status_code == 404
    assert client.get(f"/paiements/?q={b.session['id']}").get_data(as_text=True).count("/paiements/") >= 1


def test_staff_partial_then_full_refund_through_stripe(app, factory, client, login, monkeypatch):
    fake = use_stripe(app, monkeypatch)
    b = _paid_stripe_basket(app, factory, fake, weeks=(0, 1))
    login(client, factory.staff().email)
    response = client.post(f"/paiements/{b.payment_id}/rembourser", data={"amount": "12,50", "reason": "Absence"})
    assert response.status_code == 302
    assert [r.params["amount"] for r in fake.refund_requests()] == ["1250"]
    bad = client.post(f"/paiements/{b.payment_id}/rembourser", data={"amount": "douze", "reason": "x"},
                      follow_redirects=True)
    assert "Montant invalide" in bad.get_data(as_text=True)
    too_much = client.post(f"/paiements/{b.payment_id}/rembourser", data={"amount": "90", "reason": "x"},
                           follow_redirects=True)
    assert "Montant trop élevé" in too_much.get_data(as_text=True)
    client.post(f"/paiements/{b.payment_id}/rembourser", data={"amount": "77,50", "reason": "Solde"})
    s = state(app, b.basket_id)
    assert s.payments[0].status == "refunded" and s.payments[0].refunded_cents == 9000
    assert len(fake.refund_requests()) == 2
    page = client.get(f"/paiements/{b.payment_id}").get_data(as_text=True)
    assert "Effectué" in page and 'id="refund-form"' not in page


def test_staff_cancel_a_week_with_and_without_refund(app, factory, client, login, monkeypatch):
    fake = use_stripe(app, monkeypatch)
    b = _paid_stripe_basket(app, factory, fake, weeks=(0, 1))
    staff = factory.staff()
    login(client, staff.email)
    url = f"/paiements/{b.payment_id}/inscription/{{}}/annuler"
    missing_reason = client.post(url.format(b.line_ids[1]), data={"reason": " "}, follow_redirects=True)
    assert "Indiquez le motif" in missing_reason.get_data(as_text=True)
    assert state(app, b.basket_id).lines == ["confirmed", "confirmed"]
    client.post(url.format(b.line_ids[0]), data={"reason": "Maladie", "refund": "1"})
    client.post(url.format(b.line_ids[1]), data={"reason": "Convenance"})
    again = client.post(url.format(b.line_ids[1]), data={"reason": "Encore"}, follow_redirects=True)
    assert "Seule une inscription confirmée" in again.get_data(as_text=True)
    s = state(app, b.basket_id)
    assert s.lines == ["cancelled", "cancelled"]
    assert [r.params["amount"] for r in fake.refund_requests()] == ["4500"]
    assert s.payments[0].status == "partially_refunded"
    other = make_basket(app, factory)
    assert client.post(url.format(other.line_ids[0]), data={"reason": "x"}).status_code == 404
    from sqlalchemy import select

    from app.models import AuditLog, db

    with app.app_context():
        actors = set(db.session.execute(select(AuditLog.actor_label).where(
            AuditLog.action == "reservation.cancelled")).scalars())
    assert actors == {staff.email}


def test_flagged_payments_are_listed_and_resolved(app, factory, client, login, monkeypatch):
    from tests.support.payments import fill_week, lapse

    fake = use_stripe(app, monkeypatch)
    b = make_basket(app, factory, capacities=(1,))
    result = call(app, service.start_checkout, b.household.id)
    lapse(app, b.basket_id)
    fill_week(app, factory, b.catalog)
    session = fake.pay(state(app, b.basket_id).payments[0].provider_ref)
    call(app, service.fulfil, result.payment_id, source="test", provider_payment_ref=session["payment_intent"])
    login(client, factory.staff().email)
    flagged = client.get("/paiements/?signales=1").get_data(as_text=True)
    assert f"/paiements/{result.payment_id}\"" in flagged and "À vérifier" in flagged
    detail = client.get(f"/paiements/{result.payment_id}").get_data(as_text=True)
    assert 'id="flag"' in detail and "payment.late_refunded" in detail
    client.post(f"/paiements/{result.payment_id}/traite", data={"note": "Famille appelée"})
    assert not state(app, b.basket_id).payments[0].flagged
    assert "payment.flag_resolved" in audit_actions(app, "payment")
    assert f"/paiements/{result.payment_id}\"" not in client.get("/paiements/?signales=1").get_data(as_text=True)


def test_parents_cannot_reach_staff_payment_screens(app, factory, client, login):
    b = make_basket(app, factory)
    result = call(app, service.start_checkout, b.household.id)
    login(client, b.household.email)
    assert client.get("/paiements/").status_code in (302, 403)
    assert client.post(f"/paiements/{result.payment_id}/rembourser",
                       data={"amount": "1", "reason": "x"}).status_code in (302, 403)
    assert client.get("/basketlistview/list/").status_code in (302, 403)


def test_staff_basket_and_reservation_lists(app, factory, client, login):
    b = make_basket(app, factory)
    login(client, factory.staff().email)
    baskets = client.get("/basketlistview/list/")
    assert baskets.status_code == 200 and "Paniers" in baskets.get_data(as_text=True)
    lines = client.get("/reservationlistview/list/")
    assert lines.status_code == 200 and "Dans un panier" in lines.get_data(as_text=True)
    assert client.get(f"/reservationlistview/show/{b.line_ids[0]}").status_code == 200


def test_parse_euros():
    from app.views.staff.payments import parse_euros

    assert parse_euros("12,50") == 1250 and parse_euros("12.5") == 1250 and parse_euros("12 €") == 1200
    assert parse_euros("1 234,05") == 123405
    assert parse_euros("abc") is None and parse_euros("-3") is None and parse_euros("1,234") is None


def test_ids_beyond_database_integers_are_not_found(app, factory, client, login, make_client):
    b = make_basket(app, factory)
    login(client, b.household.email)
    huge = 2**64
    assert client.get(f"/famille/recu/{huge}").status_code == 404
    staff = make_client()
    login(staff, factory.staff().email)
    assert staff.get(f"/paiements/{huge}").status_code == 404
    assert staff.post(f"/paiements/{huge}/rembourser", data={"amount": "1", "reason": "x"}).status_code == 404
    assert staff.post(f"/paiements/{huge}/inscription/{huge}/annuler", data={"reason": "x"}).status_code == 404
    assert staff.post(f"/paiements/{huge}/traite", data={"note": "x"}).status_code == 404
