"""PostgreSQL races of issue 14, with real threads and real row locks: a parent and staff cancelling
the same week at once (one wins, the money is counted once), and two takers of the same credit at
once (two checkouts of one basket; a checkout and staff withdrawing the balance): never spent twice,
and the money invariant (DESIGN.md §3.9) holds afterwards."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

from tests.credit_helpers import add, assert_money_conserved, book_and_pay, money, pay, status
from tests.support.db import race

ROUNDS = 4


def _actor(app, user_id):
    return app.appbuilder.sm.get_user_by_id(user_id)


def test_a_parent_and_staff_cancelling_the_same_week_at_once(pg_app, pg_factory):
    from sqlalchemy import func, select

    from app.models import Refund, db
    from app.services.payments.cancellations import cancel_by_parent, cancel_for_family

    cat = pg_factory.catalog(capacities=(10,) * ROUNDS)
    fam = pg_factory.household(last_name="Course", children=[("Léa", 8)])
    staff = pg_factory.staff()
    lines = [book_and_pay(pg_app, fam.id, fam.child_ids[0], week_id) for week_id in cat.week_ids]
    assert_money_conserved(pg_app, fam.id)

    for round_no, line in enumerate(lines):
        outcome = "refund" if round_no % 2 else "credit"  # staff's choice differs from the rule's credit

        def parent(line=line):
            return ("parent", cancel_by_parent(fam.id, line, actor=None).outcome)

        def desk(line=line, outcome=outcome):
            return ("staff", cancel_for_family(line, outcome=outcome, reason="Appel de la famille",
                                               actor=_actor(pg_app, staff.id)).outcome)

        before = money(pg_app, fam.id)
        results = race(pg_app, parent, desk)
        winners = [r for r in results if r in (("parent", "credit"), ("staff", "credit"), ("staff", "refund"))]
        losers = [r for r in results if r not in winners]
        assert len(winners) == 1, results
        # The loser found the week already cancelled: a refusal (parent) or a conflict (staff), nothing done.
        assert losers in ([("parent", "refused")], ["not_confirmed"], ["busy"]), results
        assert status(pg_app, line) == "cancelled"
        after = money(pg_app, fam.id)
        # The week's price goes back once: as credit, or to the card (a refund's credit note is settled at once).
        assert (after["refunded"] - before["refunded"]) + (after["balance"] - before["balance"]) == 4500, results
        with pg_app.app_context():
            assert db.session.execute(select(func.count()).select_from(Refund)
                                      .where(Refund.reservation_id == line)).scalar_one() <= 1
        assert_money_conserved(pg_app, fam.id)


def test_two_checkouts_of_a_basket_covered_by_credit_spend_it_once(pg_app, pg_factory):
    from sqlalchemy import select

    from app.models import CreditUse, Payment, db
    from app.services import payments
    from app.services.payments import credits

    cat = pg_factory.catalog(capacities=(10,) * ROUNDS)
    fam = pg_factory.household(last_name="Double", children=[("Léa", 8)])
    staff = pg_factory.staff()
    with pg_app.app_context():
        credits.grant(fam.id, 4500 * ROUNDS, "Geste commercial", actor=_actor(pg_app, staff.id))
    for week_id in cat.week_ids:
        line = add(pg_app, fam.id, fam.child_ids[0], week_id)

        def checkout():
            return payments.start_checkout(fam.id).status

        results = race(pg_app, checkout, checkout)
        assert "confirmed" in results, results  # the other found the basket confirmed (or busy)
        assert status(pg_app, line) == "confirmed"
    m = assert_money_conserved(pg_app, fam.id, granted=4500 * ROUNDS)
    assert m["balance"] == m["available"] == 0 and m["paid"] == 0
    with pg_app.app_context():
        uses = db.session.execute(select(CreditUse).where(CreditUse.household_id == fam.id)).scalars().all()
        assert sorted(u.amount_cents for u in uses) == [4500] * ROUNDS and all(u.applied for u in uses)
        assert db.session.query(Payment).filter_by(household_id=fam.id).count() == ROUNDS


def test_a_checkout_and_staff_withdrawing_the_balance_at_once_never_spend_it_twice(pg_app, pg_factory):
    from sqlalchemy import select

    from app.models import Payment, db
    from app.services import payments
    from app.services.payments import credits

    cat = pg_factory.catalog(capacities=(10,) * ROUNDS)
    fam = pg_factory.household(last_name="Retrait", children=[("Léa", 8)])
    staff = pg_factory.staff()
    granted = withdrawn = 0
    for week_id in cat.week_ids:
        with pg_app.app_context():
            credits.grant(fam.id, 3000, "Avoir à dépenser", actor=_actor(pg_app, staff.id))
        granted += 3000
        add(pg_app, fam.id, fam.child_ids[0], week_id)

        def checkout():
            return ("checkout", payments.start_checkout(fam.id).amount_cents)

        def withdraw():
            credits.withdraw(fam.id, 3000, "Erreur de saisie", actor=_actor(pg_app, staff.id))
            return ("withdraw", 3000)

        results = race(pg_app, checkout, withdraw)
        card = next(r[1] for r in results if isinstance(r, tuple) and r[0] == "checkout")
        took_back = ("withdraw", 3000) in results
        withdrawn += 3000 if took_back else 0
        # Either the checkout took the credit (card pays 15 €, withdrawal refused) or staff did (card pays 45 €).
        assert (card, took_back) in ((1500, False), (4500, True)), results
        if not took_back:
            assert "amount_too_high" in results, results
        m = money(pg_app, fam.id)
        assert m["available"] >= 0, m
        with pg_app.app_context():
            payment_id = db.session.execute(select(Payment.id).where(Payment.household_id == fam.id)
                                            .order_by(Payment.id.desc()).limit(1)).scalar_one()
        pay(pg_app, SimpleNamespace(payment_url="page", payment_id=payment_id))
    m = assert_money_conserved(pg_app, fam.id, granted=granted, withdrawn=withdrawn)
    assert m["balance"] == m["available"] == 0


def _paused(monkeypatch, module, name):
    """Wrap module.name so that the first call pauses, inside its transaction, until released."""
    original = getattr(module, name)
    reached, release = threading.Event(), threading.Event()
    calls = []

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            reached.set()
            release.wait(10)
        return result

    monkeypatch.setattr(module, name, wrapper)
    return reached, release


def _first_paused_then(app, first, second, reached, release):
    """`first` runs until its pause (its locks held, nothing committed); then `second` starts and is
    given time to overtake it; then `first` is released. Returns (first's, second's) results."""
    from app.models import db
    from app.services.errors import ServiceError

    def run(job):
        with app.app_context():
            try:
                return job()
            except ServiceError as exc:
                return exc.code
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=2) as pool:
        one = pool.submit(run, first)
        assert reached.wait(10)
        two = pool.submit(run, second)
        threading.Event().wait(0.5)  # without the row locks, `second` would be done by now
        release.set()
        return one.result(20), two.result(20)


def test_staff_cancelling_while_the_parent_cancellation_is_under_way_waits_and_finds_it_done(
        pg_app, pg_factory, monkeypatch):
    from sqlalchemy import select

    from app.models import CreditNote, Refund, db
    from app.services.payments import cancellations

    cat = pg_factory.catalog(capacities=(10,))
    fam = pg_factory.household(last_name="Pause", children=[("Léa", 8)])
    staff = pg_factory.staff()
    line = book_and_pay(pg_app, fam.id, fam.child_ids[0], cat.week_ids[0])
    reached, release = _paused(monkeypatch, cancellations, "offer_freed_places")

    first, second = _first_paused_then(
        pg_app, lambda: cancellations.cancel_by_parent(fam.id, line).outcome,
        lambda: cancellations.cancel_for_family(line, outcome="refund", reason="Appel",
                                                actor=_actor(pg_app, staff.id)).outcome,
        reached, release)
    assert (first, second) == ("credit", "not_confirmed")
    with pg_app.app_context():
        assert [n.amount_cents for n in db.session.execute(select(CreditNote)).scalars()] == [4500]
        assert db.session.execute(select(Refund)).first() is None
    assert assert_money_conserved(pg_app, fam.id)["balance"] == 4500


def test_a_withdrawal_while_a_checkout_holds_the_credit_waits_and_finds_nothing_left(pg_app, pg_factory, monkeypatch):
    from app.services import payments
    from app.services.payments import credits

    cat = pg_factory.catalog(capacities=(10,))
    fam = pg_factory.household(last_name="Tenu", children=[("Léa", 8)])
    staff = pg_factory.staff()
    with pg_app.app_context():
        credits.grant(fam.id, 3000, "Avoir", actor=_actor(pg_app, staff.id))
    add(pg_app, fam.id, fam.child_ids[0], cat.week_ids[0])
    reached, release = _paused(monkeypatch, credits, "reserve_for_checkout")

    first, second = _first_paused_then(
        pg_app, lambda: payments.start_checkout(fam.id).amount_cents,
        lambda: credits.withdraw(fam.id, 3000, "Erreur", actor=_actor(pg_app, staff.id)).amount_cents,
        reached, release)
    assert (first, second) == (1500, "amount_too_high")
    m = money(pg_app, fam.id)
    assert m["available"] == 0 and m["balance"] == 3000  # held by the pending payment, spent once
