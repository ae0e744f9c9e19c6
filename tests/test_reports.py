"""Lists for the day and dashboard figures: only confirmed reservations, a shared child once,
contacts from every household of the child, stops in route order, live holds only, money per period."""
from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from tests import ops_data
from tests.support.db import call


@pytest.fixture
def world(app, factory):
    """Week 1 of a period: Léa (shared by two households) by bus at the last stop, Tom on site,
    Hugo held live on the bus, Zoé's hold expired, Nina cancelled, Paul removed from a basket."""
    cat = factory.catalog(capacities=(10, 10), seats=5, name="ALSH Les Pins")
    w1, w2 = cat.week_ids
    eglise, stade, gare = cat.stop_ids
    dupont = factory.household(last_name="Dupont", children=[("Léa", 8), ("Tom", 6)])
    lea, tom = dupont.child_ids
    other = factory.household(last_name="Durand", children=[("Inès", 9)])  # Léa's father's household
    factory.link_child(other.id, lea)
    martin = factory.household(last_name="Martin", children=[("Zoé", 7), ("Hugo", 5), ("Nina", 10), ("Paul", 4)])
    zoe, hugo, nina, paul = martin.child_ids
    ops_data.set_health(app, lea, allergies="Arachides", diet="Sans porc", pai=True,
                        pai_details="Stylo d'adrénaline dans le sac")
    ops_data.add_guardian(app, other.id, "Marc", "Durand", "0699887766", "Père")
    ops_data.add_pickup(app, dupont.id, lea, "Mamie Jeanne", "0611111111", "Grand-mère")
    ops_data.add_pickup(app, other.id, lea, "Oncle Paul", "0622222222", "Oncle")

    r_lea, basket = ops_data.reserve(app, dupont.id, lea, w1, stop_id=gare, circuit_id=cat.circuit_id,
                                     bus_price_cents=500)
    r_tom, _ = ops_data.reserve(app, dupont.id, tom, w1, basket_id=basket)
    ops_data.reserve(app, martin.id, hugo, w1, status="held", stop_id=stade, circuit_id=cat.circuit_id)
    ops_data.reserve(app, martin.id, zoe, w1, status="expired", stop_id=eglise, circuit_id=cat.circuit_id,
                     hold_minutes=-5)
    ops_data.reserve(app, martin.id, nina, w1, status="cancelled", stop_id=stade, circuit_id=cat.circuit_id)
    ops_data.reserve(app, martin.id, paul, w1, status="removed", basket_status="paid")
    # Week 2: Léa again, booked this time by her father's household.
    r_lea2, _ = ops_data.reserve(app, other.id, lea, w2, stop_id=eglise, circuit_id=cat.circuit_id)
    # A held line whose hold lapsed but is still "held" in the table: must not count (lazy expiry).
    ops_data.reserve(app, martin.id, zoe, w2, status="held", hold_minutes=-1, basket_status="checkout")
    return dict(cat=cat, w1=w1, w2=w2, stops=(eglise, stade, gare), dupont=dupont, other=other, martin=martin,
                lea=lea, tom=tom, r_lea=r_lea, r_tom=r_tom, r_lea2=r_lea2, basket=basket)


def test_roster_lists_only_confirmed_children_once_with_health_and_contacts(app, world):
    from app.services.operations import reports

    roster = call(app, reports.roster, world["w1"])
    names = [c.first_name for c in roster.children]
    assert names == ["Léa", "Tom"]  # sorted by last name then first name; no held/expired/cancelled/removed
    assert roster.establishment_name == "ALSH Les Pins"
    lea = roster.children[0]
    assert lea.pai is True and lea.pai_details == "Stylo d'adrénaline dans le sac"
    assert lea.allergies == "Arachides" and lea.diet == "Sans porc"
    assert lea.age == 8
    assert lea.transport_mode == "bus" and lea.stop_id == world["stops"][2]
    assert lea.pickup_time == time(9, 30)
    # Emergency contacts: the guardians of both households, the booking one first.
    assert [(c.name, c.phone) for c in lea.contacts] == [("Claire Dupont", "0612345678"),
                                                        ("Claire Durand", "0612345678"),
                                                        ("Marc Durand", "0699887766")]
    assert {p.name for p in lea.pickups} == {"Mamie Jeanne", "Oncle Paul"}
    assert roster.children[1].transport_label == "Sur place"
    assert roster.children[1].pickups == []
    assert roster.pai_count == 1 and roster.allergy_count == 1


