"""The one-round-trip hold (pf_hold through booking.fast_hold) answers exactly what the ORM path does.

`eligibility.week_reason` is the reference: seeded random interleavings of adds (through the API's
add, so mostly the fast path itself), removes, lapsing holds, sweeps, payments, checkouts, capacity
edits and waiting-list joins; after each step, for two children, every week × (on site, a bus stop)
is tried both ways in the same state and rolled back — `fast_hold.try_add` (with the admission
gate's marks written by the refusals « complet » of the adds) and the ORM path
`basket._add_line` (which calls `eligibility.check_week`) — and the answers must be the same: the
same reason (code, French message, details), or both a hold with the same line. The fast path may
hand a case back (`None`: the ORM path then runs), never answer differently.
"""
from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, text

pytestmark = pytest.mark.postgres

SEEDS = (21, 2026)
STEPS = 45


def _answer(app, fast: bool, household_id, child_id, week_id, transport, now):
    """What one way answers in the current state (then rolled back): ("held", line) or (code, message, details)."""
    from app.models import db
    from app.services.booking import basket, fast_hold
    from app.services.booking.stops import parse_transport
    from app.services.errors import ServiceError

    mode, stop_id = parse_transport(transport)
    with app.app_context():
        try:
            if fast:
                held = fast_hold.try_add(household_id, child_id, week_id, mode, stop_id, None, now)
                if held is None:
                    return ("fallback",)
                line, household, _total = held
                item = basket._line_dict(line, household)
            else:
                described: dict = {}
                basket._add_line(household_id, child_id, week_id, mode, stop_id, None, False, now, describe=described)
                item = described["item"]
            return ("held", {k: v for k, v in item.items() if k not in ("id", "basket_id")})
        except ServiceError as exc:
            return (exc.code, exc.message, exc.details)
        finally:
            db.session.rollback()


def _compare(app, people, catalog, now, rng, seen):
    for family, child in rng.sample(people, 2):
        for week_id in catalog.week_ids:
            for transport in ({"mode": "onsite"}, {"mode": "bus", "stop_id": rng.choice(catalog.stop_ids)}):
                fast = _answer(app, True, family.id, child, week_id, transport, now)
                seen[fast[0]] += 1
                if fast[0] == "fallback":
                    continue
                orm = _answer(app, False, family.id, child, week_id, transport, now)
                assert fast == orm, (week_id, transport, fast, orm)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_fast_hold_answers_what_the_rule_answers(pg_app, pg_factory, seed, monkeypatch):
    from app.models import Basket, Reservation, Week, db, utcnow
    from app.services.booking import admission, basket, waitlist
    from app.services.errors import ServiceError
    from tests import credit_helpers as money

    gate_refusal = admission.refusal

    def counted(*args):  # the admission gate's answers are part of what is compared
        reason = gate_refusal(*args)
        seen["gate"] += reason is not None
        return reason

    monkeypatch.setattr(admission, "refusal", counted)

    rng = random.Random(seed)
    catalog = pg_factory.catalog(capacities=(1, 2, 3), seats=2)
    families = [pg_factory.household(children=[("Léa", 8), ("Tom", 6)]) for _ in range(3)] + \
        [pg_factory.household() for _ in range(2)]
    pg_factory.link_child(families[3].id, families[0].child_ids[0])  # a child of two households
    people = [(family, child) for family in families for child in family.child_ids]
    now = utcnow()
    seen: Counter = Counter()
    actions = ("add", "remove", "time", "sweep", "pay", "checkout", "capacity", "wait")
    for _step in range(STEPS):
        action = rng.choices(actions, (8, 2, 3, 1, 1, 1, 1, 1))[0]
        family, child = rng.choice(people)
        week_id = rng.choice(catalog.week_ids)
        transport = rng.choice([{"mode": "onsite"}, {"mode": "bus", "stop_id": rng.choice(catalog.stop_ids)}])
        try:
            with pg_app.app_context():
                if action == "add":
                    basket.add_line_summary(family.id, child, week_id, transport, now=now)
                elif action == "remove":
                    held = db.session.execute(select(Reservation.household_id, Reservation.id)
                                              .where(Reservation.status == "held")).all()
                    db.session.rollback()
                    if held:
                        basket.remove_line(*rng.choice(held), now=now)
                elif action == "time":  # holds lapse lazily: both ways must count them out at once
                    now += timedelta(minutes=rng.choice((1, 7, 16, 31, 61)))
                elif action == "sweep":
                    basket.expire_due_baskets(now)
                elif action == "capacity":
                    db.session.get(Week, week_id).capacity = rng.randint(1, 4)
                    db.session.commit()
                elif action == "wait":
                    waitlist.join(family.id, child, week_id, transport, now=now)
            if action in ("pay", "checkout"):
                with pg_app.app_context():
                    live = db.session.execute(select(Basket.id).where(
                        Basket.household_id == family.id, Basket.status == "open", Basket.expires_at > now)).first()
                    db.session.rollback()
                if live:  # the real checkout and payment (fulfilment confirms the lines through the ORM)
                    result = money.checkout(pg_app, family.id)
                    if action == "pay":
                        money.pay(pg_app, result)
        except ServiceError:
            pass
        _compare(pg_app, people, catalog, now, rng, seen)
    # Every kind of answer was met: holds, full weeks and buses, the child's own lines, a waiting
    # list or a lapsed basket handed back.
    assert seen["held"] > 20 and seen["full"] > 10 and seen["fallback"] > 0, seen
    assert seen["already_in_basket"] + seen["already_booked"] > 5 and seen["gate"] > 5, seen


