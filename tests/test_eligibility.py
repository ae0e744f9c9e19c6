"""Eligibility: one function, every reason code, age at the period's first day, bounded queries."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from app.services.localize import paris_today
from tests.booking_helpers import add, confirm_basket, count_queries, set_birth_date


def offers(app, household_id, child_id, now=None):
    from app.services.booking import eligibility

    with app.app_context():
        return eligibility.offers(household_id, child_id, now=now).as_dict()


def only_period(data, establishment_id=None):
    est = data["establishments"][0] if establishment_id is None else \
        next(e for e in data["establishments"] if e["id"] == establishment_id)
    return est, est["periods"][0]


def week_reason(data, week_id):
    for est in data["establishments"]:
        for period in est["periods"]:
            for week in period["weeks"]:
                if week["id"] == week_id:
                    return week["reason"]["code"] if week["reason"] else None
    raise AssertionError(f"week {week_id} not offered")


def test_available_week_shows_places_left_and_transport(app, factory):
    catalog = factory.catalog(capacities=(3, 2), seats=4)
    family = factory.household()
    other = factory.household()
    add(app, other.id, other.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    data = offers(app, family.id, family.child_ids[0])
    est, period = only_period(data)
    assert data["reason"] is None and est["available"] and period["available"]
    assert [(w["id"], w["places_left"], w["available"]) for w in period["weeks"]] == [
        (catalog.week_ids[0], 2, True), (catalog.week_ids[1], 2, True)]
    circuit = period["transport"]["circuits"][0]
    assert circuit["id"] == catalog.circuit_id
    assert [s["id"] for s in circuit["stops"]] == catalog.stop_ids
    assert circuit["stops"][0]["pickup_time"] == "07:30" and circuit["stops"][0]["dropoff_time"] == "17:50"
    assert {s["week_id"]: s["seats_left"] for s in circuit["seats_left"]} == {
        catalog.week_ids[0]: 3, catalog.week_ids[1]: 4}
    assert period["transport"]["onsite"] is True


def test_household_not_validated(app, factory):
    factory.catalog()
    family = factory.household(status="submitted")
    data = offers(app, family.id, family.child_ids[0])
    assert data["reason"]["code"] == "household_not_validated"
    assert "pas encore validé" in data["reason"]["message"]
    est, period = only_period(data)
    assert est["reason"]["code"] == period["reason"]["code"] == "household_not_validated"
    assert all(w["reason"]["code"] == "household_not_validated" for w in period["weeks"])


def test_incomplete_household_is_told_to_complete_its_file(app, factory):
    factory.catalog()
    family = factory.household(status="incomplete")
    data = offers(app, family.id, family.child_ids[0])
    assert data["reason"]["code"] == "household_not_validated"
    assert "incomplet" in data["reason"]["message"]


def test_child_not_validated(app, factory):
    factory.catalog()
    family = factory.household(link_status="pending")
    data = offers(app, family.id, family.child_ids[0])
    assert data["reason"]["code"] == "child_not_validated"
    assert "Léa" in data["reason"]["message"]
    _, period = only_period(data)
    assert {w["reason"]["code"] for w in period["weeks"]} == {"child_not_validated"}


def test_age_outside_the_range_gives_the_range(app, factory):
    factory.catalog(age_min=12, age_max=17)
    family = factory.household(children=[("Léa", 8)])
    data = offers(app, family.id, family.child_ids[0])
    est, period = only_period(data)
    assert est["reason"]["code"] == "age"
    assert "12 à 17 ans" in est["reason"]["message"]
    assert est["reason"]["details"] == {"age_min": 12, "age_max": 17, "child_age": 8}
    assert period["reason"]["code"] == "age"


@pytest.mark.parametrize("birthday_shift, expected", [
    (0, None),  # 6th birthday on the period's first day: 6 years old, inclusive lower bound
    (1, "age"),  # 6th birthday the day after: still 5
])
def test_age_is_computed_on_the_period_first_day_lower_bound(app, factory, birthday_shift, expected):
    catalog = factory.catalog(age_min=6, age_max=11)
    start = catalog.starts_on
    family = factory.household()
    set_birth_date(app, family.child_ids[0], date(start.year - 6, start.month, start.day) + timedelta(days=birthday_shift))
    assert week_reason(offers(app, family.id, family.child_ids[0]), catalog.week_ids[0]) == expected


@pytest.mark.parametrize("birthday_shift, expected", [
    (1, None),  # 12th birthday the day after the first day: still 11, inclusive upper bound
    (0, "age"),  # 12th birthday on the first day: 12, too old
])
def test_age_is_computed_on_the_period_first_day_upper_bound(app, factory, birthday_shift, expected):
    catalog = factory.catalog(age_min=6, age_max=11)
    start = catalog.starts_on
    family = factory.household()
    set_birth_date(app, family.child_ids[0], date(start.year - 12, start.month, start.day) + timedelta(days=birthday_shift))
    assert week_reason(offers(app, family.id, family.child_ids[0]), catalog.week_ids[0]) == expected


def test_not_open_yet_says_when_in_paris_time(app, factory):
    from app.services.booking.eligibility import paris_datetime

    catalog = factory.catalog(opens_in=timedelta(days=2))
    family = factory.household()
    data = offers(app, family.id, family.child_ids[0])
    est, period = only_period(data)
    assert period["reason"]["code"] == est["reason"]["code"] == "not_open_yet"
    opens_at = datetime.fromisoformat(period["opens_at"])
    with app.app_context():
        assert paris_datetime(opens_at) in period["reason"]["message"]
    assert week_reason(data, catalog.week_ids[0]) == "not_open_yet"


def test_paris_time_formatting_follows_daylight_saving():
    from app.services.booking.eligibility import paris_datetime

    assert paris_datetime(datetime(2026, 2, 2, 7, 0, tzinfo=timezone.utc)) == "lundi 2 février 2026 à 08:00"
    assert paris_datetime(datetime(2026, 7, 1, 6, 0, tzinfo=timezone.utc)) == "mercredi 1 juillet 2026 à 08:00"


def test_closed(app, factory):
    catalog = factory.catalog(opens_in=-timedelta(days=10), closes_in=-timedelta(hours=1))
    family = factory.household()
    data = offers(app, family.id, family.child_ids[0])
    est, period = only_period(data)
    assert est["reason"]["code"] == period["reason"]["code"] == "closed"
    assert "closes depuis" in period["reason"]["message"]
    assert week_reason(data, catalog.week_ids[1]) == "closed"


def test_full(app, factory):
    catalog = factory.catalog(capacities=(1, 1))
    family = factory.household()
    for week_id in catalog.week_ids:
        other = factory.household()
        add(app, other.id, other.child_ids[0], week_id)
    data = offers(app, family.id, family.child_ids[0])
    est, period = only_period(data)
    assert [(w["places_left"], w["reason"]["code"]) for w in period["weeks"]] == [(0, "full"), (0, "full")]
    assert period["reason"]["code"] == est["reason"]["code"] == "full"


def test_already_in_basket(app, factory):
    catalog = factory.catalog()
    family = factory.household()
    add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    data = offers(app, family.id, family.child_ids[0])
    assert week_reason(data, catalog.week_ids[0]) == "already_in_basket"
    assert week_reason(data, catalog.week_ids[1]) is None


def test_already_booked_by_this_household(app, factory):
    catalog = factory.catalog()
    family = factory.household()
    add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    confirm_basket(app, family.id)
    assert week_reason(offers(app, family.id, family.child_ids[0]), catalog.week_ids[0]) == "already_booked"


def test_already_booked_by_the_other_household_without_saying_which(app, factory):
    catalog = factory.catalog()
    mother = factory.household(last_name="Martin")
    father = factory.household(last_name="Durand")
    child = mother.child_ids[0]
    factory.link_child(father.id, child)
    add(app, mother.id, child, catalog.week_ids[0])  # only held, not paid
    data = offers(app, father.id, child)
    _, period = only_period(data)
    reason = period["weeks"][0]["reason"]
    assert reason["code"] == "already_booked"
    assert "Martin" not in reason["message"] and "panier" not in reason["message"]
    # The other household still sees its own line as in its basket.
    assert week_reason(offers(app, mother.id, child), catalog.week_ids[0]) == "already_in_basket"


def test_a_lapsed_hold_frees_the_week_at_once(app, factory):
    from app.models import utcnow

    catalog = factory.catalog(capacities=(1,))
    family = factory.household()
    other = factory.household()
    add(app, other.id, other.child_ids[0], catalog.week_ids[0])
    assert week_reason(offers(app, family.id, family.child_ids[0]), catalog.week_ids[0]) == "full"
    later = utcnow() + timedelta(minutes=61)
    assert week_reason(offers(app, family.id, family.child_ids[0], now=later), catalog.week_ids[0]) is None
    assert week_reason(offers(app, other.id, other.child_ids[0], now=later), catalog.week_ids[0]) is None


def test_open_and_not_open_establishments_are_split(app, factory):
    from app.services.booking import eligibility

    open_one = factory.catalog(name="ALSH Les Pins", age_min=3, age_max=11)
    teen = factory.catalog(name="Séjour ados", age_min=12, age_max=17)
    family = factory.household()
    with app.app_context():
        result = eligibility.offers(family.id, family.child_ids[0])
        assert [e.establishment.id for e in result.open] == [open_one.establishment_id]
        assert [(e.establishment.id, e.reason.code) for e in result.not_open] == [(teen.establishment_id, "age")]


def test_establishment_prefers_the_actionable_reason(app, factory):
    """Two periods, one closed and one not open yet: the parent is told when it opens."""
    from app.models import Period, Week, db

    catalog = factory.catalog(opens_in=-timedelta(days=10), closes_in=-timedelta(days=1))
    now = datetime.now(timezone.utc)
    with app.app_context():
        period = Period(establishment_id=catalog.establishment_id, name="Été", starts_on=catalog.starts_on + timedelta(weeks=8),
                        ends_on=catalog.starts_on + timedelta(weeks=8, days=4), opens_at=now + timedelta(days=3),
                        closes_at=now + timedelta(days=20), bus_price_cents=0)
        period.weeks.append(Week(label="Semaine été", starts_on=period.starts_on, ends_on=period.ends_on, capacity=5))
        db.session.add(period)
        db.session.commit()
    family = factory.household()
    data = offers(app, family.id, family.child_ids[0])
    assert data["establishments"][0]["reason"]["code"] == "not_open_yet"
    assert [p["reason"]["code"] for p in data["establishments"][0]["periods"]] == ["closed", "not_open_yet"]


def test_past_periods_are_not_offered(app, factory):
    factory.catalog(starts_on=paris_today() - timedelta(days=30))
    family = factory.household()
    data = offers(app, family.id, family.child_ids[0])
    assert data["establishments"][0]["periods"] == []
    assert data["establishments"][0]["reason"]["code"] == "closed"


def test_child_of_another_household_is_not_found(app, factory):
    from app.services.errors import NotFound

    factory.catalog()
    family = factory.household()
    stranger = factory.household()
    with pytest.raises(NotFound):
        offers(app, family.id, stranger.child_ids[0])


def test_desk_booking_skips_the_window_only(app, factory):
    from app.models import Establishment, Period, Week, db, utcnow
    from app.services.booking import eligibility

    catalog = factory.catalog(opens_in=timedelta(days=2))
    teen = factory.catalog(age_min=12, age_max=17, opens_in=timedelta(days=2))
    family = factory.household()
    with app.app_context():
        household, link, child = eligibility.load_person(family.id, family.child_ids[0])
        for cat, expected_desk in ((catalog, None), (teen, "age")):
            week = db.session.get(Week, cat.week_ids[0])
            period = db.session.get(Period, cat.period_id)
            est = db.session.get(Establishment, cat.establishment_id)
            assert eligibility.check_week(household, link, child, week, period, est, utcnow()).code in (
                "not_open_yet", "age")
            reason = eligibility.check_week(household, link, child, week, period, est, utcnow(), desk=True)
            assert (reason.code if reason else None) == expected_desk


def test_offers_run_a_bounded_number_of_queries(app, factory):
    """No N+1: ten establishments with three weeks each cost the same queries as one."""
    family = factory.household()
    factory.catalog(capacities=(5, 5, 5))
    with count_queries(app) as small:
        offers(app, family.id, family.child_ids[0])
    catalogs = [factory.catalog(capacities=(5, 5, 5)) for _ in range(9)]
    other = factory.household()
    add(app, other.id, other.child_ids[0], catalogs[-1].week_ids[0])
    with count_queries(app) as big:
        data = offers(app, family.id, family.child_ids[0])
    assert len(data["establishments"]) == 10
    assert len(big) == len(small) <= 12


def test_a_week_already_started_is_closed_for_parents_not_at_the_desk(app, factory):
    from app.models import Establishment, Period, Week, db, utcnow
    from app.services.booking import eligibility

    monday = paris_today() - timedelta(days=paris_today().weekday())
    catalog = factory.catalog(starts_on=monday, capacities=(5, 5))  # week 1 has begun, week 2 has not
    family = factory.household()
    data = offers(app, family.id, family.child_ids[0])
    _, period = only_period(data)
    assert period["available"] is True
    assert period["weeks"][0]["reason"]["code"] == "closed" and "déjà commencé" in period["weeks"][0]["reason"]["message"]
    assert period["weeks"][1]["available"] is True
    with app.app_context():
        household, link, child = eligibility.load_person(family.id, family.child_ids[0])
        args = (db.session.get(Week, catalog.week_ids[0]), db.session.get(Period, catalog.period_id),
                db.session.get(Establishment, catalog.establishment_id), utcnow())
        assert eligibility.check_week(household, link, child, *args).code == "closed"
        assert eligibility.check_week(household, link, child, *args, desk=True) is None


def test_a_refused_child_link_says_so(app, factory):
    factory.catalog()
    family = factory.household(link_status="refused")
    data = offers(app, family.id, family.child_ids[0])
    assert data["reason"]["code"] == "child_not_validated"
    assert "refusé" in data["reason"]["message"]