def test_roster_of_a_week_booked_by_the_other_household_puts_that_household_first(app, world):
    from app.services.operations import reports

    roster = call(app, reports.roster, world["w2"])
    assert [c.first_name for c in roster.children] == ["Léa"]  # Zoé's stale hold is left out
    lea = roster.children[0]
    assert lea.household_id == world["other"].id
    assert lea.contacts[0].household_name == "Foyer Durand"
    assert lea.guardian_phone == "0612345678"
    assert len(lea.contacts) == 3


def test_rosters_of_a_whole_period_one_per_week(app, world):
    from app.services.operations import reports

    def run():
        ids = reports.resolve_weeks(period_id=world["cat"].period_id)
        return reports.rosters(ids)

    result = call(app, run)
    assert [r.week_id for r in result] == [world["w1"], world["w2"]]
    assert [len(r.children) for r in result] == [2, 1]


def test_resolve_weeks_for_the_day_and_bad_choices(app, world):
    from app.services.errors import NotFound, ValidationFailed
    from app.services.operations import reports

    cat = world["cat"]
    ids = call(app, reports.resolve_weeks, establishment_id=cat.establishment_id,
                  on=cat.starts_on + timedelta(days=2))
    assert ids == [world["w1"]]
    with pytest.raises(ValidationFailed):
        call(app, reports.resolve_weeks)
    with pytest.raises(NotFound):
        call(app, reports.resolve_weeks, week_id=world["w1"], establishment_id=cat.establishment_id + 999)


def test_a_shared_child_appears_once_even_if_the_data_holds_two_confirmed_lines(app, world):
    """The partial unique index forbids it; a list must still never show a child twice."""
    from sqlalchemy import text

    from app.models import db
    from app.services.operations import reports

    with app.app_context():
        db.session.execute(text("DROP INDEX uq_reservation_live_child_week"))
        db.session.commit()
    try:
        ops_data.reserve(app, world["other"].id, world["lea"], world["w1"])
        roster = call(app, reports.roster, world["w1"])
        assert [c.first_name for c in roster.children] == ["Léa", "Tom"]
    finally:
        with app.app_context():
            db.session.execute(text("DELETE FROM reservation"))
            db.session.commit()
            for index in db.metadata.tables["reservation"].indexes:
                if index.name == "uq_reservation_live_child_week":
                    index.create(db.engine)


def test_bus_list_groups_children_by_stop_in_route_order(app, world):
    from app.services.operations import reports

    bus = call(app, reports.bus_list, world["cat"].circuit_id, world["w1"])
    assert [s.position for s in bus.stops] == [1, 2, 3]
    assert [[c.first_name for c in s.children] for s in bus.stops] == [[], [], ["Léa"]]
    assert bus.stops[2].pickup_time == time(9, 30) and bus.stops[2].dropoff_time == time(17, 30)
    assert bus.stops[2].children[0].guardian_phone == "0612345678"
    assert bus.child_count == 1
    assert bus.seats == 5


def test_bus_lists_of_every_circuit_of_the_week(app, world):
    from app.services.operations import reports

    lists = call(app, reports.bus_lists, [world["w2"]])
    assert len(lists) == 1
    assert [[c.first_name for c in s.children] for s in lists[0].stops] == [["Léa"], [], []]


def test_bus_list_refuses_a_circuit_of_another_period(app, world, factory):
    from app.services.errors import NotFound
    from app.services.operations import reports

    other = factory.catalog()
    with pytest.raises(NotFound):
        call(app, reports.bus_list, other.circuit_id, world["w1"])


def test_onsite_list_holds_only_children_without_bus(app, world):
    from app.services.operations import reports

    onsite = call(app, reports.onsite_list, world["w1"])
    assert [c.first_name for c in onsite.children] == ["Tom"]
    assert onsite.onsite_only
    assert call(app, reports.onsite_list, world["w2"]).children == []