def test_a_fast_hold_writes_what_the_orm_path_writes(pg_app, pg_factory):
    """The same basket, line, audit rows and expiry job: the rest of the portal cannot tell them apart."""
    from app.models import AuditLog, Basket, Reservation, db
    from app.services.booking import basket

    catalog = pg_factory.catalog()
    fast_family, orm_family = pg_factory.household(), pg_factory.household()
    bus = {"mode": "bus", "stop_id": catalog.stop_ids[1]}
    with pg_app.app_context():
        answer = basket.add_line_summary(fast_family.id, fast_family.child_ids[0], catalog.week_ids[0], bus)
        basket.add_line(orm_family.id, orm_family.child_ids[0], catalog.week_ids[0], bus)
        summaries = [basket.basket_summary(f.id) for f in (fast_family, orm_family)]
        assert answer["total_cents"] == summaries[0]["total_cents"] == 4500 + 500
        assert answer["line"] == summaries[0]["lines"][0]
        rows = {}
        for family in (fast_family, orm_family):
            line = db.session.execute(select(Reservation).where(Reservation.household_id == family.id)).scalar_one()
            cart = db.session.get(Basket, line.basket_id)
            audit = db.session.execute(select(AuditLog.action, AuditLog.entity).where(
                AuditLog.household_id == family.id).order_by(AuditLog.id)).all()
            rows[family.id] = (line.status, line.transport_mode, line.stop_id, line.circuit_id, line.price_cents,
                               line.bus_price_cents, line.hold_expires_at == cart.expires_at, cart.status,
                               cart.created_by_id, audit)
        assert rows[fast_family.id] == rows[orm_family.id]
        assert rows[fast_family.id][-1] == [("basket.opened", "basket"), ("reservation.held", "reservation")]
        sync = db.session.execute(text("SHOW synchronous_commit")).scalar()
        assert sync == "on"  # SET LOCAL in pf_hold ended with its transaction


