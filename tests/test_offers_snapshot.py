"""Offers at refresh speed (issue 21): the catalogue is a per-process snapshot, valid for exactly as
long as the catalogue version stands. A staff edit shows on the very next call (no stale window),
the answer is the same as from the ORM rows, and a warm call costs two statements."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app.services.localize import paris_today
from tests.booking_helpers import add, confirm_basket, count_queries

# The household, the child and the catalogue version; the grouped count of places and seats that
# also reads the child's own live lines. Before issue 21: eight (the person, the catalogue in five
# selects, the count, the child's lines); the ORM reference path (cached=False) still reads the
# catalogue in five.
WARM_OFFERS_STATEMENTS = 2
ORM_OFFERS_STATEMENTS = 7


def _sql(statements) -> list[str]:
    """The statements that reach the database (SQLite's BEGIN is the driver's, not the query's)."""
    return [s for s in statements if not s.startswith("BEGIN")]


def _offers(app, household_id, child_id, *, cached=True, now=None):
    from app.services.booking import eligibility

    with app.app_context():
        return eligibility.offers(household_id, child_id, now=now, cached=cached).as_dict()


def _week(data, week_id):
    for est in data["establishments"]:
        for period in est["periods"]:
            for week in period["weeks"]:
                if week["id"] == week_id:
                    return week
    return None


def _period(data, period_id):
    for est in data["establishments"]:
        for period in est["periods"]:
            if period["id"] == period_id:
                return period
    return None


def _week_form(app, week_id, **changes) -> dict:
    from app.models import Week, db

    with app.app_context():
        week = db.session.get(Week, week_id)
        form = {"period": str(week.period_id), "label": week.label, "starts_on": week.starts_on.isoformat(),
                "ends_on": week.ends_on.isoformat(), "capacity": str(week.capacity)}
    form.update(changes)
    return form


def test_a_warm_offers_call_runs_two_statements(app, factory):
    catalog = factory.catalog(capacities=(5, 5, 5))
    factory.catalog(capacities=(4, 4))
    family = factory.household()
    other = factory.household()
    add(app, other.id, other.child_ids[0], catalog.week_ids[0])
    child = family.child_ids[0]
    with count_queries(app) as reference:
        _offers(app, family.id, child, cached=False)
    _offers(app, family.id, child)  # fills the snapshot
    with count_queries(app) as warm:
        data = _offers(app, family.id, child)
    assert len(_sql(reference)) == ORM_OFFERS_STATEMENTS
    assert len(_sql(warm)) == WARM_OFFERS_STATEMENTS, warm
    assert _week(data, catalog.week_ids[0])["places_left"] == 4  # counted live
    # A new hold is counted on the next call although the snapshot stays.
    add(app, family.id, child, catalog.week_ids[1])
    with count_queries(app) as after_add:
        data = _offers(app, family.id, child)
    assert len(_sql(after_add)) == WARM_OFFERS_STATEMENTS
    assert _week(data, catalog.week_ids[1])["reason"]["code"] == "already_in_basket"
    assert _week(data, catalog.week_ids[1])["places_left"] == 4


def test_a_staff_edit_of_a_week_capacity_shows_on_the_very_next_call(app, factory, make_client, login):
    catalog = factory.catalog(capacities=(10, 10))
    family = factory.household()
    staff = login(make_client(), factory.staff().email)
    child = family.child_ids[0]
    assert _week(_offers(app, family.id, child), catalog.week_ids[0])["capacity"] == 10
    assert _week(_offers(app, family.id, child), catalog.week_ids[0])["places_left"] == 10  # warm

    response = staff.post(f"/weekview/edit/{catalog.week_ids[0]}",
                          data=_week_form(app, catalog.week_ids[0], capacity="3", label="Semaine des sciences"))
    assert response.status_code == 302

    week = _week(_offers(app, family.id, child), catalog.week_ids[0])
    assert (week["capacity"], week["places_left"], week["label"]) == (3, 3, "Semaine des sciences")


def test_a_new_period_and_its_week_show_on_the_very_next_call(app, factory, make_client, login):
    from app.models import Period, db, utcnow

    catalog = factory.catalog()
    family = factory.household()
    staff = login(make_client(), factory.staff().email)
    child = family.child_ids[0]
    before = _offers(app, family.id, child)
    assert [p["id"] for p in before["establishments"][0]["periods"]] == [catalog.period_id]

    start = paris_today() + timedelta(days=120 + (7 - paris_today().weekday()) % 7)
    opens = (utcnow() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    closes = (utcnow() + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M")
    period_form = {"establishment": str(catalog.establishment_id), "name": "Été", "starts_on": start.isoformat(),
                   "ends_on": (start + timedelta(days=4)).isoformat(), "opens_at": opens, "closes_at": closes,
                   "bus_price_cents": "0"}
    assert staff.post("/periodview/add", data=period_form).status_code == 302
    with app.app_context():
        period_id = db.session.query(Period.id).filter(Period.name == "Été").scalar()

    data = _offers(app, family.id, child)
    period = _period(data, period_id)
    assert period is not None and period["weeks"] == []
    assert period["reason"]["code"] == "not_open_yet"

    week_form = {"period": str(period_id), "label": "Semaine d'été", "starts_on": start.isoformat(),
                 "ends_on": (start + timedelta(days=4)).isoformat(), "capacity": "12"}
    assert staff.post("/weekview/add", data=week_form).status_code == 302
    period = _period(_offers(app, family.id, child), period_id)
    assert [(w["label"], w["capacity"]) for w in period["weeks"]] == [("Semaine d'été", 12)]


def test_orm_writes_and_bulk_statements_bump_the_version(app, factory):
    from app.models import Establishment, Week, db
    from app.services.booking.catalogue_snapshot import catalogue_version

    catalog = factory.catalog(capacities=(10, 10))
    family = factory.household()
    child = family.child_ids[0]
    _offers(app, family.id, child)
    with app.app_context():
        start = catalogue_version()
        db.session.execute(update(Week).where(Week.id == catalog.week_ids[1]).values(capacity=2))
        db.session.commit()
        assert catalogue_version() == start + 1
    assert _week(_offers(app, family.id, child), catalog.week_ids[1])["capacity"] == 2
    with app.app_context():
        db.session.get(Establishment, catalog.establishment_id).active = False
        db.session.commit()
        assert catalogue_version() == start + 2
    assert _offers(app, family.id, child)["establishments"] == []
    with app.app_context():  # reading or locking a week is not a write
        db.session.get(Week, catalog.week_ids[0]).capacity  # noqa: B018
        db.session.commit()
        assert catalogue_version() == start + 2


def test_an_uncommitted_edit_never_reaches_the_shared_snapshot(app, factory):
    from app.models import Week, db
    from app.services.booking import eligibility

    catalog = factory.catalog(capacities=(10, 10))
    family = factory.household()
    child = family.child_ids[0]
    _offers(app, family.id, child)
    with app.app_context():
        db.session.get(Week, catalog.week_ids[0]).capacity = 1
        db.session.flush()
        inside = eligibility.offers(family.id, child).as_dict()  # this transaction sees its own edit
        assert _week(inside, catalog.week_ids[0])["capacity"] == 1
        db.session.rollback()
    assert _week(_offers(app, family.id, child), catalog.week_ids[0])["capacity"] == 10


def test_snapshot_rows_are_read_only_plain_data(app, factory):
    import pytest
    from sqlalchemy import inspect
    from sqlalchemy.exc import NoInspectionAvailable

    from app.services.booking import eligibility

    catalog = factory.catalog()
    family = factory.household()
    with app.app_context():
        result = eligibility.offers(family.id, family.child_ids[0])
        period = result.period(catalog.period_id)[1].period
        week = period.weeks[0]
        with pytest.raises(AttributeError):
            week.capacity = 99
        with pytest.raises(NoInspectionAvailable):
            inspect(week)
        assert isinstance(period.weeks, tuple) and week.period is period
        assert [t.qf_min for t in period.tariffs] == sorted(t.qf_min for t in period.tariffs)
        assert period.establishment.id == catalog.establishment_id


def _varied_world(app, factory):
    """Establishments and periods in every state the offers can show."""
    from app.models import Establishment, Period, db, utcnow

    today = paris_today()
    monday = today - timedelta(days=today.weekday())
    full = factory.catalog(capacities=(1, 3), seats=1, name="B Plein")
    factory.catalog(capacities=(6, 6, 6), opens_in=timedelta(days=3), name="A Bientôt")
    factory.catalog(opens_in=-timedelta(days=20), closes_in=-timedelta(days=2), name="C Clos")
    factory.catalog(age_min=12, age_max=17, name="D Ados")
    factory.catalog(starts_on=monday, capacities=(5, 5), name="E Commencé")
    past = factory.catalog(starts_on=monday - timedelta(weeks=6), name="F Passé")
    hidden = factory.catalog(name="G Fermé")
    wishes = factory.catalog(name="H Voeux")
    busy = factory.catalog(capacities=(4, 4), seats=2, name="I Bus")
    with app.app_context():
        db.session.get(Establishment, hidden.establishment_id).active = False
        period = db.session.get(Period, wishes.period_id)
        period.opening_mode = "wishes"
        period.wishes_open_at = utcnow() - timedelta(days=1)
        period.wishes_close_at = utcnow() + timedelta(days=5)
        db.session.commit()
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    other = factory.household()
    third = factory.household()
    add(app, other.id, other.child_ids[0], full.week_ids[0], {"mode": "bus", "stop_id": full.stop_ids[0]})
    confirm_basket(app, other.id)
    add(app, family.id, family.child_ids[0], full.week_ids[1])
    add(app, third.id, third.child_ids[0], busy.week_ids[0], {"mode": "bus", "stop_id": busy.stop_ids[1]})
    add(app, family.id, family.child_ids[1], busy.week_ids[0], {"mode": "bus", "stop_id": busy.stop_ids[0]})
    return family, past


def test_the_snapshot_answers_exactly_as_the_orm_rows_on_a_varied_catalogue(app, factory):
    from app.models import utcnow

    family, past = _varied_world(app, factory)
    for child in family.child_ids:
        reference = _offers(app, family.id, child, cached=False)
        assert _offers(app, family.id, child) == reference  # cold: the snapshot is built
        assert _offers(app, family.id, child) == reference  # warm
        assert len(reference["establishments"]) == 8
    # Another day (the past period is current again): the same snapshot, filtered by that day.
    earlier = utcnow() - timedelta(weeks=6)
    reference = _offers(app, family.id, family.child_ids[0], cached=False, now=earlier)
    assert _period(reference, past.period_id) is not None
    assert _offers(app, family.id, family.child_ids[0], now=earlier) == reference


def test_the_booking_pages_read_the_snapshot(app, factory, make_client, login):
    """The weeks page prices and lists the weeks from the snapshot rows (tariffs, circuits, stops)."""
    catalog = factory.catalog(capacities=(10, 10))
    family = factory.household()
    client = login(make_client(), family.email)
    child = family.child_ids[0]
    for _ in range(2):  # cold, then warm
        page = client.get(f"/famille/inscrire/{child}/periode/{catalog.period_id}")
        assert page.status_code == 200, page.get_data(as_text=True)[:500]
        text = page.get_data(as_text=True)
        assert "Église" in text and "Semaine du" in text
