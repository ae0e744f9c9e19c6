"""The sandbox provider: the demo journey through the parent pages, and production refusing it."""
from __future__ import annotations

import pytest

from tests.support.payments import make_basket, state


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_sandbox_journey_through_the_parent_pages(app, factory, client, login):
    b = make_basket(app, factory, weeks=(0, 1), bus=True)
    login(client, b.household.email)
    response = client.post("/famille/paiement/commencer")
    assert response.status_code == 303
    url = response.headers["Location"]
    assert url.startswith("http://portail.test/payments/sandbox/sbx_")
    page = client.get(url)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Paiement de test" in text and "aucune carte" in text
    assert "100,00" in text and 'value="pay"' in text and 'value="refuse"' in text
    # Clicking "Valider" again reuses the same page.
    assert client.post("/famille/paiement/commencer").headers["Location"] == url
    paid = client.post(url, data={"action": "pay"})
    assert paid.status_code == 302 and paid.headers["Location"].startswith("/famille/paiement/retour?session_id=")
    back = client.get(paid.headers["Location"])
    assert back.status_code == 200 and "Vos inscriptions sont confirmées" in back.get_data(as_text=True)
    s = state(app, b.basket_id)
    assert s.status == "paid" and s.lines == ["confirmed", "confirmed"]
    assert [m.kind for m in s.mails] == ["payment_confirmation"]
    # Paying twice (double click, back button) confirms once.
    client.post(url, data={"action": "pay"})
    assert len(state(app, b.basket_id).mails) == 1
    receipt = client.get(f"/famille/recu/{b.basket_id}")
    body = receipt.get_data(as_text=True)
    assert receipt.status_code == 200 and "Reçu de paiement" in body and "100,00" in body and "Église" in body
    assert f"/famille/recu/{b.basket_id}" in client.get("/famille/recus").get_data(as_text=True)


def test_sandbox_refusal_and_changing_the_basket(app, factory, client, login):
    b = make_basket(app, factory)
    login(client, b.household.email)
    url = client.post("/famille/paiement/commencer").headers["Location"]
    refused = client.post(url, data={"action": "refuse"})
    assert refused.headers["Location"] == "/famille/paiement/annule?refuse=1"
    page = client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "refusé" in page and "Reprendre le paiement" in page
    assert state(app, b.basket_id).status == "open"
    # A new attempt opens a new page; the refused one cannot be paid any more.
    new_url = client.post("/famille/paiement/commencer").headers["Location"]
    assert new_url != url
    stale = client.post(url, data={"action": "pay"}, follow_redirects=True)
    assert "expiré" in stale.get_data(as_text=True)
    assert state(app, b.basket_id).status == "checkout"
    # "Modifier mon panier" closes the open page and gives the basket back.
    changed = client.post("/famille/paiement/modifier")
    assert changed.status_code == 302 and changed.headers["Location"] == "/famille/panier/"
    s = state(app, b.basket_id)
    assert s.status == "open" and [p.status for p in s.payments] == ["failed", "expired"]


def test_receipts_and_return_pages_are_scoped_to_the_household(app, factory, client, login, make_client):
    b = make_basket(app, factory)
    login(client, b.household.email)
    url = client.post("/famille/paiement/commencer").headers["Location"]
    assert client.get(f"/famille/recu/{b.basket_id}").status_code == 404  # not paid yet: no receipt
    client.post(url, data={"action": "pay"})
    assert client.get(f"/famille/recu/{b.basket_id}").status_code == 200
    intruder = factory.household()
    other = make_client()
    login(other, intruder.email)
    assert other.get(f"/famille/recu/{b.basket_id}").status_code == 404
    assert other.get(f"/famille/paiement/retour?session_id={_token(url)}").status_code == 404
    assert other.get("/famille/recu/999999").status_code == 404
    assert f"panier n° {b.basket_id}" not in other.get("/famille/recus").get_data(as_text=True)


def test_zero_total_goes_straight_to_the_invoices(app, factory, client, login):
    b = make_basket(app, factory, tariffs=((0, None, 0),), bus_price_cents=0)
    login(client, b.household.email)
    response = client.post("/famille/paiement/commencer")
    assert response.headers["Location"] == "/famille/factures"
    assert state(app, b.basket_id).status == "paid"


def test_checkout_errors_come_back_to_the_basket_in_french(app, factory, client, login):
    from datetime import timedelta

    b = make_basket(app, factory, expires_in=timedelta(minutes=-2))
    login(client, b.household.email)
    response = client.post("/famille/paiement/commencer", follow_redirects=False)
    assert response.headers["Location"] == "/famille/panier/"
    page = client.get("/famille/panier/").get_data(as_text=True)
    assert "les places ne sont plus réservées" in page


def test_production_refuses_the_sandbox(app, factory, client, monkeypatch):
    from app.services.payments.registry import get_provider
    from app.services.payments.sandbox import SandboxRefused
    from config import ConfigError, check_production

    with pytest.raises(ConfigError):
        check_production({"APP_ENV": "production", "SECRET_KEY": "x" * 40, "PAYMENT_PROVIDER": "sandbox"})
    b = make_basket(app, factory)
    from app.services import payments as service

    with app.app_context():
        result = service.start_checkout(b.household.id)
    token = _token(result.payment_url)
    # Even if the settings slipped through, the running app refuses the sandbox.
    monkeypatch.setitem(app.config, "APP_ENV", "production")
    with app.app_context():
        with pytest.raises(SandboxRefused):
            get_provider()
        with pytest.raises(SandboxRefused):
            service.sandbox_complete(token, "pay")
    assert client.get(f"/payments/sandbox/{token}").status_code == 404
    assert client.post(f"/payments/sandbox/{token}", data={"action": "pay"}).status_code == 404
    assert state(app, b.basket_id).status == "checkout"
