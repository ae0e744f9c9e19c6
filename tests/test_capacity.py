"""The one capacity primitive (DESIGN §3.1, §3.3, §4): places left in a week and seats left on a bus,
the same answer and the same French message for every caller, lapsed holds never counted, the
caller's own lines excluded on demand, and the week rows locked in a stable order for writers."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.booking_helpers import add, confirm_basket, count_queries

ONSITE = {"mode": "onsite"}


def _bus(catalog, index=0):
    return {"mode": "bus", "stop_id": catalog.stop_ids[index]}


def _check(app, demands, *, now=None, lock=False, exclude=()):
    from app.models import db, utcnow
    from app.services.booking import capacity

    with app.app_context():
        try:
            return capacity.check_places(demands, now=now or utcnow(), lock=lock, exclude_reservation_ids=exclude)
        finally:
            db.session.rollback()


def test_a_week_with_a_place_left_fits_and_a_full_week_is_short_once(app, factory):
    from app.services.booking.capacity import WEEK_FULL, Demand

    catalog = factory.catalog(capacities=(2, 10))
    week, other_week = catalog.week_ids
    first = factory.household()
    add(app, first.id, first.child_ids[0], week)
    assert _check(app, [Demand(week)]) == []

    second = factory.household()
    add(app, second.id, second.child_ids[0], week)
    shortages = _check(app, [Demand(week), Demand(other_week)])
    assert [(s.week_id, s.circuit_id, s.code) for s in shortages] == [(week, None, WEEK_FULL)]
    assert shortages[0].message == "Cette semaine est complète : plus aucune place disponible."
    assert shortages[0].details == {}


def test_demands_on_one_week_add_up(app, factory):
    from app.services.booking.capacity import WEEK_FULL, Demand

    catalog = factory.catalog(capacities=(3,))
    week = catalog.week_ids[0]
    family = factory.household()
    add(app, family.id, family.child_ids[0], week)
    assert _check(app, [Demand(week), Demand(week)]) == []
    assert [s.code for s in _check(app, [Demand(week)] * 3)] == [WEEK_FULL]


def test_a_full_bus_is_short_with_its_name_and_the_bus_bucket(app, factory):
    from app.services.booking.capacity import BUS_FULL, Demand

    catalog = factory.catalog(capacities=(10, 10), seats=1)
    week, other_week = catalog.week_ids
    family = factory.household()
    add(app, family.id, family.child_ids[0], week, _bus(catalog))
    assert _check(app, [Demand(week)]) == []  # on site: the week has room
    assert _check(app, [Demand(other_week, catalog.circuit_id)]) == []  # the seat is per week
    shortages = _check(app, [Demand(week, catalog.circuit_id)])
    assert [(s.week_id, s.circuit_id, s.code) for s in shortages] == [(week, catalog.circuit_id, BUS_FULL)]
    assert shortages[0].message.startswith("Plus de place dans le bus « Circuit ")
    assert shortages[0].details == {"bucket": "bus"}


def test_a_full_week_and_a_full_bus_are_both_reported_week_first(app, factory):
    from app.services.booking.capacity import BUS_FULL, WEEK_FULL, Demand

    catalog = factory.catalog(capacities=(1,), seats=1)
    week = catalog.week_ids[0]
    family = factory.household()
    add(app, family.id, family.child_ids[0], week, _bus(catalog))
    assert [s.code for s in _check(app, [Demand(week, catalog.circuit_id)])] == [WEEK_FULL, BUS_FULL]


def test_the_callers_own_lines_are_excluded(app, factory):
    from app.services.booking.capacity import Demand

    catalog = factory.catalog(capacities=(1,), seats=1)
    week = catalog.week_ids[0]
    family = factory.household()
    line_id = add(app, family.id, family.child_ids[0], week, _bus(catalog))
    assert len(_check(app, [Demand(week, catalog.circuit_id)])) == 2
    assert _check(app, [Demand(week, catalog.circuit_id)], exclude=[line_id]) == []


def test_seat_only_asks_for_the_seat_and_not_the_week_place(app, factory):
    """A stop change on one's own line: the week's place is already the caller's."""
    from app.services.booking.capacity import BUS_FULL, WEEK_FULL, Demand

    onsite = factory.catalog(capacities=(1,), seats=1)
    family = factory.household()
    add(app, family.id, family.child_ids[0], onsite.week_ids[0])  # the week is full, the bus empty
    assert [s.code for s in _check(app, [Demand(onsite.week_ids[0], onsite.circuit_id)])] == [WEEK_FULL]
    assert _check(app, [Demand(onsite.week_ids[0], onsite.circuit_id, seat_only=True)]) == []

    by_bus = factory.catalog(capacities=(1,), seats=1)
    other = factory.household()
    add(app, other.id, other.child_ids[0], by_bus.week_ids[0], _bus(by_bus))  # week and bus full
    assert [s.code for s in _check(app, [Demand(by_bus.week_ids[0], by_bus.circuit_id, seat_only=True)])] == [
        BUS_FULL]


