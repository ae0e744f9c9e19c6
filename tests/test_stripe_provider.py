"""StripeProvider against the real stripe-python code, with only its HTTP transport replaced."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.services import payments as service
from app.services.errors import Conflict
from app.services.payments.provider import ProviderError, ProviderUnavailable
from app.services.payments.stripe_provider import StripeProvider
from tests.support.payments import FakeStripe, audit_actions, call, fill_week, lapse, make_basket, state, use_stripe


@pytest.fixture
def fake(app, monkeypatch):
    return use_stripe(app, monkeypatch)


def test_session_parameters(app, factory, fake):
    b = make_basket(app, factory, children=(("Léa", 8), ("Tom", 6)), weeks=(0,), bus=True,
                    expires_in=timedelta(minutes=50))
    before = datetime.now(timezone.utc)
    result = call(app, service.start_checkout, b.household.id)
    [create] = fake.session_creates()
    p = create.params
    assert p["mode"] == "payment" and p["currency"] == "eur"
    assert "payment_method_types" not in p  # removed by the endive API version
    items = p["line_items"]
    assert len(items) == 2  # one line item per reservation
    assert [int(i["price_data"]["unit_amount"]) for i in items] == [5000, 5000]
    assert all(i["price_data"]["currency"] == "eur" and i["quantity"] == "1" for i in items)
    names = [i["price_data"]["product_data"]["name"] for i in items]
    assert "Léa" in names[0] and "Tom" in names[1]
    assert all("Semaine du" in n and "+ bus (Église" in n for n in names)
    assert p["client_reference_id"] == str(b.basket_id)
    assert p["metadata"]["basket_id"] == str(b.basket_id)
    assert p["metadata"]["payment_id"] == str(result.payment_id)
    assert p["payment_intent_data"]["metadata"]["basket_id"] == str(b.basket_id)
    assert p["customer_email"] == b.household.email
    assert p["success_url"] == "http://portail.test/famille/paiement/retour?session_id={CHECKOUT_SESSION_ID}"
    assert p["cancel_url"] == "http://portail.test/famille/paiement/annule"
    # The hold ends in 50 min: the page lives until then plus a small grace, within Stripe's bounds.
    expires_at = int(p["expires_at"])
    hold_end = (before + timedelta(minutes=50)).timestamp()
    assert hold_end <= expires_at <= hold_end + 5 * 60
    assert create.idempotency_key == f"portail-basket-{b.basket_id}-attempt-1"
    assert result.amount_cents == 10000
    assert result.payment_url == fake.sessions[state(app, b.basket_id).payments[0].provider_ref]["url"]
    assert create.headers["Authorization"] == "Bearer sk_test_portail"


def test_expiry_is_raised_to_stripes_30_minute_floor(app, factory, fake):
    b = make_basket(app, factory, expires_in=timedelta(minutes=5))
    before = datetime.now(timezone.utc).timestamp()
    call(app, service.start_checkout, b.household.id)  # the fake refuses out-of-bounds expiries
    expires_at = int(fake.session_creates()[0].params["expires_at"])
    assert before + 30 * 60 < expires_at < before + 40 * 60


@pytest.mark.parametrize("hold, low, high", [
    (timedelta(minutes=50), timedelta(minutes=50), timedelta(minutes=55)),
    (timedelta(minutes=1), timedelta(minutes=30), timedelta(minutes=35)),
    (timedelta(hours=48), timedelta(hours=23), timedelta(hours=24)),
])
def test_checkout_expiry_bounds(hold, low, high):
    provider = StripeProvider(secret_key="sk_test", webhook_secret=None, http_client=FakeStripe())
    now = datetime(2026, 7, 1, 8, 0, tzinfo=timezone.utc)
    expires = provider.checkout_expires_at(now + hold, now)
    assert now + low <= expires <= now + high
    assert now + timedelta(minutes=30) < expires < now + timedelta(hours=24)


def test_one_session_per_basket(app, factory, fake):
    b = make_basket(app, factory)
    first = call(app, service.start_checkout, b.household.id)
    second = call(app, service.start_checkout, b.household.id)
    assert first.payment_url == second.payment_url
    assert len(fake.session_creates()) == 1
    assert len(fake.sessions) == 1


def test_network_error_then_retry_finds_the_same_session(app, factory, fake):
    b = make_basket(app, factory)
    fake.fail_next = ["connection"]
    with pytest.raises(ProviderUnavailable) as err:
        call(app, service.start_checkout, b.household.id)
    assert "Rien n'a été débité" in err.value.message
    s = state(app, b.basket_id)
    assert s.status == "checkout" and s.payments[0].status == "pending" and s.payments[0].provider_ref is None
    result = call(app, service.start_checkout, b.household.id)
    creates = fake.session_creates()
    assert len(creates) == 2 and creates[0].idempotency_key == creates[1].idempotency_key
    assert creates[0].params == creates[1].params  # same key, same parameters: Stripe would refuse otherwise
    assert len(fake.sessions) == 1 and result.payment_url.endswith(next(iter(fake.sessions)))


def test_lost_answer_then_retry_gets_the_session_stripe_created(app, factory, fake):
    """Stripe created the session but its answer never arrived: the same key returns it."""
    b = make_basket(app, factory)
    fake.lose_answers = 1
    with pytest.raises(ProviderUnavailable):
        call(app, service.start_checkout, b.household.id)
    assert len(fake.sessions) == 1
    result = call(app, service.start_checkout, b.household.id)
    [session_id] = fake.sessions
    assert len(fake.sessions) == 1 and result.payment_url == fake.sessions[session_id]["url"]
    assert state(app, b.basket_id).payments[0].provider_ref == session_id


def test_refused_session_creation_frees_the_basket(app, factory, fake):
    b = make_basket(app, factory)
    fake.now = datetime.now(timezone.utc).timestamp() + 3 * 3600  # Stripe's clock says the expiry is too close
    with pytest.raises(ProviderError) as err:  # the provider refused the request
        call(app, service.start_checkout, b.household.id)
    assert "refusé" in str(err.value)
    s = state(app, b.basket_id)
    assert s.status == "open" and s.payments[0].status == "failed"
    fake.now = None
    result = call(app, service.start_checkout, b.household.id)
    assert result.payment_url and state(app, b.basket_id).payments[1].attempt == 2
    assert fake.session_creates()[-1].idempotency_key.endswith("attempt-2")


def test_success_page_retrieves_the_session_and_fulfils(app, factory, fake):
    b = make_basket(app, factory)
    call(app, service.start_checkout, b.household.id)
    session_id = state(app, b.basket_id).payments[0].provider_ref
    payment = call(app, service.confirm_return, b.household.id, session_id)
    assert payment.status == "pending"  # not paid yet: nothing confirmed
    fake.pay(session_id)
    call(app, service.confirm_return, b.household.id, session_id)
    s = state(app, b.basket_id)
    assert s.status == "paid" and s.payments[0].provider_payment_ref == fake.sessions[session_id]["payment_intent"]
    assert fake.calls("get", rf"/v1/checkout/sessions/{session_id}")


def test_expiry_job_expires_an_open_session_and_releases(app, factory, fake):
    b = make_basket(app, factory)
    call(app, service.start_checkout, b.household.id)
    session_id = state(app, b.basket_id).payments[0].provider_ref
    lapse(app, b.basket_id)
    from app.services.booking import basket as basket_service

    assert call(app, basket_service.expire_basket, b.basket_id) is True
    assert fake.calls("post", rf"/v1/checkout/sessions/{session_id}/expire")
    assert fake.sessions[session_id]["status"] == "expired"
    s = state(app, b.basket_id)
    assert s.status == "expired" and s.lines == ["expired"] and s.payments[0].status == "expired"


def test_expiry_job_fulfils_when_stripe_says_it_was_paid(app, factory, fake):
    b = make_basket(app, factory, capacities=(3,))
    call(app, service.start_checkout, b.household.id)
    session_id = state(app, b.basket_id).payments[0].provider_ref
    fake.pay(session_id)  # paid, webhook not yet received
    lapse(app, b.basket_id)
    from app.services.booking import basket as basket_service

    assert call(app, basket_service.expire_basket, b.basket_id) is False
    s = state(app, b.basket_id)
    assert s.status == "paid" and s.lines == ["confirmed"] and s.payments[0].status == "paid"
    assert not fake.refund_requests()


def test_expiry_job_retries_on_network_error(app, factory, fake):
    b = make_basket(app, factory)
    call(app, service.start_checkout, b.household.id)
    lapse(app, b.basket_id)
    fake.fail_next = ["connection"]
    from app.services.booking import basket as basket_service

    with pytest.raises(ProviderUnavailable):
        call(app, basket_service.expire_basket, b.basket_id)
    s = state(app, b.basket_id)
    assert s.status == "checkout" and s.payments[0].status == "pending"  # nothing released on a guess
    assert call(app, basket_service.expire_basket, b.basket_id) is True


def test_expiry_job_finds_a_session_whose_creation_answer_was_lost(app, factory, fake):
    b = make_basket(app, factory)
    fake.fail_next = ["connection"]
    with pytest.raises(ProviderUnavailable):
        call(app, service.start_checkout, b.household.id)
    # Stripe never got it (the fake failed before routing); the expiry job asks again with the same
    # key, which creates or finds the one session, then expires it.
    lapse(app, b.basket_id, minutes=1)
    from app.services.booking import basket as basket_service

    assert call(app, basket_service.expire_basket, b.basket_id) is True
    assert len({c.idempotency_key for c in fake.session_creates()}) == 1
    assert all(s["status"] == "expired" for s in fake.sessions.values())


def test_late_payment_without_places_sends_a_refund_request(app, factory, fake):
    b = make_basket(app, factory, capacities=(1,))
    result = call(app, service.start_checkout, b.household.id)
    session_id = state(app, b.basket_id).payments[0].provider_ref
    lapse(app, b.basket_id)
    fill_week(app, factory, b.catalog)
    session = fake.pay(session_id)
    outcome = call(app, service.fulfil, result.payment_id, source="test", provider_payment_ref=session["payment_intent"])
    assert outcome.outcome == "late_refunded"
    [request] = fake.refund_requests()
    assert request.params["payment_intent"] == session["payment_intent"] and request.params["amount"] == "4500"
    assert request.idempotency_key.startswith("portail-refund-")
    s = state(app, b.basket_id)
    assert s.payments[0].status == "refunded" and s.payments[0].flagged
    assert s.refunds[0].provider_ref == next(iter(fake.refunds))
    assert [m.kind for m in s.mails] == ["payment_late_refunded"]
    assert "payment.late_refunded" in audit_actions(app, "payment")


def test_staff_refunds_full_and_partial_through_stripe(app, factory, fake):
    b = make_basket(app, factory, weeks=(0, 1))
    staff = factory.staff()
    result = call(app, service.start_checkout, b.household.id)
    session = fake.pay(state(app, b.basket_id).payments[0].provider_ref)
    call(app, service.fulfil, result.payment_id, source="test", provider_payment_ref=session["payment_intent"])
    from flask_appbuilder.security.sqla.models import User

    from app.models import db

    with app.app_context():
        actor = db.session.get(User, staff.id)
        service.refund(result.payment_id, 2500, "Une journée d'absence", actor=actor)
        service.refund(result.payment_id, 6500, "Annulation du séjour", actor=actor)
    assert [r.params["amount"] for r in fake.refund_requests()] == ["2500", "6500"]
    assert len({r.idempotency_key for r in fake.refund_requests()}) == 2
    s = state(app, b.basket_id)
    assert s.payments[0].status == "refunded" and s.payments[0].refunded_cents == 9000
    with app.app_context():
        with pytest.raises(Conflict):  # fully refunded: nothing left to refund
            service.refund(result.payment_id, 1, "Encore", actor=db.session.get(User, staff.id))
    assert len(fake.refund_requests()) == 2


def test_stripe_refusing_a_refund_flags_the_payment(app, factory, fake):
    b = make_basket(app, factory)
    staff = factory.staff()
    result = call(app, service.start_checkout, b.household.id)
    session = fake.pay(state(app, b.basket_id).payments[0].provider_ref)
    call(app, service.fulfil, result.payment_id, source="test", provider_payment_ref=session["payment_intent"])
    fake.refunds["re_outside"] = {"id": "re_outside", "amount": 4500, "payment_intent": session["payment_intent"]}
    from flask_appbuilder.security.sqla.models import User

    from app.models import db
    from app.services.payments.provider import ProviderError

    with app.app_context():
        with pytest.raises(ProviderError):
            service.refund(result.payment_id, 4500, "Doublon", actor=db.session.get(User, staff.id))
    s = state(app, b.basket_id)
    assert s.refunds[0].status == "failed" and s.payments[0].flagged and s.payments[0].refunded_cents == 0


def test_expired_basket_refuses_checkout_without_calling_stripe(app, factory, fake):
    b = make_basket(app, factory, expires_in=timedelta(seconds=-1))
    with pytest.raises(Conflict):
        call(app, service.start_checkout, b.household.id)
    assert fake.requests == []


def test_expiry_waits_while_stripe_refuses_to_expire_an_open_session(app, factory, fake):
    """A payment in progress on the page: Stripe will not expire it; nothing is released yet."""
    b = make_basket(app, factory)
    call(app, service.start_checkout, b.household.id)
    session_id = state(app, b.basket_id).payments[0].provider_ref
    lapse(app, b.basket_id)
    fake.refuse_expire.add(session_id)
    from app.services.booking import basket as basket_service

    with pytest.raises(ProviderUnavailable):
        call(app, basket_service.expire_basket, b.basket_id)
    assert state(app, b.basket_id).status == "checkout"
    fake.refuse_expire.clear()
    fake.pay(session_id)  # the payment in progress went through
    assert call(app, basket_service.expire_basket, b.basket_id) is False
    assert state(app, b.basket_id).status == "paid"
