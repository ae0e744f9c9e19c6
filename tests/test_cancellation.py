"""Cancellations under the period's published rules and credits (avoirs) used at checkout
(issue 14): each rule and outcome, the checkout with credit (partial, full), a refused request,
the freed place offered to the waiting list, and the money invariant after each step."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.credit_helpers import (
    PARIS,
    add,
    after_deadline,
    assert_money_conserved,
    book_and_pay,
    checkout,
    money,
    pay,
    status,
    week_start,
)
from tests.support.db import call


@pytest.fixture
def family(app, factory):
    cat = factory.catalog(capacities=(10, 10, 1))
    fam = factory.household(last_name="Morel", children=[("Léa", 8)])
    staff = factory.staff()
    return cat, fam, staff


def _cancel(app, household_id, line_id, **kwargs):
    from app.services.payments.cancellations import cancel_by_parent

    return call(app, cancel_by_parent, household_id, line_id, **kwargs)


def _staff(app, staff_id, func, *args, **kwargs):
    with app.app_context():
        return func(*args, actor=app.appbuilder.sm.get_user_by_id(staff_id), **kwargs)


def test_the_quote_states_the_rule_before_the_deadline(app, family):
    from app.models import Reservation, db
    from app.services.booking.cancellation import day_fr, quote

    cat, fam, _staff_user = family
    line_id = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    last_free = week_start(app, cat.week_ids[0]).astimezone(PARIS).date() - timedelta(days=7)
    with app.app_context():
        answer = quote(db.session.get(Reservation, line_id))
        assert answer.outcome == "credit" and answer.amount_cents == 4500
        assert answer.message == (f"Annulation gratuite jusqu'au {day_fr(last_free)} : un avoir de 45,00\u00a0€ "
                                  "sera crédité sur votre compte.")
    assert day_fr(last_free.replace(day=1)).startswith("1er ")


def test_cancel_before_deadline_gives_a_numbered_credit_then_pays_part_of_the_next_basket(app, family):
    from sqlalchemy import select

    from app.models import CreditNote, MailLog, Payment, db

    cat, fam, _staff_user = family
    first = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    assert_money_conserved(app, fam.id)
    result = _cancel(app, fam.id, first)
    assert (result.outcome, result.amount_cents, result.credit_cents) == ("credit", 4500, 4500)
    assert status(app, first) == "cancelled"
    m = assert_money_conserved(app, fam.id)
    assert m["balance"] == m["available"] == 4500
    with app.app_context():
        note = db.session.execute(select(CreditNote)).scalar_one()
        assert note.number.startswith(f"AV-{note.created_at.year}-") and note.number.endswith("000001")
        assert note.household_id == fam.id and note.reservation_id == first
        mail = db.session.execute(select(MailLog).where(MailLog.kind == "reservation_cancelled")).scalar_one()
        assert "avoir de 45,00" in mail.body_text

    # Next basket: two weeks (90 €), the credit pays 45 €, the card the rest.
    add(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    add(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    result = checkout(app, fam.id)
    assert result.amount_cents == 4500 and result.payment_url
    m = money(app, fam.id)
    assert m["available"] == 0 and m["balance"] == 4500  # held by the pending payment, not yet spent
    assert pay(app, result) == "paid"
    m = assert_money_conserved(app, fam.id)
    assert m["balance"] == 0 and m["confirmed"] == 9000 and m["paid"] == 9000
    with app.app_context():
        payment = db.session.get(Payment, result.payment_id)
        assert payment.amount_cents == 4500 and not payment.flagged


def test_a_basket_fully_covered_by_credit_is_confirmed_without_card(app, family, factory):
    from app.services.payments import credits

    cat, fam, staff = family
    _staff(app, staff.id, credits.grant, fam.id, 5000, "Geste commercial")
    line = add(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    result = checkout(app, fam.id)
    assert result.payment_url is None and result.status == "confirmed"
    assert status(app, line) == "confirmed"
    m = assert_money_conserved(app, fam.id, granted=5000)
    assert m["balance"] == 500 and m["paid"] == 0
    # Idempotent: the same payment fulfilled again changes nothing.
    from app.services import payments

    assert call(app, payments.fulfil, result.payment_id, source="replay").outcome == "already"
    assert money(app, fam.id)["balance"] == 500


def test_a_refused_card_payment_gives_the_held_credit_back(app, family):
    from app.services.payments import credits

    cat, fam, staff = family
    _staff(app, staff.id, credits.grant, fam.id, 1000, "Correction")
    add(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    result = checkout(app, fam.id)
    assert result.amount_cents == 3500 and money(app, fam.id)["available"] == 0
    assert pay(app, result, "refuse") == "failed"
    assert money(app, fam.id)["available"] == 1000
    # The next attempt takes it again; paid, it is spent.
    result = checkout(app, fam.id)
    assert result.amount_cents == 3500
    pay(app, result)
    assert assert_money_conserved(app, fam.id, granted=1000)["balance"] == 0


def test_refund_rule_refunds_the_card(app, family):
    from app.services.booking.cancellation import set_rules
    from app.services.transactions import unit_of_work

    cat, fam, staff = family
    with app.app_context():
        with unit_of_work():
            set_rules(cat.period_id, free_days_before=7, late_with_justification=True, outcome="refund", actor=None)
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    result = _cancel(app, fam.id, line)
    assert (result.outcome, result.refund_cents, result.credit_cents) == ("refund", 4500, 0)
    m = assert_money_conserved(app, fam.id)
    assert m["refunded"] == 4500 and m["balance"] == 0


def test_after_deadline_a_justification_makes_a_request_staff_decide(app, family):
    from sqlalchemy import select

    from app.models import CancellationRequest, MailLog, db
    from app.services.payments.cancellations import decide_request

    cat, fam, staff = family
    first = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    late = after_deadline(app, cat.week_ids[0])
    refused = _cancel(app, fam.id, first, now=late)
    assert (refused.outcome, refused.code) == ("refused", "justification_required")
    pending = _cancel(app, fam.id, first, now=late, reason="Varicelle, certificat médical au guichet")
    assert pending.outcome == "pending_review" and pending.amount_cents == 4500
    assert status(app, first) == "confirmed"
    again = _cancel(app, fam.id, first, now=late, reason="encore")
    assert again.code == "request_pending"

    # Refused: a reason is required, then mailed; the week stays confirmed.
    from app.services.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        _staff(app, staff.id, decide_request, pending.request_id, accept=False)
    answer = _staff(app, staff.id, decide_request, pending.request_id, accept=False, note="Certificat illisible")
    assert answer.outcome == "refused" and status(app, first) == "confirmed"
    with app.app_context():
        mail = db.session.execute(select(MailLog).where(MailLog.kind == "cancellation_refused")).scalar_one()
        assert "Certificat illisible" in mail.body_text
    assert_money_conserved(app, fam.id)

    # A new request, accepted: the rule's outcome (credit).
    second = _cancel(app, fam.id, first, now=late, reason="Nouveau certificat")
    accepted = _staff(app, staff.id, decide_request, second.request_id, accept=True)
    assert (accepted.outcome, accepted.credit_cents) == ("credit", 4500)
    assert status(app, first) == "cancelled"
    assert assert_money_conserved(app, fam.id)["balance"] == 4500
    with app.app_context():
        statuses = sorted(r.status for r in db.session.execute(select(CancellationRequest)).scalars())
        assert statuses == ["accepted", "refused"]


def test_no_cancellation_once_the_week_started_and_none_late_when_the_rules_say_so(app, family):
    from app.services.booking.cancellation import set_rules
    from app.services.transactions import unit_of_work

    cat, fam, _ = family
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    started = _cancel(app, fam.id, line, now=week_start(app, cat.week_ids[0]) + timedelta(hours=1), reason="x")
    assert (started.outcome, started.code) == ("refused", "week_started")
    with app.app_context():
        with unit_of_work():
            set_rules(cat.period_id, free_days_before=10, late_with_justification=False, outcome="credit", actor=None)
    late = _cancel(app, fam.id, line, now=week_start(app, cat.week_ids[0]) - timedelta(days=5), reason="x")
    assert (late.outcome, late.code) == ("refused", "deadline_passed")
    assert status(app, line) == "confirmed"


def test_the_other_household_of_a_shared_child_cannot_cancel_and_the_credit_goes_to_the_payer(app, family, factory):
    from app.services.errors import NotFound

    cat, fam, _ = family
    other = factory.household(last_name="Durand", children=[])
    factory.link_child(other.id, fam.child_ids[0])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    with pytest.raises(NotFound):
        _cancel(app, other.id, line)
    _cancel(app, fam.id, line)
    assert money(app, fam.id)["balance"] == 4500 and money(app, other.id)["balance"] == 0


def test_the_freed_place_is_offered_to_the_waiting_list_at_once(app, family, factory):
    from sqlalchemy import select

    from app.models import WaitlistEntry, db
    from app.services.booking import waitlist

    cat, fam, _ = family
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[2])  # the week of one place
    waiting = factory.household(last_name="Petit", children=[("Tom", 8)])
    call(app, waitlist.join, waiting.id, waiting.child_ids[0], cat.week_ids[2], {"mode": "onsite"})
    _cancel(app, fam.id, line)
    with app.app_context():
        entry = db.session.execute(select(WaitlistEntry)).scalar_one()
        assert entry.status == "offered"


@pytest.mark.parametrize("by", ["parent", "staff"])
def test_cancelling_a_bus_week_offers_the_freed_seat_to_the_entry_waiting_for_it(app, factory, by):
    """The week still has places but its bus is full: an entry waits for a seat on that circuit.
    Cancelling a BUS week (by the family, or staff on its behalf) offers the seat at once, held
    on the bus at the waiting child's own stop."""
    from sqlalchemy import func, select

    from app.models import Reservation, WaitlistEntry, WaitlistOffer, db, utcnow
    from app.services.booking import waitlist
    from app.services.booking.capacity import live_condition
    from app.services.payments.cancellations import cancel_for_family

    cat = factory.catalog(capacities=(5,), seats=1)
    rider = factory.household(last_name="Bus", children=[("Léa", 8)])
    line = book_and_pay(app, rider.id, rider.child_ids[0], cat.week_ids[0], stop_id=cat.stop_ids[0])
    waiting = factory.household(last_name="Petit", children=[("Tom", 8)])
    joined = call(app, waitlist.join, waiting.id, waiting.child_ids[0], cat.week_ids[0],
                  {"mode": "bus", "stop_id": cat.stop_ids[2]})
    assert joined["status"] == "waiting" and joined["position"] == 1

    def on_the_bus():
        with app.app_context():
            return db.session.execute(select(Reservation.household_id).where(
                Reservation.week_id == cat.week_ids[0], Reservation.circuit_id == cat.circuit_id,
                live_condition(utcnow()))).scalars().all()

    assert on_the_bus() == [rider.id]
    if by == "parent":
        assert _cancel(app, rider.id, line).outcome == "credit"
    else:
        staff = factory.staff()
        _staff(app, staff.id, cancel_for_family, line, outcome="refund", reason="Déménagement")
    with app.app_context():
        entry = db.session.execute(select(WaitlistEntry)).scalar_one()
        assert entry.status == "offered"
        offer = db.session.execute(select(WaitlistOffer).where(WaitlistOffer.entry_id == entry.id)).scalar_one()
        held = db.session.get(Reservation, offer.reservation_id)
        assert (held.status, held.transport_mode, held.stop_id) == ("held", "bus", cat.stop_ids[2])
        assert db.session.execute(select(func.count()).select_from(Reservation).where(
            Reservation.week_id == cat.week_ids[0], live_condition(utcnow()))).scalar() == 1
    assert on_the_bus() == [waiting.id]  # the seat moved, never two on one seat
    assert_money_conserved(app, rider.id)


