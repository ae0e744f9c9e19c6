"""Issue 21's property: the fast path (offers, from the cached catalogue and an unlocked count) never
answers « disponible » for a full week. Seeded random interleavings of adds, removes, hold expiries
(lazy and swept), payments and capacity edits; after each step, for a few children, every week's
`available` is compared with the locked check that add_line runs (`eligibility.check_week` after
the week lock), and with the live count itself."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.booking_helpers import confirm_basket

SEEDS = (21, 2026, 8959)
STEPS = 70


def _live_counts(now, week_ids):
    from app.models import Reservation, db
    from app.services.booking.capacity import live_condition

    rows = db.session.execute(select(Reservation.week_id, func.count())
                              .where(Reservation.week_id.in_(week_ids), live_condition(now))
                              .group_by(Reservation.week_id)).all()
    return dict.fromkeys(week_ids, 0) | dict(rows)


def _locked_reason(household_id, child_id, week_id, now):
    """What add_line would answer for this week, under the same locks (then rolled back)."""
    from app.models import db
    from app.services.booking import eligibility
    from app.services.booking.capacity import lock_weeks

    try:
        household, link, child = eligibility.load_person(household_id, child_id, for_update=True)
        week = lock_weeks([week_id])[week_id]
        period = week.period
        return eligibility.check_week(household, link, child, week, period, period.establishment, now)
    finally:
        db.session.rollback()


def _check(app, family, child_id, catalog, now):
    from app.models import Week, db
    from app.services.booking import eligibility

    with app.app_context():
        data = eligibility.offers(family.id, child_id, now=now).as_dict()
        weeks = {w["id"]: w for e in data["establishments"] for p in e["periods"] for w in p["weeks"]}
        live = _live_counts(now, catalog.week_ids)
        capacity = dict(db.session.execute(select(Week.id, Week.capacity).where(Week.id.in_(catalog.week_ids))).all())
        db.session.rollback()
        seen = {"full": 0, "available": 0}
        for week_id in catalog.week_ids:
            offered = weeks[week_id]
            full = live[week_id] >= capacity[week_id]
            assert offered["capacity"] == capacity[week_id]
            assert offered["places_left"] == max(0, capacity[week_id] - live[week_id])
            if full:
                assert not offered["available"], (week_id, live[week_id], capacity[week_id])
            locked = _locked_reason(family.id, child_id, week_id, now)
            assert offered["available"] == (locked is None), (week_id, offered["reason"], locked)
            if locked is not None:
                assert offered["reason"]["code"] == locked.code
            seen["full"] += full
            seen["available"] += offered["available"]
    return seen


@pytest.mark.parametrize("seed", SEEDS)
def test_offers_never_say_available_for_a_full_week(app, factory, seed):
    from app.models import Basket, Reservation, Week, db, utcnow
    from app.services.booking import basket
    from app.services.errors import ServiceError

    rng = random.Random(seed)
    catalog = factory.catalog(capacities=(1, 2, 3), seats=2)
    families = [factory.household(children=[("Léa", 8), ("Tom", 6)]) for _ in range(3)] + \
        [factory.household() for _ in range(2)]
    people = [(family, child) for family in families for child in family.child_ids]
    now = utcnow()
    seen = {"full": 0, "available": 0}
    for _step in range(STEPS):
        action = rng.choices(("add", "remove", "time", "sweep", "pay", "capacity"), (8, 3, 3, 1, 1, 1))[0]
        if action == "add":
            family, child = rng.choice(people)
            transport = rng.choice([{"mode": "onsite"}, {"mode": "bus", "stop_id": rng.choice(catalog.stop_ids)}])
            with app.app_context():
                try:
                    basket.add_line(family.id, child, rng.choice(catalog.week_ids), transport, now=now)
                except ServiceError:
                    db.session.rollback()
        elif action == "remove":
            with app.app_context():
                held = db.session.execute(select(Reservation.household_id, Reservation.id)
                                          .where(Reservation.status == "held")).all()
                db.session.rollback()
                if held:
                    household_id, line_id = rng.choice(held)
                    try:
                        basket.remove_line(household_id, line_id, now=now)
                    except ServiceError:
                        db.session.rollback()
        elif action == "time":  # holds lapse lazily: offers and the locked check count them out at once
            now += timedelta(minutes=rng.choice((1, 7, 16, 31)))
        elif action == "sweep":
            with app.app_context():
                basket.expire_due_baskets(now)
        elif action == "pay":
            family = rng.choice(families)
            with app.app_context():
                open_basket = db.session.execute(select(Basket.id).where(
                    Basket.household_id == family.id, Basket.status == "open", Basket.expires_at > now)).first()
                db.session.rollback()
            if open_basket:
                confirm_basket(app, family.id)
        else:  # a staff edit of a week's capacity: the cached catalogue must follow at once
            with app.app_context():
                db.session.get(Week, rng.choice(catalog.week_ids)).capacity = rng.randint(1, 4)
                db.session.commit()
        for family, child in rng.sample(people, 2):
            for key, count in _check(app, family, child, catalog, now).items():
                seen[key] += count
    assert seen["full"] > 10 and seen["available"] > 10, seen  # both sides of the property were exercised
