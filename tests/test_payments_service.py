"""Checkout and fulfilment rules (DESIGN.md §3.4), through the service functions."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.services import payments as service
from app.services.errors import Conflict, NotFound, ValidationFailed
from tests.support.payments import audit_actions, call, fill_week, lapse, make_basket, state


def test_checkout_opens_one_sandbox_page_and_freezes_the_basket(app, factory):
    b = make_basket(app, factory, weeks=(0, 1), bus=True)
    result = call(app, service.start_checkout, b.household.id)
    # QF 650 → bracket 0-700 at 45 €, plus 5 € of bus, two weeks.
    assert result.amount_cents == 2 * (4500 + 500)
    assert result.payment_url.startswith("http://portail.test/payments/sandbox/")
    again = call(app, service.start_checkout, b.household.id)
    assert again.payment_url == result.payment_url and again.payment_id == result.payment_id
    s = state(app, b.basket_id)
    assert s.status == "checkout"
    assert [p.status for p in s.payments] == ["pending"]


def test_zero_total_basket_is_confirmed_without_payment(app, factory):
    b = make_basket(app, factory, tariffs=((0, None, 0),), bus_price_cents=0)
    result = call(app, service.start_checkout, b.household.id)
    assert result.payment_url is None and result.amount_cents == 0 and result.status == "confirmed"
    s = state(app, b.basket_id)
    assert s.status == "paid" and s.lines == ["confirmed"]
    assert [m.kind for m in s.mails] == ["payment_confirmation"]


def test_checkout_prices_again_and_says_so(app, factory):
    b = make_basket(app, factory)
    from app.models import TariffBracket, db

    with app.app_context():
        for bracket in db.session.query(TariffBracket).all():
            bracket.price_cents += 1000
        db.session.commit()
    with pytest.raises(Conflict) as err:
        call(app, service.start_checkout, b.household.id)
    assert err.value.code == "price_changed" and "55,00" in err.value.message
    result = call(app, service.start_checkout, b.household.id)
    assert result.amount_cents == 5500
    assert "reservation.repriced" in audit_actions(app, "reservation")


def test_expired_or_empty_basket_cannot_be_paid(app, factory):
    b = make_basket(app, factory, expires_in=timedelta(minutes=-1))
    with pytest.raises(Conflict) as err:
        call(app, service.start_checkout, b.household.id)
    assert err.value.code == "basket_expired"
    other = factory.household()
    with pytest.raises(NotFound):
        call(app, service.start_checkout, other.id)


def test_fulfil_confirms_every_line_once(app, factory):
    b = make_basket(app, factory, children=(("Léa", 8), ("Tom", 6)), weeks=(0, 1), bus=True)
    result = call(app, service.start_checkout, b.household.id)
    first = call(app, service.fulfil, result.payment_id, source="test", provider_payment_ref="pi_1")
    second = call(app, service.fulfil, result.payment_id, source="test", provider_payment_ref="pi_1")
    assert first.outcome == "confirmed" and second.outcome == "already"
    s = state(app, b.basket_id)
    assert s.status == "paid" and s.lines == ["confirmed"] * 4
    assert s.payments[0].status == "paid" and s.payments[0].provider_payment_ref == "pi_1"
    assert [m.kind for m in s.mails] == ["payment_confirmation"]
    body = s.mails[0].body
    assert "Léa" in body and "Tom" in body and "Église" in body and "07:30" in body and "200,00" in body
    assert audit_actions(app, "basket").count("basket.paid") == 1
    assert audit_actions(app, "reservation").count("reservation.confirmed") == 4


def test_late_payment_with_places_left_is_confirmed(app, factory):
    b = make_basket(app, factory, capacities=(2,))
    result = call(app, service.start_checkout, b.household.id)
    lapse(app, b.basket_id)
    fill_week(app, factory, b.catalog, count=1)  # one place left: ours
    outcome = call(app, service.fulfil, result.payment_id, source="test")
    assert outcome.outcome == "late_confirmed"
    s = state(app, b.basket_id)
    assert s.status == "paid" and s.lines == ["confirmed"] and not s.payments[0].flagged
    assert "payment.late_paid" in audit_actions(app, "payment")


def test_late_payment_after_expiry_job_with_places_left_is_confirmed(app, factory):
    """The expiry job already marked the lines expired and the basket expired: still re-taken."""
    b = make_basket(app, factory, capacities=(1,))
    result = call(app, service.start_checkout, b.household.id)
    lapse(app, b.basket_id)
    from app.models import Basket, db

    with app.app_context():
        basket = db.session.get(Basket, b.basket_id)
        basket.status = "expired"
        for line in basket.lines:
            line.status = "expired"
        db.session.commit()
    outcome = call(app, service.fulfil, result.payment_id, source="test")
    assert outcome.outcome == "late_confirmed"
    assert state(app, b.basket_id).lines == ["confirmed"]


def test_late_payment_without_places_is_refunded_mailed_and_flagged(app, factory):
    b = make_basket(app, factory, capacities=(1,))
    result = call(app, service.start_checkout, b.household.id)
    lapse(app, b.basket_id)
    fill_week(app, factory, b.catalog, count=1)  # the only place was taken meanwhile
    outcome = call(app, service.fulfil, result.payment_id, source="test")
    assert outcome.outcome == "late_refunded"
    s = state(app, b.basket_id)
    assert s.status == "expired" and s.lines == ["expired"]
    payment = s.payments[0]
    assert payment.status == "refunded" and payment.refunded_cents == payment.amount_cents == 4500
    assert payment.flagged and "rembours" in payment.flag_reason
    assert [(r.amount_cents, r.status) for r in s.refunds] == [(4500, "succeeded")]
    assert [m.kind for m in s.mails] == ["payment_late_refunded"]
    assert "remboursé intégralement" in s.mails[0].body
    # And the family keeps no line in that week.
    again = call(app, service.fulfil, result.payment_id, source="test")
    assert again.outcome == "already" and len(state(app, b.basket_id).refunds) == 1


def test_late_payment_refunded_when_one_bus_seat_is_gone(app, factory):
    """All or nothing: the week has room but the bus is full, so nothing is confirmed."""
    b = make_basket(app, factory, capacities=(10,), seats=1, bus=True)
    result = call(app, service.start_checkout, b.household.id)
    lapse(app, b.basket_id)
    other = make_basket(app, factory, catalog=b.catalog, bus=True)  # takes the only seat (held, live)
    outcome = call(app, service.fulfil, result.payment_id, source="test")
    assert outcome.outcome == "late_refunded"
    assert state(app, other.basket_id).lines == ["held"]


def test_late_payment_refunded_when_the_child_was_booked_again(app, factory):
    b = make_basket(app, factory, capacities=(5,))
    result = call(app, service.start_checkout, b.household.id)
    lapse(app, b.basket_id)
    from app.models import Basket, db

    with app.app_context():  # the expiry job ran, the parent booked the same week again
        basket = db.session.get(Basket, b.basket_id)
        basket.status = "expired"
        for line in basket.lines:
            line.status = "expired"
        db.session.commit()
        db.session.remove()
    make_basket(app, factory, catalog=b.catalog, household=b.household)
    outcome = call(app, service.fulfil, result.payment_id, source="test")
    assert outcome.outcome == "late_refunded"


def test_a_second_payment_for_a_paid_basket_is_refunded(app, factory):
    b = make_basket(app, factory)
    first = call(app, service.start_checkout, b.household.id)
    call(app, service.fulfil, first.payment_id, source="test")
    from app.models import Payment, db

    with app.app_context():  # e.g. a session whose creation answer was lost, paid anyway
        second = Payment(basket_id=b.basket_id, household_id=b.household.id, provider="sandbox", attempt=2,
                         amount_cents=4500, status="pending", provider_ref="sbx_lost")
        db.session.add(second)
        db.session.commit()
        second_id = second.id
        db.session.remove()
    outcome = call(app, service.fulfil, second_id, source="test")
    assert outcome.outcome == "duplicate_refunded"
    s = state(app, b.basket_id)
    assert [p.status for p in s.payments] == ["paid", "refunded"]
    assert s.payments[1].flagged and s.status == "paid" and s.lines == ["confirmed"]
    assert "payment_duplicate_refunded" in [m.kind for m in s.mails]


def test_refunds_full_and_partial(app, factory):
    b = make_basket(app, factory, weeks=(0, 1))
    staff = factory.staff()
    result = call(app, service.start_checkout, b.household.id)
    call(app, service.fulfil, result.payment_id, source="test")
    from flask_appbuilder.security.sqla.models import User

    from app.models import db

    def as_staff(fn, *args, **kwargs):
        with app.app_context():
            return fn(*args, actor=db.session.get(User, staff.id), **kwargs)

    as_staff(service.refund, result.payment_id, 1000, "Geste commercial")
    s = state(app, b.basket_id)
    assert s.payments[0].status == "partially_refunded" and s.payments[0].refunded_cents == 1000
    with pytest.raises(ValidationFailed) as err:
        as_staff(service.refund, result.payment_id, 9000, "Trop")
    assert err.value.code == "amount_too_high"
    with pytest.raises(ValidationFailed):
        as_staff(service.refund, result.payment_id, 100, "  ")
    as_staff(service.refund, result.payment_id, 8000, "Solde")
    s = state(app, b.basket_id)
    assert s.payments[0].status == "refunded" and s.payments[0].refunded_cents == 9000
    assert [r.amount_cents for r in s.refunds] == [1000, 8000]
    assert audit_actions(app, "refund").count("refund.succeeded") == 2


def test_staff_cancellation_returns_the_place_with_or_without_refund(app, factory):
    b = make_basket(app, factory, weeks=(0, 1), capacities=(1, 1))
    staff = factory.staff()
    result = call(app, service.start_checkout, b.household.id)
    call(app, service.fulfil, result.payment_id, source="test")
    from flask_appbuilder.security.sqla.models import User

    from app.models import db
    from app.services.booking.capacity import week_usage

    with app.app_context():
        actor = db.session.get(User, staff.id)
        service.cancel_reservation(b.line_ids[0], reason="Enfant malade", refund=True, actor=actor)
        service.cancel_reservation(b.line_ids[1], reason="Convenance", refund=False, actor=actor)
        with pytest.raises(Conflict):
            service.cancel_reservation(b.line_ids[1], reason="encore", refund=False, actor=actor)
        assert week_usage(b.catalog.week_ids) == {b.catalog.week_ids[0]: 0, b.catalog.week_ids[1]: 0}
    s = state(app, b.basket_id)
    assert s.lines == ["cancelled", "cancelled"]
    assert [(r.amount_cents, r.reservation_id) for r in s.refunds] == [(4500, b.line_ids[0])]
    assert s.payments[0].status == "partially_refunded"
    assert [m.kind for m in s.mails].count("reservation_cancelled") == 2
    assert audit_actions(app, "reservation").count("reservation.cancelled") == 2


def test_desk_payment_confirms_through_the_same_fulfilment(app, factory):
    b = make_basket(app, factory)
    staff = factory.staff()
    from flask_appbuilder.security.sqla.models import User

    from app.models import db

    with app.app_context():
        actor = db.session.get(User, staff.id)
        with pytest.raises(ValidationFailed):
            service.record_desk_payment(b.basket_id, "bitcoin", actor=actor)
        result = service.record_desk_payment(b.basket_id, "cheques_vacances", actor=actor)
    assert result.outcome == "confirmed"
    s = state(app, b.basket_id)
    assert s.status == "paid" and s.payments[0].provider == "desk" and s.payments[0].method == "cheques_vacances"
    assert [m.kind for m in s.mails] == ["payment_confirmation"]


def test_settle_before_expiry_releases_an_unpaid_sandbox_checkout(app, factory):
    b = make_basket(app, factory)
    result = call(app, service.start_checkout, b.household.id)
    from app.models import Basket, db

    with app.app_context():
        basket = db.session.get(Basket, b.basket_id)
        assert service.settle_before_expiry(basket) == "released"
        db.session.commit()
    s = state(app, b.basket_id)
    assert s.status == "open" and s.payments[0].status == "expired"
    # The test page can no longer be paid.
    token = s.payments[0].provider_ref
    with pytest.raises(Conflict):
        call(app, service.sandbox_complete, token, "pay")
    assert result.payment_id == s.payments[0].id


def test_abandon_checkout_makes_the_basket_editable_and_a_new_attempt_opens_a_new_page(app, factory):
    b = make_basket(app, factory)
    first = call(app, service.start_checkout, b.household.id)
    assert call(app, service.abandon_checkout, b.household.id) == "released"
    second = call(app, service.start_checkout, b.household.id)
    assert second.payment_id != first.payment_id and second.payment_url != first.payment_url
    s = state(app, b.basket_id)
    assert [(p.attempt, p.status) for p in s.payments] == [(1, "expired"), (2, "pending")]


def test_sandbox_refusal_ends_the_attempt(app, factory):
    b = make_basket(app, factory)
    result = call(app, service.start_checkout, b.household.id)
    token = state(app, b.basket_id).payments[0].provider_ref
    call(app, service.sandbox_complete, token, "refuse")
    s = state(app, b.basket_id)
    assert s.status == "open" and s.payments[0].status == "failed" and s.lines == ["held"]
    assert result.payment_id == s.payments[0].id


def test_pending_refunds_are_retried_by_the_sweeper_hook(app, factory, monkeypatch):
    b = make_basket(app, factory)
    result = call(app, service.start_checkout, b.household.id)
    call(app, service.fulfil, result.payment_id, source="test")
    from app.services.payments import sandbox
    from app.services.payments.provider import ProviderUnavailable

    calls = []

    def down(self, **kwargs):
        calls.append(kwargs["idempotency_key"])
        raise ProviderUnavailable()

    monkeypatch.setattr(sandbox.SandboxProvider, "refund", down)
    staff = factory.staff()
    from flask_appbuilder.security.sqla.models import User

    from app.models import db

    with app.app_context():
        row = service.refund(result.payment_id, 4500, "Annulation", actor=db.session.get(User, staff.id))
        assert row.status == "pending"
    s = state(app, b.basket_id)
    assert s.payments[0].flagged and s.payments[0].refunded_cents == 0
    assert call(app, service.retry_pending_refunds) == 1  # still down: retried, reason not repeated
    assert state(app, b.basket_id).payments[0].flag_reason == s.payments[0].flag_reason
    monkeypatch.undo()
    assert call(app, service.retry_pending_refunds) == 1
    s = state(app, b.basket_id)
    assert s.refunds[0].status == "succeeded" and s.payments[0].status == "refunded"
    assert calls == [calls[0]] * 2  # every retry uses the refund row's one idempotency key
    assert s.refunds[0].provider_ref == f"sandbox_{calls[0]}"
