"""POST /payments/stripe/webhook: signatures, replays, every handled event, races."""
from __future__ import annotations

import json
import threading
import time

import pytest

from app.services import payments as service
from tests.support.payments import (
    audit_actions,
    call,
    charge_refunded,
    event,
    fill_week,
    lapse,
    make_basket,
    sign,
    state,
    use_stripe,
)

URL = "/payments/stripe/webhook"


@pytest.fixture
def fake(app, monkeypatch):
    return use_stripe(app, monkeypatch)


def _checkout(app, factory, fake, **kwargs):
    b = make_basket(app, factory, **kwargs)
    result = call(app, service.start_checkout, b.household.id)
    b.payment_id = result.payment_id
    b.session_id = state(app, b.basket_id).payments[0].provider_ref
    return b


def _post(client, payload: str, headers: dict | None = None):
    return client.post(URL, data=payload.encode(), headers=headers if headers is not None else sign(payload))


def _events(app) -> list[tuple[str, str]]:
    from app.models import ProviderEvent, db

    with app.app_context():
        rows = [(e.event_id, e.type) for e in db.session.query(ProviderEvent).order_by(ProviderEvent.id)]
    return rows


def test_valid_signature_confirms_the_basket(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    payload = event("checkout.session.completed", fake.pay(b.session_id), "evt_ok")
    response = _post(client, payload)
    assert response.status_code == 200 and response.json["outcome"] == "confirmed"
    s = state(app, b.basket_id)
    assert s.status == "paid" and s.lines == ["confirmed"]
    assert s.payments[0].provider_payment_ref == fake.sessions[b.session_id]["payment_intent"]
    assert _events(app) == [("evt_ok", "checkout.session.completed")]


@pytest.mark.parametrize("headers", [
    lambda p: sign(p, secret="whsec_forged"),  # forged: another secret
    lambda p: sign(p, timestamp=int(time.time()) - 600),  # stale: beyond the 5-minute tolerance
    lambda p: {"Content-Type": "application/json"},  # no signature at all
    lambda p: {"Stripe-Signature": "t=abc,v1=zzz"},  # garbage
    lambda p: sign(json.dumps(json.loads(p), indent=2)),  # signed over other bytes (re-serialised body)
])
def test_bad_signatures_are_refused(app, factory, fake, client, headers):
    b = _checkout(app, factory, fake)
    payload = event("checkout.session.completed", fake.pay(b.session_id), "evt_forged")
    response = client.post(URL, data=payload.encode(), headers=headers(payload))
    assert response.status_code == 400
    assert state(app, b.basket_id).status == "checkout" and _events(app) == []


def test_the_same_event_three_times_confirms_once(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    payload = event("checkout.session.completed", fake.pay(b.session_id), "evt_thrice")
    statuses = [_post(client, payload).json["status"] for _ in range(3)]
    assert statuses == ["processed", "duplicate", "duplicate"]
    s = state(app, b.basket_id)
    assert s.status == "paid" and [m.kind for m in s.mails] == ["payment_confirmation"]
    assert audit_actions(app, "basket").count("basket.paid") == 1
    assert len(_events(app)) == 1


def test_two_different_events_for_one_payment_confirm_once(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    session = fake.pay(b.session_id)
    assert _post(client, event("checkout.session.completed", session, "evt_a")).json["outcome"] == "confirmed"
    assert _post(client, event("checkout.session.async_payment_succeeded", session, "evt_b")).json["outcome"] \
        == "already"
    assert len(state(app, b.basket_id).mails) == 1


def test_completed_but_unpaid_waits_for_async_success(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    session = fake.pay(b.session_id, payment_status="unpaid")
    assert _post(client, event("checkout.session.completed", session, "evt_c")).status_code == 200
    assert state(app, b.basket_id).status == "checkout"
    session["payment_status"] = "paid"
    response = _post(client, event("checkout.session.async_payment_succeeded", session, "evt_d"))
    assert response.json["outcome"] == "confirmed" and state(app, b.basket_id).status == "paid"


def test_async_payment_failed_frees_the_basket_for_another_try(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    session = fake.pay(b.session_id, payment_status="unpaid")
    _post(client, event("checkout.session.async_payment_failed", session, "evt_f"))
    s = state(app, b.basket_id)
    assert s.status == "open" and s.payments[0].status == "failed" and s.lines == ["held"]


def test_session_expired_event_closes_the_attempt(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    session = fake.sessions[b.session_id]
    session["status"] = "expired"
    _post(client, event("checkout.session.expired", session, "evt_x"))
    s = state(app, b.basket_id)
    assert s.status == "open" and s.payments[0].status == "expired"
    # A later click opens a second attempt: a new session, a new key.
    call(app, service.start_checkout, b.household.id)
    assert [c.idempotency_key[-9:] for c in fake.session_creates()] == ["attempt-1", "attempt-2"]


def test_charge_refunded_from_the_dashboard_is_recorded(app, factory, fake, client):
    b = _checkout(app, factory, fake, weeks=(0, 1))
    session = fake.pay(b.session_id)
    _post(client, event("checkout.session.completed", session, "evt_paid"))
    _post(client, event("charge.refunded", charge_refunded(session, 3000), "evt_r1"))
    s = state(app, b.basket_id)
    assert s.payments[0].status == "partially_refunded" and s.payments[0].refunded_cents == 3000
    assert [(r.amount_cents, r.status) for r in s.refunds] == [(3000, "succeeded")]
    _post(client, event("charge.refunded", charge_refunded(session, 3000), "evt_r2"))  # nothing new
    assert len(state(app, b.basket_id).refunds) == 1


def test_portal_refund_then_charge_refunded_is_not_counted_twice(app, factory, fake, client):
    b = _checkout(app, factory, fake)
    session = fake.pay(b.session_id)
    _post(client, event("checkout.session.completed", session, "evt_paid2"))
    staff = factory.staff()
    from flask_appbuilder.security.sqla.models import User

    from app.models import db

    with app.app_context():
        service.refund(b.payment_id, 4500, "Annulation", actor=db.session.get(User, staff.id))
    _post(client, event("charge.refunded", charge_refunded(session, 4500), "evt_r3"))
    s = state(app, b.basket_id)
    assert s.payments[0].refunded_cents == 4500 and len(s.refunds) == 1


def test_late_payment_webhook_without_places_refunds_and_mails(app, factory, fake, client):
    b = _checkout(app, factory, fake, capacities=(1,))
    lapse(app, b.basket_id)
    fill_week(app, factory, b.catalog)
    session = fake.pay(b.session_id)
    response = _post(client, event("checkout.session.completed", session, "evt_late"))
    assert response.status_code == 200 and response.json["outcome"] == "late_refunded"
    [refund] = fake.refund_requests()
    assert refund.params == {"payment_intent": session["payment_intent"], "amount": "4500",
                             "metadata": {"reason": refund.params["metadata"]["reason"]}}
    s = state(app, b.basket_id)
    assert s.payments[0].flagged and s.payments[0].status == "refunded"
    mail = s.mails[-1]
    assert mail.kind == "payment_late_refunded" and mail.to == b.household.email
    assert "remboursé" in mail.subject


def test_late_payment_webhook_with_places_left_confirms(app, factory, fake, client):
    b = _checkout(app, factory, fake, capacities=(2,))
    lapse(app, b.basket_id)
    fill_week(app, factory, b.catalog)
    response = _post(client, event("checkout.session.completed", fake.pay(b.session_id), "evt_late_ok"))
    assert response.json["outcome"] == "late_confirmed"
    assert state(app, b.basket_id).lines == ["confirmed"] and not fake.refund_requests()


def test_unknown_events_and_payments_are_acknowledged(app, factory, fake, client):
    assert _post(client, event("customer.created", {"id": "cus_1"}, "evt_u")).json["status"] == "ignored"
    stranger = {"id": "cs_elsewhere", "object": "checkout.session", "status": "complete", "payment_status": "paid",
                "payment_intent": "pi_x", "amount_total": 100, "metadata": {}}
    assert _post(client, event("checkout.session.completed", stranger, "evt_s")).json["status"] == "unknown_payment"


def test_lock_timeout_answers_503_so_that_stripe_retries(app, factory, fake, client, monkeypatch):
    b = _checkout(app, factory, fake)
    payload = event("checkout.session.completed", fake.pay(b.session_id), "evt_busy")
    from app.services.errors import Busy
    from app.services.payments import notifications

    real_lock = notifications._lock

    def busy(model, row_id):
        raise Busy("occupé", code="busy")

    monkeypatch.setattr(notifications, "_lock", busy)
    response = _post(client, payload)
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert _events(app) == []  # not recorded: the retry will process it
    monkeypatch.setattr(notifications, "_lock", real_lock)
    assert _post(client, payload).json["outcome"] == "confirmed"


def test_webhook_refused_when_stripe_is_not_configured(app, client):
    payload = event("checkout.session.completed", {"id": "cs_1"}, "evt_nc")
    assert client.post(URL, data=payload.encode(), headers=sign(payload)).status_code == 400


def test_csrf_protects_the_sandbox_page_but_not_the_webhook(tmp_path_factory, monkeypatch):
    """With CSRF on (production settings): the sandbox's buttons need the token, Stripe's webhook
    (no browser, signed instead) does not."""
    from tests.support.apps import build_app
    from tests.support.factories import Factory

    csrf_app = build_app(f"sqlite:///{tmp_path_factory.mktemp('csrf') / 'db.sqlite'}", tmp_path_factory,
                         WTF_CSRF_ENABLED=True)
    sandbox = make_basket(csrf_app, Factory(csrf_app))
    result = call(csrf_app, service.start_checkout, sandbox.household.id)
    browser = csrf_app.test_client()
    assert 'name="csrf_token"' in browser.get(result.payment_url).get_data(as_text=True)
    assert browser.post(result.payment_url, data={"action": "pay"}).status_code == 400
    assert state(csrf_app, sandbox.basket_id).status == "checkout"

    fake = use_stripe(csrf_app, monkeypatch)
    b = make_basket(csrf_app, Factory(csrf_app))
    call(csrf_app, service.start_checkout, b.household.id)
    session_id = state(csrf_app, b.basket_id).payments[0].provider_ref
    payload = event("checkout.session.completed", fake.pay(session_id), "evt_csrf")
    response = csrf_app.test_client().post(URL, data=payload.encode(), headers=sign(payload))
    assert response.status_code == 200 and state(csrf_app, b.basket_id).status == "paid"


def test_success_page_and_webhook_racing_confirm_once(pg_app, pg_factory, monkeypatch, login):
    """Real threads on PostgreSQL: the webhook and the parent's return page arrive together."""
    fake = use_stripe(pg_app, monkeypatch)
    rounds = 3
    baskets = []
    for _ in range(rounds):
        b = make_basket(pg_app, pg_factory)
        call(pg_app, service.start_checkout, b.household.id)
        b.session_id = state(pg_app, b.basket_id).payments[0].provider_ref
        b.payload = event("checkout.session.completed", fake.pay(b.session_id), f"evt_race_{b.basket_id}")
        b.parent = pg_app.test_client()
        login(b.parent, b.household.email)
        baskets.append(b)

    for b in baskets:
        barrier = threading.Barrier(3)
        results = {}

        def webhook():
            barrier.wait()
            results["webhook"] = pg_app.test_client().post(URL, data=b.payload.encode(), headers=sign(b.payload))

        def success_page():
            barrier.wait()
            results["page"] = b.parent.get(f"/famille/paiement/retour?session_id={b.session_id}")

        def replay():
            barrier.wait()
            results["replay"] = pg_app.test_client().post(URL, data=b.payload.encode(), headers=sign(b.payload))

        threads = [threading.Thread(target=f) for f in (webhook, success_page, replay)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        # No deadlock between the notification's event row and the page's fulfilment: nobody is
        # told "busy", whoever comes first confirms, the others find it done.
        assert results["page"].status_code == 200 and "confirmées" in results["page"].get_data(as_text=True)
        assert sorted(r.json["status"] for k, r in results.items() if k != "page") == ["duplicate", "processed"]
        s = state(pg_app, b.basket_id)
        assert s.status == "paid" and s.lines == ["confirmed"]
        assert [m.kind for m in s.mails] == ["payment_confirmation"]
    actions = audit_actions(pg_app, "basket")
    assert actions.count("basket.paid") == rounds


_PAID = {"payment_status": "paid"}


@pytest.mark.parametrize("body, status", [
    (None, 400), ([], 400), ("evt", 400), (1, 400),
    ({"id": "evt_t", "type": 42, "data": {"object": {}}}, 400),
    ({"id": ["x"], "type": "checkout.session.completed", "data": {"object": _PAID}}, 400),
    ({"id": "e" * 300, "type": "checkout.session.completed", "data": {"object": _PAID}}, 400),
    ({"id": "evt\u0000", "type": "checkout.session.completed", "data": {"object": _PAID}}, 400),
    ({"id": "evt_list", "type": "checkout.session.completed", "data": ["a"]}, 200),
    ({"id": "evt_meta", "type": "checkout.session.completed", "data": {"object": dict(_PAID, metadata=["a"])}}, 200),
    ({"id": "evt_big", "type": "checkout.session.completed",
      "data": {"object": dict(_PAID, metadata={"payment_id": str(2**80)}, amount_total=2**80)}}, 200),
    ({"id": "evt_cur", "type": "checkout.session.completed", "data": {"object": dict(_PAID, currency=5)}}, 200),
    ({"id": "evt_pi", "type": "checkout.session.completed",
      "data": {"object": dict(_PAID, payment_intent={"id": ["x"]})}}, 200),
    ({"id": "evt_ref", "type": "charge.refunded", "data": {"object": {"payment_intent": 7}}}, 200),
])
def test_signed_bodies_of_unexpected_shapes_are_answered_not_crashed(app, fake, client, body, status):
    """Stripe signs what it sends, but shapes change with API versions: never trusted, never a 500."""
    payload = json.dumps(body)
    response = _post(client, payload)
    assert response.status_code == status
    if status == 200:
        assert response.json["status"] in ("ignored", "unknown_payment")


def test_notification_takes_the_basket_lock_before_touching_the_payment(pg_app, pg_factory, monkeypatch):
    """Deterministic version of the race: a fulfilment (success page) holds the basket and is about
    to lock the payment while the notification arrives. The notification must wait on the basket,
    not hold a lock on the payment (its event row references the payment): else a deadlock."""
    from sqlalchemy import create_engine, text

    fake = use_stripe(pg_app, monkeypatch)
    b = make_basket(pg_app, pg_factory)
    call(pg_app, service.start_checkout, b.household.id)
    payment = state(pg_app, b.basket_id).payments[0]
    payload = event("checkout.session.completed", fake.pay(payment.provider_ref), "evt_order")
    engine = create_engine(pg_app.config["SQLALCHEMY_DATABASE_URI"])
    results = {}
    with engine.connect() as page:
        page.execute(text("SET lock_timeout = '3s'"))
        page.execute(text("SELECT id FROM basket WHERE id = :id FOR UPDATE"), {"id": b.basket_id})
        thread = threading.Thread(target=lambda: results.setdefault(
            "webhook", pg_app.test_client().post(URL, data=payload.encode(), headers=sign(payload))))
        thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # wait until the notification is blocked on a lock
            waiting = page.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar()
            if waiting:
                break
            time.sleep(0.05)
        assert waiting, "the notification never waited for the basket"
        # The page goes on: it can lock the payment (nothing of the notification's is in the way).
        page.execute(text("SELECT id FROM payment WHERE id = :id FOR UPDATE"), {"id": payment.id})
        page.rollback()
        thread.join(30)
    engine.dispose()
    assert results["webhook"].status_code == 200 and results["webhook"].json["outcome"] == "confirmed"
