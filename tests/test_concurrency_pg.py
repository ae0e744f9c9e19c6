"""No overbooking and no double booking under a rush, on PostgreSQL with real threads (DESIGN §3.1–3.2).

Every thread is a parent pressing "add to basket" at the same instant (a barrier releases them
together), each in its own app context, session and database connection.
"""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select, text

pytestmark = pytest.mark.postgres

RACERS = 50
# The two ways in: the ORM path (pages, desk) and the API's add, which holds in one round trip
# through pf_hold (app/services/booking/fast_hold.py). Every race runs through both.
ENTRIES = ("add_line", "add_line_summary")


def _race(app, attempts, entry="add_line"):
    """Run `entry` (basket.add_line or add_line_summary) for each (household_id, child_id, week_id, transport) at once; return outcomes."""
    from app.models import db
    from app.services.booking import basket
    from app.services.errors import ServiceError

    barrier = threading.Barrier(len(attempts))
    outcomes: list[str] = [""] * len(attempts)

    def run(index, household_id, child_id, week_id, transport):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                getattr(basket, entry)(household_id, child_id, week_id, transport)
                outcomes[index] = "ok"
            except ServiceError as exc:
                outcomes[index] = exc.code
            except Exception as exc:  # a crash is a failure of the test, not a silent pass
                outcomes[index] = f"crash:{exc.__class__.__name__}:{exc}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, *attempt)) for i, attempt in enumerate(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def _live_count(app, **filters):
    from app.models import Reservation, db, utcnow
    from app.services.booking.capacity import live_condition

    with app.app_context():
        query = select(func.count()).select_from(Reservation).where(live_condition(utcnow()))
        for name, value in filters.items():
            query = query.where(getattr(Reservation, name) == value)
        count = db.session.execute(query).scalar()
    return count


def _families(factory, n):
    return [factory.household() for _ in range(n)]


@pytest.mark.parametrize("entry", ENTRIES)
def test_fifty_parents_race_for_the_last_places_of_a_week(entry, pg_app, pg_factory):
    from tests.booking_helpers import add

    catalog = pg_factory.catalog(capacities=(8,), seats=100)
    early = _families(pg_factory, 5)
    for family in early:  # the week is already well booked: 3 places left
        add(pg_app, family.id, family.child_ids[0], catalog.week_ids[0])
    racers = _families(pg_factory, RACERS)
    outcomes = _race(pg_app, [(f.id, f.child_ids[0], catalog.week_ids[0], {"mode": "onsite"}) for f in racers], entry)
    assert Counter(outcomes) == {"ok": 3, "full": RACERS - 3}, Counter(outcomes)
    assert _live_count(pg_app, week_id=catalog.week_ids[0]) == 8


@pytest.mark.parametrize("entry", ENTRIES)
def test_fifty_parents_race_for_the_last_bus_seats(entry, pg_app, pg_factory):
    catalog = pg_factory.catalog(capacities=(200,), seats=4)
    racers = _families(pg_factory, RACERS)
    bus = {"mode": "bus", "stop_id": catalog.stop_ids[1]}
    outcomes = _race(pg_app, [(f.id, f.child_ids[0], catalog.week_ids[0], bus) for f in racers], entry)
    assert Counter(outcomes) == {"ok": 4, "full": RACERS - 4}, Counter(outcomes)
    assert _live_count(pg_app, week_id=catalog.week_ids[0], circuit_id=catalog.circuit_id) == 4


@pytest.mark.parametrize("entry", ENTRIES)
def test_both_households_of_a_child_race_for_the_same_week(entry, pg_app, pg_factory):
    """Separated parents, each in several tabs, press at the same time: one live line, never two."""
    catalog = pg_factory.catalog(capacities=(30, 30))
    mother = pg_factory.household()
    father = pg_factory.household()
    child = mother.child_ids[0]
    pg_factory.link_child(father.id, child)
    attempts = [(household, child, catalog.week_ids[0], {"mode": "onsite"})
                for household in (mother.id, father.id) for _ in range(10)]
    outcomes = _race(pg_app, attempts, entry)
    counts = Counter(outcomes)
    assert counts["ok"] == 1, counts
    assert set(counts) <= {"ok", "already_booked", "already_in_basket"}, counts
    assert _live_count(pg_app, week_id=catalog.week_ids[0], child_id=child) == 1


@pytest.mark.parametrize("entry", ENTRIES)
def test_same_household_racing_tabs_share_one_basket(entry, pg_app, pg_factory):
    """One household adding different weeks from several tabs at once: one basket, no busy error."""
    from app.models import Basket, db

    catalog = pg_factory.catalog(capacities=(10,) * 6)
    family = pg_factory.household(children=[("Léa", 8), ("Tom", 6)])
    attempts = [(family.id, child, week, {"mode": "onsite"}) for child in family.child_ids for week in catalog.week_ids]
    outcomes = _race(pg_app, attempts, entry)
    assert Counter(outcomes) == {"ok": len(attempts)}
    with pg_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Basket)).scalar() == 1


@pytest.mark.parametrize("entry", ENTRIES)
def test_a_lock_held_too_long_answers_busy_and_writes_nothing(entry, pg_app, pg_factory, pg_url, tmp_path_factory):
    from app import create_app
    from app.models import Basket, Reservation, db
    from app.services.booking import basket
    from app.services.errors import Busy
    from tests.support.apps import TEST_OVERRIDES

    catalog = pg_factory.catalog()
    family = pg_factory.household()
    impatient = create_app({**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": pg_url, "LOCK_TIMEOUT_SECONDS": 0.2,
                            "UPLOAD_DIR": str(tmp_path_factory.mktemp("up")), "REDIS_URL": None})
    with pg_app.app_context():
        blocker = db.engine.connect()
        transaction = blocker.begin()
        blocker.execute(text("SELECT id FROM week WHERE id = :id FOR UPDATE"), {"id": catalog.week_ids[0]})
    try:
        with impatient.app_context():
            with pytest.raises(Busy) as info:
                getattr(basket, entry)(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
            assert "réessayez" in info.value.message
    finally:
        transaction.rollback()
        blocker.close()
    with pg_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Reservation)).scalar() == 0
        assert db.session.execute(select(func.count()).select_from(Basket)).scalar() == 0
    with impatient.app_context():
        db.engine.dispose()