def test_lapsed_holds_do_not_count_but_live_and_confirmed_ones_do(app, factory):
    from app.models import utcnow
    from app.services.booking.capacity import WEEK_FULL, Demand

    catalog = factory.catalog(capacities=(2,))
    week = catalog.week_ids[0]
    paid = factory.household()
    add(app, paid.id, paid.child_ids[0], week)
    confirm_basket(app, paid.id)
    held = factory.household()
    add(app, held.id, held.child_ids[0], week)

    assert [s.code for s in _check(app, [Demand(week)])] == [WEEK_FULL]
    after_the_hold = utcnow() + timedelta(minutes=61)
    assert _check(app, [Demand(week)], now=after_the_hold) == []  # the held line lapsed, the paid one stays
    assert [s.code for s in _check(app, [Demand(week), Demand(week)], now=after_the_hold)] == [WEEK_FULL]


def test_take_places_raises_the_callers_error_and_passes_when_there_is_room(app, factory):
    from app.models import db, utcnow
    from app.services.booking import capacity
    from app.services.errors import Conflict

    catalog = factory.catalog(capacities=(1, 1), seats=1)
    week, other_week = catalog.week_ids
    family = factory.household()
    add(app, family.id, family.child_ids[0], week, _bus(catalog))
    with app.app_context():
        capacity.take_places([capacity.Demand(other_week, catalog.circuit_id)], now=utcnow())
        with pytest.raises(Conflict) as week_full:
            capacity.take_places([capacity.Demand(week)], now=utcnow())
        with pytest.raises(Conflict) as bus_full:
            capacity.take_places([capacity.Demand(week, catalog.circuit_id, seat_only=True)], now=utcnow())
        db.session.rollback()
    assert week_full.value.code == "full" and week_full.value.details == {}
    assert week_full.value.message == "Cette semaine est complète : plus aucune place disponible."
    assert bus_full.value.code == "full" and bus_full.value.details == {"bucket": "bus"}


def test_counting_is_one_statement_and_locking_one_more(app, factory):
    """Weeks and buses are counted in one grouped statement; the rows the caller holds are not re-read."""
    from app.models import Circuit, db, utcnow
    from app.services.booking.capacity import Demand, check_places

    catalog = factory.catalog(capacities=(10, 10, 10))
    demands = [Demand(week_id, catalog.circuit_id) for week_id in catalog.week_ids]
    with count_queries(app) as locked:  # (its own app context is gone before ours opens)
        with app.app_context():
            circuit = db.session.get(Circuit, catalog.circuit_id)  # the caller holds its rows
            locked.clear()
            assert check_places(demands, now=utcnow(), lock=True) == [] and circuit.seats == 5
            db.session.rollback()
    selects = [s for s in locked if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2, locked


@pytest.mark.postgres
def test_lock_true_holds_the_week_rows_until_commit(pg_app, pg_factory):
    """A second writer on the same week waits for the first one's commit; past its lock timeout it is
    Busy (« réessayez »), never a 500. A reader (lock=False) does not wait."""
    from app.models import db, utcnow
    from app.services.booking.capacity import Demand, check_places, take_places
    from app.services.errors import Busy

    catalog = pg_factory.catalog(capacities=(5, 5))
    week, other_week = catalog.week_ids
    holding, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def first_writer():
        with pg_app.app_context():
            try:
                take_places([Demand(week)], now=utcnow())
                holding.set()
                release.wait(timeout=30)
                db.session.rollback()
            finally:
                db.session.remove()

    thread = threading.Thread(target=first_writer)
    thread.start()
    try:
        assert holding.wait(timeout=30)
        with pg_app.app_context():
            db.session.execute(text("SET LOCAL lock_timeout = 300"))  # this transaction only
            assert check_places([Demand(week)], now=utcnow(), lock=False) == []  # readers never wait
            take_places([Demand(other_week)], now=utcnow())  # another week is another lock
            db.session.rollback()
            db.session.execute(text("SET LOCAL lock_timeout = 300"))  # this transaction only
            try:
                take_places([Demand(week)], now=utcnow())
            except Busy as exc:
                outcome["busy"] = exc
            db.session.rollback()
            db.session.remove()
    finally:
        release.set()
        thread.join(timeout=30)
    assert "busy" in outcome, "the second writer did not wait for the week lock"
    assert outcome["busy"].code == "busy" and "réessayez" in outcome["busy"].message
