"""PayFiPProvider against eopayment's real payfip_ws code (zeep, the bundled WSDL), with only the
HTTP transport replaced (tests/support/payfip_fake.py): checkout, notifications (paid, refused,
replayed, forged), the return page, the hold's end, late payments, régie refunds."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.services import payments as service
from app.services.payments.provider import ProviderError, ProviderUnavailable
from tests.support.payfip_fake import NUMCLI, SERVICE_URL, use_payfip
from tests.support.payments import audit_actions, call, fill_week, lapse, make_basket, state


@pytest.fixture
def fake(app, monkeypatch):
    return use_payfip(app, monkeypatch)


def _checkout(app, factory, fake, **kwargs):
    b = make_basket(app, factory, **kwargs)
    result = call(app, service.start_checkout, b.household.id)
    b.payment_id = result.payment_id
    b.result = result
    b.idop = state(app, b.basket_id).payments[0].provider_ref
    return b


def _notify(client, idop, field="idOp"):
    return client.post("/payments/payfip/notification", data=f"{field}={idop}",
                       content_type="application/x-www-form-urlencoded")


def test_operation_creation_parameters(app, factory, fake):
    b = make_basket(app, factory, children=(("Léa", 8), ("Tom", 6)), weeks=(0,))
    result = call(app, service.start_checkout, b.household.id)
    [create] = fake.creations()
    f = create.fields
    assert create.url == SERVICE_URL and create.timeout == 15
    assert f["numcli"] == NUMCLI and f["saisie"] == "T"  # test mode
    assert f["montant"] == "9000" and result.amount_cents == 9000  # cents, the basket's total
    assert f["refdet"] == f"PJB{b.basket_id:08d}T001"
    assert f["mel"] == b.household.email
    assert f["objet"] == f"Inscriptions ALSH panier n {b.basket_id}"  # eopayment's PayFiP alphabet
    assert f["urlnotif"] == "http://portail.test/payments/payfip/notification"
    assert f["urlredirect"] == "http://portail.test/payments/payfip/retour"
    s = state(app, b.basket_id)
    idop = s.payments[0].provider_ref
    assert s.payments[0].provider == "payfip" and idop in fake.operations
    assert result.payment_url == f"https://www.payfip.gouv.fr/tpa/paiementws.web?idop={idop}"
    assert s.status == "checkout"
    # The same basket asked again: the page already opened, no second operation.
    assert call(app, service.start_checkout, b.household.id).payment_url == result.payment_url
    assert len(fake.creations()) == 1


def test_activation_and_production_modes(app, factory, monkeypatch):
    fake = use_payfip(app, monkeypatch, mode="production")
    b = make_basket(app, factory)
    call(app, service.start_checkout, b.household.id)
    assert fake.creations()[0].fields["saisie"] == "W"


def test_minimum_amount_is_refused_in_french_before_any_call(app, factory, fake):
    b = make_basket(app, factory, tariffs=[(0, None, 50)])
    with pytest.raises(ProviderError) as error:
        call(app, service.start_checkout, b.household.id)
    assert error.value.code == "amount_too_low" and "1,00 €" in error.value.message
    assert not fake.calls
    s = state(app, b.basket_id)
    assert s.payments[0].status == "failed" and s.status == "open"  # the parent may pay at the desk


def test_minimum_amount_message_reaches_the_parent_page_and_the_api(app, factory, fake, client, login):
    from tests.support.clients import jwt_headers

    b = make_basket(app, factory, tariffs=[(0, None, 50)])
    login(client, b.household.email)
    import html

    response = client.post("/famille/paiement/commencer", follow_redirects=True)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and "Mon panier" in page
    assert "n'est possible qu'à partir de 1,00" in page and "guichet du Pôle Jeunesse" in page
    assert not fake.calls
    api = app.test_client()
    answer = api.post("/api/v1/portal/basket/checkout", headers=jwt_headers(api, b.household.email))
    assert answer.status_code == 409 and answer.get_json()["code"] == "amount_too_low"  # not a gateway failure
    assert "1,00" in answer.get_json()["message"]


def test_payfip_functional_refusal_and_outage(app, factory, fake):
    b = make_basket(app, factory)
    fake.fault = ("R3", "Le format du paramètre REFDET n'est pas conforme")
    with pytest.raises(ProviderError) as error:
        call(app, service.start_checkout, b.household.id)
    assert not isinstance(error.value, ProviderUnavailable) and "PayFiP a refusé" in error.value.message
    fake.down = True
    with pytest.raises(ProviderUnavailable):
        call(app, service.start_checkout, b.household.id)


def test_paid_notification_confirms_after_reading_back(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    fake.pay(b.idop)
    response = _notify(client, b.idop)
    assert response.status_code == 200 and response.json["outcome"] == "confirmed"
    assert [c.fields for c in fake.reads()] == [{"idOp": b.idop}]  # the result was asked of PayFiP
    s = state(app, b.basket_id)
    assert s.status == "paid" and s.lines == ["confirmed"]
    assert s.payments[0].status == "paid" and s.payments[0].provider_payment_ref.endswith("-tip")
    assert [m.kind for m in s.mails] == ["payment_confirmation"]


def test_replayed_notification_is_harmless(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    fake.pay(b.idop)
    assert _notify(client, b.idop).json["outcome"] == "confirmed"
    replay = _notify(client, b.idop, field="idop")
    assert replay.status_code == 200 and replay.json["status"] == "duplicate"
    s = state(app, b.basket_id)
    assert s.lines == ["confirmed"] and len(s.mails) == 1 and not s.refunds
    assert audit_actions(app, "payment").count("payment.paid") == 1


def test_refused_notification_ends_the_attempt(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    fake.refuse(b.idop)
    response = _notify(client, b.idop)
    assert response.status_code == 200 and response.json["outcome"] == "failed"
    s = state(app, b.basket_id)
    assert s.payments[0].status == "failed" and s.status == "open" and s.lines == ["held"]


def test_forged_notification_is_refused_by_what_payfip_says(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    # Someone posts the operation id before any payment: PayFiP answers « résultat non connu » (P5).
    response = _notify(client, b.idop)
    assert response.status_code == 200 and response.json["status"] == "ignored"
    # An operation id PayFiP does not know (P1): nothing of ours is touched.
    assert _notify(client, "deadbeef-0000").json["status"] == "unknown_payment"
    # No id at all, or garbage: refused.
    assert _notify(client, "").status_code == 400
    assert client.post("/payments/payfip/notification", data=b"\xff\xfe").status_code == 400
    s = state(app, b.basket_id)
    assert s.payments[0].status == "pending" and s.lines == ["held"] and s.status == "checkout"
    # The real payment afterwards still confirms.
    fake.pay(b.idop)
    assert _notify(client, b.idop).json["outcome"] == "confirmed"


def test_amount_paid_differs_is_flagged(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    fake.pay(b.idop, montant="100")
    _notify(client, b.idop)
    assert state(app, b.basket_id).payments[0].flagged


def test_outage_answers_503(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    fake.down = True
    response = _notify(client, b.idop)
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_return_page_reads_back_and_confirms(app, factory, fake, client, login):
    b = _checkout(app, factory, fake)
    fake.pay(b.idop)
    login(client, b.household.email)
    response = client.post("/payments/payfip/retour", data={"idop": b.idop})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/famille/paiement/retour?session_id={b.idop}")
    assert state(app, b.basket_id).status == "paid"
    page = client.get(response.headers["Location"])
    assert page.status_code == 200 and "Vos inscriptions sont confirmées" in page.get_data(as_text=True)


def test_return_without_paying_offers_to_pay_again(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    fake.cancel(b.idop)
    response = client.get(f"/payments/payfip/retour?idop={b.idop}")
    assert response.status_code == 303 and "/famille/paiement/annule" in response.headers["Location"]
    s = state(app, b.basket_id)
    assert s.payments[0].status == "expired" and s.status == "open"
    # A new attempt is a new operation with its own reference.
    call(app, service.start_checkout, b.household.id)
    assert [c.fields["refdet"] for c in fake.creations()] == [f"PJB{b.basket_id:08d}T001",
                                                              f"PJB{b.basket_id:08d}T002"]


def test_hold_end_stops_waiting_then_a_late_payment_retakes_free_places(app, factory, fake, client):
    b = _checkout(app, factory, fake, capacities=(2,))
    lapse(app, b.basket_id, minutes=1)
    from app.services.booking import basket as basket_service

    # PayFiP cannot close the page: the expiry reads it (still « non connu »), releases the places.
    assert call(app, basket_service.expire_basket, b.basket_id) is True
    s = state(app, b.basket_id)
    assert s.payments[0].status == "expired" and s.lines == ["expired"]
    fill_week(app, factory, b.catalog)  # one place taken meanwhile, one still free
    fake.pay(b.idop)
    assert _notify(client, b.idop).json["outcome"] == "late_confirmed"
    s = state(app, b.basket_id)
    assert s.lines == ["confirmed"] and s.payments[0].status == "paid" and not s.refunds


def test_late_payment_without_places_becomes_a_regie_refund_task(app, factory, fake, client):
    b = _checkout(app, factory, fake, capacities=(1,))
    lapse(app, b.basket_id)
    fill_week(app, factory, b.catalog)
    fake.pay(b.idop)
    assert _notify(client, b.idop).json["outcome"] == "late_refunded"
    s = state(app, b.basket_id)
    assert s.payments[0].status == "refunded" and s.payments[0].flagged
    [refund] = s.refunds
    from app.models import RegieRefund, db

    with app.app_context():
        [task] = db.session.query(RegieRefund).all()
        assert (task.status, task.amount_cents, task.household_id, task.payment_id, task.refund_id) == (
            "todo", 4500, b.household.id, b.payment_id, refund.id)
        assert task.refdet == f"PJB{b.basket_id:08d}T001" and task.payfip_idop == b.idop
    assert refund.status == "succeeded" and refund.provider_ref == f"regie-{task.id}"
    mail = s.mails[-1]
    assert mail.kind == "payment_late_refunded" and mail.to == b.household.email
    assert "RIB" in mail.body and "régie" in mail.body and "5 à 10 jours" not in mail.body
    assert "regie_refund.created" in audit_actions(app, "regie_refund")
    # The sweeper sending refunds again finds nothing pending, and a second hand-over is the same task.
    assert call(app, service.retry_pending_refunds) == 0
    from app.services.payments.registry import get_provider

    with app.app_context():
        again = get_provider(app, "payfip").refund(payment_ref=None, checkout_ref=b.idop, amount_cents=4500,
                                                   idempotency_key=f"portail-refund-{refund.id}", reason="x")
        assert again.ref == f"regie-{task.id}" and db.session.query(RegieRefund).count() == 1


def test_return_page_of_a_late_payfip_payment_says_the_regie_refunds_on_a_rib(app, factory, fake, client, login):
    b = _checkout(app, factory, fake, capacities=(1,))
    lapse(app, b.basket_id)
    fill_week(app, factory, b.catalog)
    fake.pay(b.idop)
    login(client, b.household.email)
    back = client.get(f"/payments/payfip/retour?idop={b.idop}")
    assert back.status_code == 303 and back.headers["Location"].endswith(f"session_id={b.idop}")
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert state(app, b.basket_id).payments[0].status == "refunded"
    assert 'data-refund="regie"' in page and "Paiement à rembourser par la régie" in page
    assert "par virement bancaire" in page and "envoyez votre RIB" in page and "45,00" in page
    # Never the card-refund promise: PayFiP cannot refund, the régie does, once it has the RIB.
    assert "automatiquement" not in page and "5 à 10 jours" not in page
    mail = state(app, b.basket_id).mails[-1]
    assert "automatiquement" not in mail.body and "RIB" in mail.body and "virement" in mail.body


def test_return_page_of_a_late_card_payment_still_says_automatic_refund(app, factory, client, login):
    b = make_basket(app, factory, capacities=(1,))
    payment_id = call(app, service.start_checkout, b.household.id).payment_id
    lapse(app, b.basket_id)
    fill_week(app, factory, b.catalog)
    assert call(app, service.fulfil, payment_id, source="test").outcome == "late_refunded"
    s = state(app, b.basket_id)
    assert s.payments[0].provider == "sandbox" and s.payments[0].status == "refunded"
    login(client, b.household.email)
    page = client.get(f"/famille/paiement/retour?session_id={s.payments[0].provider_ref}").get_data(as_text=True)
    assert 'data-refund="automatic"' in page and "automatiquement" in page and "RIB" not in page


def test_expiry_with_payfip_unreachable_releases_nothing_on_a_guess(app, factory, fake):
    b = _checkout(app, factory, fake)
    lapse(app, b.basket_id, minutes=1)
    fake.down = True
    from app.services.booking import basket as basket_service

    with pytest.raises(ProviderUnavailable):
        call(app, basket_service.expire_basket, b.basket_id)
    assert state(app, b.basket_id).payments[0].status == "pending"


def test_hardening_allows_the_payfip_page_as_form_action(app, client, fake):
    csp = client.get("/login/").headers["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com https://www.payfip.gouv.fr" in csp


def test_payfip_page_not_allowed_when_another_provider(app, client):
    assert "payfip" not in client.get("/login/").headers["Content-Security-Policy"]


def test_unconfigured_payfip_is_a_french_refusal(app, factory, monkeypatch, fake):
    monkeypatch.setitem(app.config, "PAYFIP_NUMCLI", None)
    b = make_basket(app, factory)
    with pytest.raises(ProviderError) as error:
        call(app, service.start_checkout, b.household.id)
    assert error.value.code == "payment_not_configured"


def test_production_config_requires_payfip_settings():
    from config import ConfigError, check_production

    base = {"APP_ENV": "production", "SECRET_KEY": "x" * 40, "PAYMENT_PROVIDER": "payfip"}
    with pytest.raises(ConfigError):
        check_production({**base, "PAYFIP_NUMCLI": "12"})
    with pytest.raises(ConfigError):
        check_production({**base, "PAYFIP_NUMCLI": NUMCLI, "PAYFIP_MODE": "test"})
    check_production({**base, "PAYFIP_NUMCLI": NUMCLI, "PAYFIP_MODE": "production"})


def test_hold_is_not_extended_by_payfip(app, factory, fake):
    b = _checkout(app, factory, fake, expires_in=timedelta(minutes=30))
    s = state(app, b.basket_id)
    from app.models import Basket, db

    with app.app_context():
        hold_end = db.session.get(Basket, b.basket_id).expires_at
    assert hold_end < s.payments[0].checkout_expires_at <= hold_end + timedelta(minutes=2)
