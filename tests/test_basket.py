"""The basket service: holds, transport, reasons as conflicts, removal, stop changes, last guards."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.booking_helpers import add, confirm_basket, count_queries, count_rows, set_basket_status


def _error(app, fn, *args, **kwargs):
    from app.services.errors import ServiceError

    with app.app_context():
        with pytest.raises(ServiceError) as info:
            fn(*args, **kwargs)
        return info.value


def _add_error(app, *args, **kwargs):
    from app.services.booking import basket

    return _error(app, basket.add_line, *args, **kwargs)


# --- adding lines --------------------------------------------------------------------------

def test_first_line_opens_a_basket_holding_the_place_for_one_hour(app, factory):
    from app.models import AuditLog, Basket, Reservation, db, utcnow
    from app.services import tasks as job_queue

    catalog = factory.catalog()
    family = factory.household(quotient=650)
    before = utcnow()
    line_id = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    with app.app_context():
        line = db.session.get(Reservation, line_id)
        basket = db.session.get(Basket, line.basket_id)
        assert line.status == "held" and line.transport_mode == "onsite" and line.stop_id is None
        assert basket.status == "open" and basket.household_id == family.id
        assert timedelta(minutes=59) < basket.expires_at - before <= timedelta(minutes=60, seconds=5)
        assert line.hold_expires_at == basket.expires_at
        assert (line.price_cents, line.bus_price_cents) == (4500, 0)  # QF 650: first bracket
        actions = {a.action for a in db.session.query(AuditLog)}
        assert {"basket.opened", "reservation.held"} <= actions
        scheduled = job_queue.get_queue(app).scheduled_job_registry.get_job_ids()
        assert f"expire-basket-{basket.id}" in scheduled


def test_hold_is_not_extended_by_later_lines(app, factory):
    from app.models import Basket, Reservation, db, utcnow

    catalog = factory.catalog()
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    start = utcnow()
    first = add(app, family.id, family.child_ids[0], catalog.week_ids[0], now=start)
    second = add(app, family.id, family.child_ids[1], catalog.week_ids[1], now=start + timedelta(minutes=40))
    with app.app_context():
        a, b = db.session.get(Reservation, first), db.session.get(Reservation, second)
        assert a.basket_id == b.basket_id
        assert b.hold_expires_at == a.hold_expires_at == start + timedelta(minutes=60)
        assert db.session.query(Basket).count() == 1


def test_price_follows_the_qf_bracket_and_bus_price(app, factory):
    from app.models import Reservation, db

    catalog = factory.catalog(bus_price_cents=700)
    family = factory.household(quotient=900)
    line_id = add(app, family.id, family.child_ids[0], catalog.week_ids[0],
                  {"mode": "bus", "stop_id": catalog.stop_ids[2]})
    with app.app_context():
        line = db.session.get(Reservation, line_id)
        assert (line.price_cents, line.bus_price_cents) == (6000, 700)
        assert (line.circuit_id, line.stop_id) == (catalog.circuit_id, catalog.stop_ids[2])


@pytest.mark.parametrize("transport, code", [
    (None, "transport_required"),
    ({}, "transport_required"),
    ({"mode": "velo"}, "invalid_transport"),
    ({"mode": "bus"}, "stop_required"),
    ({"mode": "bus", "stop_id": "abc"}, "stop_required"),
    ({"mode": "bus", "stop_id": True}, "stop_required"),
])
def test_transport_is_mandatory_and_valid(app, factory, transport, code):
    from app.models import Reservation

    catalog = factory.catalog()
    family = factory.household()
    error = _add_error(app, family.id, family.child_ids[0], catalog.week_ids[0], transport)
    assert error.code == code and error.http_status == 400
    assert count_rows(app, Reservation) == 0


def test_stop_must_serve_the_week_period(app, factory):
    catalog = factory.catalog()
    elsewhere = factory.catalog()
    family = factory.household()
    error = _add_error(app, family.id, family.child_ids[0], catalog.week_ids[0],
                       {"mode": "bus", "stop_id": elsewhere.stop_ids[0]})
    assert error.code == "invalid_stop"
    assert "arrêt" in error.message


def test_unknown_week_and_foreign_child_are_not_found(app, factory):
    catalog = factory.catalog()
    family = factory.household()
    stranger = factory.household()
    assert _add_error(app, family.id, family.child_ids[0], 999999, {"mode": "onsite"}).code == "not_found"
    assert _add_error(app, family.id, stranger.child_ids[0], catalog.week_ids[0], {"mode": "onsite"}).http_status == 404


@pytest.mark.parametrize("setup, code", [
    ("household_not_validated", "household_not_validated"),
    ("child_not_validated", "child_not_validated"),
    ("age", "age"),
    ("not_open_yet", "not_open_yet"),
    ("closed", "closed"),
    ("full", "full"),
    ("already_booked", "already_booked"),
    ("already_in_basket", "already_in_basket"),
])
def test_every_reason_refuses_the_line(app, factory, setup, code):
    from app.models import Reservation

    options = {"age": dict(age_min=12, age_max=17), "not_open_yet": dict(opens_in=timedelta(days=1)),
               "closed": dict(opens_in=-timedelta(days=5), closes_in=-timedelta(minutes=1)),
               "full": dict(capacities=(1,))}.get(setup, {})
    catalog = factory.catalog(**options)
    family = factory.household(status="submitted" if setup == "household_not_validated" else "validated",
                               link_status="pending" if setup == "child_not_validated" else None)
    child, week = family.child_ids[0], catalog.week_ids[0]
    if setup == "full":
        other = factory.household()
        add(app, other.id, other.child_ids[0], week)
    if setup in ("already_booked", "already_in_basket"):
        add(app, family.id, child, week)
        if setup == "already_booked":
            confirm_basket(app, family.id)
    before = count_rows(app, Reservation)
    error = _add_error(app, family.id, child, week, {"mode": "onsite"})
    assert error.code == code and error.http_status == 409
    assert error.message
    assert count_rows(app, Reservation) == before


def test_bus_full_refuses_bus_but_not_onsite(app, factory):
    catalog = factory.catalog(capacities=(10,), seats=1)
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    add(app, family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    error = _add_error(app, family.id, family.child_ids[1], catalog.week_ids[0],
                       {"mode": "bus", "stop_id": catalog.stop_ids[1]})
    assert error.code == "full" and error.details == {"bucket": "bus"}
    assert "bus" in error.message
    assert add(app, family.id, family.child_ids[1], catalog.week_ids[0], {"mode": "onsite"})


def test_basket_in_checkout_accepts_no_new_line(app, factory):
    catalog = factory.catalog()
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    line_id = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    from app.models import Reservation, db

    with app.app_context():
        basket_id = db.session.get(Reservation, line_id).basket_id
    set_basket_status(app, basket_id, "checkout")
    error = _add_error(app, family.id, family.child_ids[1], catalog.week_ids[0], {"mode": "onsite"})
    assert error.code == "basket_in_checkout" and error.http_status == 409
    assert "paiement" in error.message


def test_a_lapsed_untidied_hold_does_not_block_the_child(app, factory):
    """The other household's hold lapsed, the job has not run: the line still says 'held' and the
    unique index covers it, yet the child can be booked at once."""
    from app.models import AuditLog, Reservation, db, utcnow

    catalog = factory.catalog(capacities=(1,))
    mother = factory.household()
    father = factory.household()
    child = mother.child_ids[0]
    factory.link_child(father.id, child)
    first = add(app, mother.id, child, catalog.week_ids[0])
    later = utcnow() + timedelta(minutes=61)
    second = add(app, father.id, child, catalog.week_ids[0], now=later)
    with app.app_context():
        assert db.session.get(Reservation, first).status == "expired"
        assert db.session.get(Reservation, second).status == "held"
        assert db.session.query(AuditLog).filter_by(action="reservation.expired", entity_id=first).count() == 1


def test_a_lapsed_own_basket_is_replaced_by_a_fresh_one(app, factory):
    from app.models import Basket, MailLog, Reservation, db, utcnow

    catalog = factory.catalog()
    family = factory.household()
    first = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    later = utcnow() + timedelta(minutes=90)
    second = add(app, family.id, family.child_ids[0], catalog.week_ids[0], now=later)
    with app.app_context():
        old, new = db.session.get(Reservation, first), db.session.get(Reservation, second)
        assert old.basket_id != new.basket_id
        assert db.session.get(Basket, old.basket_id).status == "expired"
        assert new.hold_expires_at == later + timedelta(minutes=60)
        assert db.session.query(MailLog).filter_by(kind="basket_expired").count() == 1


def test_desk_booking_skips_the_registration_window(app, factory):
    from app.models import Basket, Reservation, db

    catalog = factory.catalog(opens_in=timedelta(days=3))
    family = factory.household()
    agent = factory.staff()
    assert _add_error(app, family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"}).code == "not_open_yet"
    with app.app_context():
        staff_user = app.appbuilder.sm.get_user_by_id(agent.id)
        from app.services.booking import basket

        line = basket.add_line(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"},
                               actor=staff_user, desk=True)
        assert db.session.get(Basket, line.basket_id).created_by_id == agent.id
        assert db.session.query(Reservation).count() == 1


def test_the_unique_index_is_the_last_guard(app, factory, monkeypatch):
    """Even if the rule were fooled (a race the locks did not cover), the index refuses a second
    live line for the child × week, and the parent gets the same already_booked answer."""
    from app.models import Reservation
    from app.services.booking import eligibility

    catalog = factory.catalog()
    mother = factory.household()
    father = factory.household()
    child = mother.child_ids[0]
    factory.link_child(father.id, child)
    add(app, mother.id, child, catalog.week_ids[0])
    monkeypatch.setattr(eligibility, "child_lines", lambda *a, **k: {})
    error = _add_error(app, father.id, child, catalog.week_ids[0], {"mode": "onsite"})
    assert error.code == "already_booked" and error.http_status == 409
    assert count_rows(app, Reservation) == 1


def test_lock_timeout_is_busy_and_writes_nothing(app, factory, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from app.models import Basket, Reservation
    from app.services.booking import basket

    catalog = factory.catalog()
    family = factory.household()

    def locked(_ids):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    monkeypatch.setattr(basket, "lock_weeks", locked)
    error = _add_error(app, family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
    assert error.code == "busy" and error.http_status == 503
    assert "réessayez" in error.message
    assert count_rows(app, Reservation) == count_rows(app, Basket) == 0


def test_add_line_runs_few_queries_whatever_the_load(app, factory):
    catalog = factory.catalog(capacities=(50, 50, 50), seats=50)
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    with count_queries(app) as first:
        add(app, family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    for _ in range(8):
        other = factory.household()
        add(app, other.id, other.child_ids[0], catalog.week_ids[1], {"mode": "bus", "stop_id": catalog.stop_ids[1]})
    with count_queries(app) as later:
        add(app, family.id, family.child_ids[1], catalog.week_ids[1], {"mode": "bus", "stop_id": catalog.stop_ids[1]})
    # The first line also opens the basket (insert + audit); later lines cost no more.
    assert len(later) <= len(first) <= 20


# --- removing lines ------------------------------------------------------------------------

def test_remove_line_frees_the_place_and_closes_an_empty_basket(app, factory):
    from app.models import Basket, Reservation, db
    from app.services.booking import basket, eligibility

    catalog = factory.catalog(capacities=(1,))
    family = factory.household()
    other = factory.household()
    line_id = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    with app.app_context():
        basket.remove_line(family.id, line_id)
        line = db.session.get(Reservation, line_id)
        assert line.status == "removed" and line.ended_at is not None
        assert db.session.get(Basket, line.basket_id).status == "cancelled"
        assert basket.open_basket(family.id) is None
        assert eligibility.offers(other.id, other.child_ids[0]).establishments[0].periods[0].weeks[0].available
    assert add(app, other.id, other.child_ids[0], catalog.week_ids[0])


def test_remove_keeps_the_basket_when_lines_remain(app, factory):
    from app.models import Basket, Reservation, db
    from app.services.booking import basket

    catalog = factory.catalog()
    family = factory.household()
    first = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    add(app, family.id, family.child_ids[0], catalog.week_ids[1])
    with app.app_context():
        basket.remove_line(family.id, first)
        assert db.session.get(Basket, db.session.get(Reservation, first).basket_id).status == "open"
        assert len(basket.basket_summary(family.id)["lines"]) == 1


def test_remove_line_of_another_household_is_not_found(app, factory):
    from app.models import Reservation, db
    from app.services.booking import basket

    catalog = factory.catalog()
    family = factory.household()
    stranger = factory.household()
    line_id = add(app, stranger.id, stranger.child_ids[0], catalog.week_ids[0])
    assert _error(app, basket.remove_line, family.id, line_id).http_status == 404
    with app.app_context():
        assert db.session.get(Reservation, line_id).status == "held"


def test_remove_line_refused_during_checkout_and_after_removal(app, factory):
    from app.models import Reservation, db
    from app.services.booking import basket

    catalog = factory.catalog()
    family = factory.household()
    line_id = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    second = add(app, family.id, family.child_ids[0], catalog.week_ids[1])
    with app.app_context():
        basket_id = db.session.get(Reservation, line_id).basket_id
    set_basket_status(app, basket_id, "checkout")
    assert _error(app, basket.remove_line, family.id, line_id).code == "basket_in_checkout"
    set_basket_status(app, basket_id, "open")
    with app.app_context():
        basket.remove_line(family.id, line_id)
    assert _error(app, basket.remove_line, family.id, line_id).code == "not_in_basket"
    assert second


# --- reading -------------------------------------------------------------------------------

def test_basket_summary_lists_lines_with_transport_prices_and_total(app, factory):
    from app.services.booking import basket

    catalog = factory.catalog(bus_price_cents=500)
    family = factory.household(quotient=650)
    add(app, family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[1]})
    add(app, family.id, family.child_ids[0], catalog.week_ids[1])
    with app.app_context():
        summary = basket.basket_summary(family.id)
    assert summary["status"] == "open" and summary["expires_at"]
    bus, onsite = summary["lines"]
    assert bus["child"]["first_name"] == "Léa"
    assert bus["week"]["id"] == catalog.week_ids[0]
    assert bus["transport"]["mode"] == "bus"
    assert bus["transport"]["stop"]["id"] == catalog.stop_ids[1]
    assert (bus["transport"]["stop"]["pickup_time"], bus["transport"]["stop"]["dropoff_time"]) == ("08:30", "17:40")
    assert (bus["price_cents"], bus["bus_price_cents"], bus["total_cents"]) == (4500, 500, 5000)
    assert bus["bracket"] == "QF 0+"
    assert onsite["transport"] == {"mode": "onsite", "circuit": None, "stop": None}
    assert summary["total_cents"] == 9500


def test_open_basket_is_none_once_the_hold_lapsed(app, factory):
    from app.models import utcnow
    from app.services.booking import basket

    catalog = factory.catalog()
    family = factory.household()
    add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    with app.app_context():
        assert basket.open_basket(family.id) is not None
        later = utcnow() + timedelta(minutes=61)
        assert basket.open_basket(family.id, now=later) is None
        summary = basket.basket_summary(family.id, now=later)
        assert summary["lines"] == [] and summary["lapsed"]["lines"][0]["week"]["id"] == catalog.week_ids[0]


# --- stop changes --------------------------------------------------------------------------

def _confirmed_bus_line(app, factory, **catalog_options):
    catalog = factory.catalog(**catalog_options)
    family = factory.household()
    line_id = add(app, family.id, family.child_ids[0], catalog.week_ids[0],
                  {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    confirm_basket(app, family.id)
    return catalog, family, line_id


def test_parent_changes_the_stop_before_the_deadline(app, factory):
    from app.models import AuditLog, Reservation, db
    from app.services.booking import basket

    catalog, family, line_id = _confirmed_bus_line(app, factory)
    with app.app_context():
        basket.change_stop(family.id, line_id, {"mode": "bus", "stop_id": catalog.stop_ids[2]})
        line = db.session.get(Reservation, line_id)
        assert line.stop_id == catalog.stop_ids[2] and line.status == "confirmed"
        entry = db.session.query(AuditLog).filter_by(action="reservation.transport_changed").one()
        assert str(catalog.stop_ids[0]) in entry.before and str(catalog.stop_ids[2]) in entry.after


def test_after_the_deadline_only_staff_change_the_stop(app, factory):
    from app.models import Reservation, db
    from app.services.booking import basket

    catalog, family, line_id = _confirmed_bus_line(app, factory, stop_change_deadline_in=-timedelta(hours=1))
    error = _error(app, basket.change_stop, family.id, line_id, {"mode": "bus", "stop_id": catalog.stop_ids[1]})
    assert error.code == "stop_change_closed" and "Pôle Jeunesse" in error.message
    with app.app_context():
        basket.change_stop(family.id, line_id, {"mode": "bus", "stop_id": catalog.stop_ids[1]}, by_staff=True)
        assert db.session.get(Reservation, line_id).stop_id == catalog.stop_ids[1]


def test_change_to_a_full_circuit_is_refused(app, factory):
    from app.models import Circuit, Stop, db
    from app.services.booking import basket

    catalog, family, line_id = _confirmed_bus_line(app, factory)
    with app.app_context():
        from datetime import time

        full = Circuit(period_id=catalog.period_id, name="Circuit plein", seats=0)
        full.stops.append(Stop(name="Place", position=1, pickup_time=time(8), dropoff_time=time(17)))
        db.session.add(full)
        db.session.commit()
        stop_id = full.stops[0].id
    error = _error(app, basket.change_stop, family.id, line_id, {"mode": "bus", "stop_id": stop_id})
    assert error.code == "full"


def test_parent_cannot_switch_a_paid_week_between_bus_and_onsite(app, factory):
    from app.services.booking import basket

    _, family, line_id = _confirmed_bus_line(app, factory)
    error = _error(app, basket.change_stop, family.id, line_id, {"mode": "onsite"})
    assert error.code == "transport_mode_change"


def test_held_line_can_switch_mode_and_is_repriced(app, factory):
    from app.models import Reservation, db
    from app.services.booking import basket

    catalog = factory.catalog(bus_price_cents=500)
    family = factory.household()
    line_id = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    with app.app_context():
        basket.change_stop(family.id, line_id, {"mode": "bus", "stop_id": catalog.stop_ids[0]})
        line = db.session.get(Reservation, line_id)
        assert (line.transport_mode, line.bus_price_cents) == ("bus", 500)


def test_change_stop_of_another_household_is_not_found(app, factory):
    from app.services.booking import basket

    catalog, family, line_id = _confirmed_bus_line(app, factory)
    stranger = factory.household()
    assert _error(app, basket.change_stop, stranger.id, line_id,
                  {"mode": "bus", "stop_id": catalog.stop_ids[1]}).http_status == 404


def test_reservations_lists_confirmed_weeks_only(app, factory):
    from app.services.booking import basket

    catalog = factory.catalog()
    family = factory.household()
    add(app, family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    confirm_basket(app, family.id)
    add(app, family.id, family.child_ids[0], catalog.week_ids[1])
    with app.app_context():
        rows = basket.reservations(family.id)
    assert [(r["week"]["id"], r["status"]) for r in rows] == [(catalog.week_ids[0], "confirmed")]
    assert rows[0]["transport"]["stop"]["name"].startswith("Église")