def test_a_fast_hold_schedules_the_basket_expiry(pg_app, pg_factory, monkeypatch):
    from app.services.booking import basket, fast_hold

    scheduled = []
    monkeypatch.setattr(fast_hold, "schedule_expiry", lambda b: scheduled.append((b.id, b.expires_at)))
    catalog = pg_factory.catalog()
    family = pg_factory.household(children=[("Léa", 8), ("Tom", 6)])
    with pg_app.app_context():
        first = basket.add_line_summary(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
        basket.add_line_summary(family.id, family.child_ids[1], catalog.week_ids[0], {"mode": "onsite"})
    assert [(basket_id, at.isoformat()) for basket_id, at in scheduled] == [(first["basket_id"], first["expires_at"])]


def test_a_fast_hold_prices_each_week_with_the_qf_record_valid_at_its_start(pg_app, pg_factory):
    """The QF records are read with the person (one statement) and price the line as the ORM path
    does: a lapsed attestation means the top bracket for the weeks after it, a new one its own bracket."""
    from datetime import date

    from app.models import QuotientRecord, Week, db, utcnow
    from app.models.household_records import QuotientSource
    from app.services.booking.basket import add_line_summary

    catalog = pg_factory.catalog(capacities=(10, 10, 10))
    family = pg_factory.household(quotient=400)
    with pg_app.app_context():
        starts = [db.session.get(Week, w).starts_on for w in catalog.week_ids]
        db.session.add_all([
            QuotientRecord(household_id=family.id, value=400, source=QuotientSource.CAF, valid_from=date(2020, 1, 1),
                           valid_to=starts[1] - timedelta(days=1)),
            QuotientRecord(household_id=family.id, value=1200, source=QuotientSource.CAF, valid_from=starts[2])])
        db.session.commit()
    now = utcnow()
    prices = []
    for week_id in catalog.week_ids:
        fast = _answer(pg_app, True, family.id, family.child_ids[0], week_id, {"mode": "onsite"}, now)
        orm = _answer(pg_app, False, family.id, family.child_ids[0], week_id, {"mode": "onsite"}, now)
        assert fast == orm and fast[0] == "held", (fast, orm)
        prices.append(fast[1]["price_cents"])
    assert prices[0] < prices[1] and prices[2] != prices[1], prices  # 400, then none (top), then 1,200
    with pg_app.app_context():  # and through the API's entry, in its own transaction
        assert add_line_summary(family.id, family.child_ids[0], catalog.week_ids[1], {"mode": "onsite"}
                                )["line"]["price_cents"] == prices[1]


def test_a_payment_under_way_is_said_first_as_the_orm_path_does(pg_app, pg_factory):
    """A basket in checkout: « paiement en cours » before any other reason, even a week the admission
    gate knows full."""
    from app.models import utcnow
    from app.services.booking import basket
    from app.services.errors import ServiceError
    from tests import credit_helpers as money

    catalog = pg_factory.catalog(capacities=(1, 5))
    holder, late = pg_factory.household(), pg_factory.household()
    with pg_app.app_context():
        basket.add_line_summary(holder.id, holder.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
        basket.add_line_summary(late.id, late.child_ids[0], catalog.week_ids[1], {"mode": "onsite"})
    money.checkout(pg_app, late.id)
    with pg_app.app_context():  # a third family refused « complet »: the gate now knows the week full
        third = pg_factory.household()
        with pytest.raises(ServiceError, match="complète"):
            basket.add_line_summary(third.id, third.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
    now = utcnow()
    fast = _answer(pg_app, True, late.id, late.child_ids[0], catalog.week_ids[0], {"mode": "onsite"}, now)
    orm = _answer(pg_app, False, late.id, late.child_ids[0], catalog.week_ids[0], {"mode": "onsite"}, now)
    assert fast == orm and fast[0] == "basket_in_checkout", (fast, orm)


def test_a_bus_deleted_in_the_instant_of_a_hold_goes_back_to_the_orm_path(pg_app, pg_factory):
    """The snapshot still knows a circuit that a staff edit just deleted (its version read before the
    delete committed): the function hands the case back, and the ORM path says the stop is gone."""
    from app.models import db, utcnow

    catalog = pg_factory.catalog()
    family = pg_factory.household()
    bus = {"mode": "bus", "stop_id": catalog.stop_ids[0]}
    now = utcnow()
    assert _answer(pg_app, True, family.id, family.child_ids[0], catalog.week_ids[0], bus, now)[0] == "held"
    with pg_app.app_context():  # no ORM event: the catalogue version does not move, as in the race
        circuit_id = db.session.execute(text("SELECT circuit_id FROM stop WHERE id = :id"),
                                        {"id": catalog.stop_ids[0]}).scalar()
        db.session.execute(text("DELETE FROM stop WHERE circuit_id = :c"), {"c": circuit_id})
        db.session.execute(text("DELETE FROM circuit WHERE id = :c"), {"c": circuit_id})
        db.session.commit()
    assert _answer(pg_app, True, family.id, family.child_ids[0], catalog.week_ids[0], bus, now) == ("fallback",)
    assert _answer(pg_app, False, family.id, family.child_ids[0], catalog.week_ids[0], bus, now)[0] == "invalid_stop"