def test_staff_cancel_on_behalf_grant_withdraw_and_refund_the_balance(app, family):
    from sqlalchemy import select

    from app.models import AuditLog, db
    from app.services.errors import ValidationFailed
    from app.services.payments import credits
    from app.services.payments.cancellations import cancel_for_family

    cat, fam, staff = family
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    result = _staff(app, staff.id, cancel_for_family, line, outcome="credit", reason="Déménagement")
    assert result.credit_cents == 4500
    _staff(app, staff.id, credits.grant, fam.id, 500, "Bus en retard")
    _staff(app, staff.id, credits.withdraw, fam.id, 300, "Erreur de saisie")
    with pytest.raises(ValidationFailed):
        _staff(app, staff.id, credits.withdraw, fam.id, 999999, "Trop")
    _staff(app, staff.id, credits.refund_to_card, fam.id, 2000, "Demande de la famille")
    _staff(app, staff.id, credits.refund_by_regie, fam.id, 1000, "Virement du 3 mars")
    m = assert_money_conserved(app, fam.id, granted=500, withdrawn=300)
    assert m["balance"] == 4500 + 500 - 300 - 2000 - 1000 and m["refunded"] == 2000 and m["regie"] == 1000
    with app.app_context():
        actions = set(db.session.execute(select(AuditLog.action)).scalars())
        assert {"credit_note.issued", "credit.withdrawal", "credit.refund_card", "credit.refund_regie"} <= actions
        account = credits.account(fam.id)
        assert account["credit_cents"] == 1700 and len(account["credits"]) == 5


def test_credit_note_numbers_are_gapless(app, family):
    from sqlalchemy import select

    from app.models import CreditNote, db
    from app.services.payments import credits

    cat, fam, staff = family
    for amount in (100, 200, 300):
        _staff(app, staff.id, credits.grant, fam.id, amount, "Test")
    with pytest.raises(Exception):
        _staff(app, staff.id, credits.grant, fam.id, -5, "Refusé")
    with app.app_context():
        numbers = [n.sequence for n in db.session.execute(select(CreditNote).order_by(CreditNote.id)).scalars()]
    assert numbers == [1, 2, 3]
