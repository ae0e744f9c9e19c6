"""The admission gate (booking.admission): a week found full by the locked check is refused from
Redis — the same French reason, no lock, no count — and never a moment longer than it is full.
PostgreSQL (the gate sits on the one-round-trip hold); Redis is the app's (real in CI, else embedded).
Seeded interleavings with the gate in play: tests/test_fast_hold_pg.py."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests import credit_helpers as money
from tests.booking_helpers import count_queries

pytestmark = pytest.mark.postgres


def _add(app, family, week_id, child=0, now=None):
    from app.services.booking import basket
    from app.services.errors import ServiceError

    with app.app_context():
        try:
            return basket.add_line_summary(family.id, family.child_ids[child], week_id, {"mode": "onsite"}, now=now)
        except ServiceError as exc:
            return exc.code, exc.message


def _mark(app, week_id):
    from app.services import tasks

    with app.app_context():
        connection = tasks.state().connection
        return ({k.decode(): v.decode() for k, v in connection.hgetall(f"pf:adm:{week_id}").items()},
                connection.pttl(f"pf:adm:{week_id}"))


def _full_week(pg_app, pg_factory, capacity=2):
    catalog = pg_factory.catalog(capacities=(capacity, 5))
    holders = [pg_factory.household() for _ in range(capacity)]
    for family in holders:
        assert "line" in _add(pg_app, family, catalog.week_ids[0])
    return catalog, holders


def test_a_full_week_is_refused_from_redis_with_the_locked_checks_words(pg_app, pg_factory):
    catalog, holders = _full_week(pg_app, pg_factory)
    first, second = pg_factory.household(), pg_factory.household()
    assert _mark(pg_app, catalog.week_ids[0])[0] == {}
    locked = _add(pg_app, first, catalog.week_ids[0])  # the locked check says « complet », the gate remembers
    assert locked[0] == "full"
    mark, ttl = _mark(pg_app, catalog.week_ids[0])
    assert mark["full"] == "1" and {f"c:{f.child_ids[0]}" for f in holders} <= set(mark)
    assert 0 < ttl <= 30_000
    with count_queries(pg_app) as statements:
        gated = _add(pg_app, second, catalog.week_ids[0])
    assert gated == locked
    assert not any("pf_hold" in s or "FOR UPDATE" in s for s in statements), statements
    # The other week is not concerned.
    assert "line" in _add(pg_app, second, catalog.week_ids[1])


def test_the_childs_own_line_is_told_from_the_mark(pg_app, pg_factory):
    catalog, holders = _full_week(pg_app, pg_factory)
    assert _add(pg_app, pg_factory.household(), catalog.week_ids[0])[0] == "full"
    in_basket = _add(pg_app, holders[0], catalog.week_ids[0])
    assert in_basket == ("already_in_basket", "Cette semaine est déjà dans votre panier.")
    money.pay(pg_app, money.checkout(pg_app, holders[1].id))  # paid: the mark follows, « déjà inscrit »
    assert _mark(pg_app, catalog.week_ids[0])[0][f"c:{holders[1].child_ids[0]}"] == f"confirmed:{holders[1].id}"
    assert _add(pg_app, holders[1], catalog.week_ids[0]) == (
        "already_booked", "Votre enfant est déjà inscrit pour cette semaine.")


def test_a_place_given_back_ends_the_mark_at_once(pg_app, pg_factory):
    from app.models import Week, db
    from app.services.booking import basket

    catalog, holders = _full_week(pg_app, pg_factory)
    late = pg_factory.household()
    assert _add(pg_app, late, catalog.week_ids[0])[0] == "full"
    with pg_app.app_context():
        line_id = basket.basket_summary(holders[0].id)["lines"][0]["id"]
        basket.remove_line(holders[0].id, line_id)
    assert _mark(pg_app, catalog.week_ids[0])[0] == {}
    assert "line" in _add(pg_app, late, catalog.week_ids[0])

    assert _add(pg_app, pg_factory.household(), catalog.week_ids[0])[0] == "full"  # full again: marked
    assert _mark(pg_app, catalog.week_ids[0])[0]
    with pg_app.app_context():  # staff add a place
        db.session.get(Week, catalog.week_ids[0]).capacity = 3
        db.session.commit()
    assert _mark(pg_app, catalog.week_ids[0])[0] == {}
    assert "line" in _add(pg_app, pg_factory.household(), catalog.week_ids[0])

    assert _add(pg_app, pg_factory.household(), catalog.week_ids[0])[0] == "full"  # full again: marked
    assert _mark(pg_app, catalog.week_ids[0])[0]
    with pg_app.app_context():  # a line deleted through the ORM (staff clean-up) gives its place back too
        from app.models import Reservation
        line = db.session.get(Reservation, basket.basket_summary(holders[1].id)["lines"][0]["id"])
        db.session.delete(line)
        db.session.commit()
    assert _mark(pg_app, catalog.week_ids[0])[0] == {}


def test_the_mark_ends_when_the_first_hold_lapses(pg_app, pg_factory):
    from app.models import utcnow

    catalog = pg_factory.catalog(capacities=(1,))
    holder = pg_factory.household()
    hold = timedelta(minutes=pg_app.config["BASKET_HOLD_MINUTES"])
    assert "line" in _add(pg_app, holder, catalog.week_ids[0], now=utcnow() - hold + timedelta(seconds=3))
    assert _add(pg_app, pg_factory.household(), catalog.week_ids[0])[0] == "full"
    _mark_fields, ttl = _mark(pg_app, catalog.week_ids[0])
    assert 0 < ttl <= 3_000  # the hold lapses in under 3 s: the mark goes with it


def test_a_mark_read_before_a_place_came_back_is_not_written(pg_app, pg_factory, monkeypatch):
    from app.models import utcnow
    from app.services.booking import admission

    catalog, _holders = _full_week(pg_app, pg_factory)
    real_rollback = None

    def place_comes_back_meanwhile():
        admission.forget([catalog.week_ids[0]])  # another process's commit, between our read and our write
        real_rollback()

    with pg_app.app_context():
        from app.models import db
        real_rollback = db.session.rollback
        monkeypatch.setattr(db.session, "rollback", place_comes_back_meanwhile)
        assert admission.remember_full(catalog.week_ids[0], utcnow()) is False
    monkeypatch.undo()
    assert _mark(pg_app, catalog.week_ids[0])[0] == {}
    with pg_app.app_context():
        assert admission.remember_full(catalog.week_ids[0], utcnow()) is True


def test_without_redis_the_locked_check_decides(pg_app, pg_factory, monkeypatch):
    from app.services import tasks

    catalog, _holders = _full_week(pg_app, pg_factory)

    class Down:
        def __getattr__(self, name):
            raise ConnectionError("redis down")

    with pg_app.app_context():
        monkeypatch.setattr(tasks.state(), "connection", Down())
    assert _add(pg_app, pg_factory.household(), catalog.week_ids[0])[0] == "full"


def test_the_person_lock_reads_the_household_as_it_stands(pg_app, pg_factory):
    """A household already in the session (the API loads it to scope the request) is read again under
    its lock: a file sent back as incomplete meanwhile is refused, not booked on the old status."""
    from sqlalchemy import text

    from app.models import Household, db
    from app.services.booking import basket
    from app.services.errors import ServiceError

    catalog = pg_factory.catalog(capacities=(5,))
    family = pg_factory.household()
    with pg_app.app_context():
        assert db.session.get(Household, family.id).status == "validated"
        with db.engine.connect() as other:  # staff, in another transaction
            other.execute(text("UPDATE household SET status = 'incomplete' WHERE id = :id"), {"id": family.id})
            other.commit()
        with pytest.raises(ServiceError) as refused:
            basket.add_line(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
        assert refused.value.code == "household_not_validated"