def test_occupancy_counts_confirmed_and_live_holds_only(app, world):
    from app.services.operations import reports

    occ = call(app, reports.occupancy, world["cat"].period_id)
    w1, w2 = occ.weeks
    assert (w1.capacity, w1.confirmed, w1.held, w1.free) == (10, 2, 1, 7)
    assert (w2.confirmed, w2.held, w2.free) == (1, 0, 9)
    assert w1.percent == 30
    by_week = {c.week_id: c for c in occ.circuits}
    assert (by_week[world["w1"]].seats, by_week[world["w1"]].confirmed, by_week[world["w1"]].held,
            by_week[world["w1"]].free) == (5, 1, 1, 3)
    assert (by_week[world["w2"]].confirmed, by_week[world["w2"]].held) == (1, 0)


def test_occupancy_of_an_unknown_period_is_not_found(app):
    from app.services.errors import NotFound
    from app.services.operations import reports

    with pytest.raises(NotFound):
        call(app, reports.occupancy, 12345)


def test_takings_per_period_paid_refunded_net(app, world, factory):
    from app.services.operations import reports

    # The Dupont basket: Léa 45 € + bus 5 €, Tom 45 € = 95 € by card; Tom's week refunded later.
    payment = ops_data.pay(app, world["basket"], world["dupont"].id, 9500)
    ops_data.refund(app, payment, 4500, reservation_id=world["r_tom"])
    ops_data.refund(app, payment, 1000, reservation_id=world["r_tom"], status="failed")  # not money back
    # A desk basket spanning two periods, paid 90 € cash, then refunded in full without a line.
    second = factory.catalog(name="Séjour Mer")
    family = factory.household(last_name="Bernard", children=[("Jade", 9)])
    _, desk_basket = ops_data.reserve(app, family.id, family.child_ids[0], world["w2"], price_cents=3000)
    ops_data.reserve(app, family.id, family.child_ids[0], second.week_ids[0], price_cents=6000,
                     basket_id=desk_basket)
    cash = ops_data.pay(app, desk_basket, family.id, 9000, method="cash", provider="desk")
    ops_data.refund(app, cash, 9000)
    # A pending card payment is not money in.
    ops_data.pay(app, world["basket"], world["dupont"].id, 700, status="pending")

    rows = {t.period_id: t for t in call(app, reports.takings)}
    first = rows[world["cat"].period_id]
    assert (first.paid_cents, first.refunded_cents, first.net_cents) == (12500, 7500, 5000)
    assert first.by_method == {"card": 9500, "cash": 3000}
    sea = rows[second.period_id]
    assert (sea.paid_cents, sea.refunded_cents, sea.net_cents) == (6000, 6000, 0)
    only = call(app, reports.takings, establishment_id=second.establishment_id)
    assert [t.period_id for t in only] == [second.period_id]


def test_allocation_is_exact_to_the_cent():
    from app.services.operations.reports import _allocate

    parts = _allocate(1000, {1: 1, 2: 1, 3: 1})
    assert sum(parts.values()) == 1000 and sorted(parts.values()) == [333, 333, 334]
    assert _allocate(500, {7: 0}) == {7: 500}
    assert _allocate(500, {}) == {}


def test_age_on_a_given_day():
    from app.services.operations.reports import age_on

    assert age_on(date(2015, 7, 14), date(2025, 7, 13)) == 9
    assert age_on(date(2015, 7, 14), date(2025, 7, 14)) == 10


def test_takings_never_drop_money_that_has_no_period(app, factory):
    """A paid basket whose lines cannot be found (data repaired by hand…) shows in its own row."""
    from app.models import Basket, db
    from app.services.operations import reports

    family = factory.household(last_name="Orphelin")
    with app.app_context():
        basket = Basket(household_id=family.id, status="paid", expires_at=ops_data.now())
        db.session.add(basket)
        db.session.commit()
        basket_id = basket.id
    payment = ops_data.pay(app, basket_id, family.id, 2500, method="cash")
    ops_data.refund(app, payment, 500)
    rows = call(app, reports.takings)
    assert [(t.period_id, t.paid_cents, t.refunded_cents, t.net_cents) for t in rows] == [(None, 2500, 500, 2000)]
    assert rows[0].period_name.startswith("Sans période")
    assert call(app, reports.takings, establishment_id=1) == []
