"""Catalogue edits through the staff screens: every write audited with before/after (DESIGN §3.7),
the catalogue rules refuse what would break a booking — French message on the same form, nothing
typed lost, row unchanged, no 500."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update


def _db(app):
    from app.models import db

    return db


def _audits(app, action: str) -> list:
    from app.models import AuditLog

    with app.app_context():
        rows = _db(app).session.execute(select(AuditLog).where(AuditLog.action == action)
                                        .order_by(AuditLog.id)).scalars().all()
        return [(row.entity, row.entity_id, row.actor_id, json.loads(row.before) if row.before else None,
                 json.loads(row.after) if row.after else None) for row in rows]


def _row(app, model, pk):
    with app.app_context():
        obj = _db(app).session.get(model, pk)
        return None if obj is None else {c.key: getattr(obj, c.key) for c in model.__table__.columns}


def _book(app, household, child_index: int, week_id: int, *, confirmed: bool, stop_id: int | None = None):
    """One line in the household's basket (held, live), confirmed when asked."""
    from app.models import Reservation
    from app.services.booking import basket

    transport = {"mode": "bus", "stop_id": stop_id} if stop_id else {"mode": "onsite"}
    with app.app_context():
        line = basket.add_line(household.id, household.child_ids[child_index], week_id, transport)
        if confirmed:
            _db(app).session.execute(update(Reservation).where(Reservation.id == line.id)
                                     .values(status="confirmed"))
        _db(app).session.commit()


def _week_form(app, week_id, **changes) -> dict:
    week = _row(app, _model("Week"), week_id)
    form = {"period": str(week["period_id"]), "label": week["label"], "starts_on": week["starts_on"].isoformat(),
            "ends_on": week["ends_on"].isoformat(), "capacity": str(week["capacity"])}
    form.update(changes)
    return form


def _model(name):
    import app.models as models

    return getattr(models, name)


@pytest.fixture
def world(app, factory, make_client, login):
    cat = factory.catalog(capacities=(10, 10), seats=5)
    family = factory.household(children=[("Léa", 8), ("Tom", 6), ("Inès", 9)])
    staff = factory.staff()
    client = login(make_client(), staff.email)
    return cat, family, staff, client


def test_week_edit_through_the_staff_screen_is_audited_with_before_and_after(app, world):
    cat, _family, staff, client = world
    week_id = cat.week_ids[0]
    old = _row(app, _model("Week"), week_id)

    response = client.post(f"/weekview/edit/{week_id}",
                           data=_week_form(app, week_id, capacity="14", label="Semaine des sciences"))

    assert response.status_code == 302
    assert _row(app, _model("Week"), week_id)["capacity"] == 14
    [(entity, entity_id, actor_id, before, after)] = _audits(app, "week.updated")
    assert (entity, entity_id, actor_id) == ("week", week_id, staff.id)
    assert before == {"capacity": 10, "label": old["label"]}
    assert after == {"capacity": 14, "label": "Semaine des sciences"}


def test_capacity_below_the_places_taken_is_refused_on_the_same_form(app, world):
    cat, family, _staff, client = world
    week_id = cat.week_ids[0]
    _book(app, family, 0, week_id, confirmed=True)
    _book(app, family, 1, week_id, confirmed=False)  # a live hold counts too
    before = _row(app, _model("Week"), week_id)

    response = client.post(f"/weekview/edit/{week_id}", data=_week_form(app, week_id, capacity="1",
                                                                         label="Libellé tapé"))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Capacité trop basse : 2 places sont déjà réservées pour cette semaine." in page
    assert 'value="Libellé tapé"' in page  # what staff typed is still there
    assert _row(app, _model("Week"), week_id) == before
    assert _audits(app, "week.updated") == []

    # Exactly the places taken is fine.
    assert client.post(f"/weekview/edit/{week_id}", data=_week_form(app, week_id, capacity="2")).status_code == 302
    assert _row(app, _model("Week"), week_id)["capacity"] == 2


def test_circuit_seats_below_a_week_s_bus_places_are_refused(app, world):
    cat, family, _staff, client = world
    second_week = cat.week_ids[1]
    for child in range(3):
        _book(app, family, child, second_week, confirmed=child > 0, stop_id=cat.stop_ids[0])
    circuit = _row(app, _model("Circuit"), cat.circuit_id)
    form = {"period": str(cat.period_id), "name": circuit["name"], "seats": "2"}

    page = client.post(f"/circuitview/edit/{cat.circuit_id}", data=form).get_data(as_text=True)

    assert "Places assises trop basses : 3 places sont déjà réservées sur ce circuit" in page
    assert _row(app, _model("Circuit"), cat.circuit_id)["seats"] == 5
    assert client.post(f"/circuitview/edit/{cat.circuit_id}", data=dict(form, seats="3")).status_code == 302
    assert _row(app, _model("Circuit"), cat.circuit_id)["seats"] == 3


def test_add_is_audited_and_an_overlapping_tariff_is_refused(app, world):
    cat, _family, staff, client = world
    overlapping = {"period": str(cat.period_id), "label": "QF 600-900", "qf_min": "600", "qf_max": "900",
                   "price_cents": "5000"}

    page = client.post("/tariffbracketview/add", data=overlapping).get_data(as_text=True)
    assert "Cette tranche chevauche la tranche « QF 0+ »" in page
    assert _audits(app, "tariff_bracket.added") == []

    # A new period with no brackets yet takes one; the entry holds the whole new row.
    period = {"establishment": str(cat.establishment_id), "name": "Été", "starts_on": "2031-07-07",
              "ends_on": "2031-07-25", "opens_at": "2031-05-01T09:00", "closes_at": "2031-06-30T18:00",
              "bus_price_cents": "0"}
    assert client.post("/periodview/add", data=period).status_code == 302
    [(_e, period_id, _a, _b, after)] = _audits(app, "period.added")
    assert after["opens_at"] == "2031-05-01T07:00:00+00:00"  # typed in Paris time, audited in UTC
    response = client.post("/tariffbracketview/add", data=dict(overlapping, period=str(period_id)))
    assert response.status_code == 302
    [(entity, bracket_id, actor_id, before, after)] = _audits(app, "tariff_bracket.added")
    assert (entity, actor_id, before) == ("tariff_bracket", staff.id, None)
    assert after == {"id": bracket_id, "period_id": period_id, "label": "QF 600-900", "qf_min": 600,
                     "qf_max": 900, "price_cents": 5000, "meal_share_cents": 0}


def test_incoherent_period_dates_are_refused(app, world):
    cat, _family, _staff, client = world
    period = {"establishment": str(cat.establishment_id), "name": "À l'envers", "starts_on": "2031-07-25",
              "ends_on": "2031-07-07", "opens_at": "2031-05-01T09:00", "closes_at": "2031-06-30T18:00",
              "bus_price_cents": "0"}
    response = client.post("/periodview/add", data=period)
    assert response.status_code == 200
    assert "Le dernier jour (7 juillet 2031) est avant le premier jour (25 juillet 2031)." in \
        response.get_data(as_text=True)
    response = client.post("/periodview/add", data=dict(period, starts_on="2031-07-07", ends_on="2031-07-25",
                                                           closes_at="2031-04-30T18:00"))
    assert "La clôture des inscriptions doit être après leur ouverture." in response.get_data(as_text=True)
    assert _audits(app, "period.added") == []


def test_delete_is_audited_with_the_state_before(app, world):
    cat, _family, staff, client = world
    stop_id = cat.stop_ids[2]
    before = _row(app, _model("Stop"), stop_id)

    assert client.post(f"/stopview/delete/{stop_id}").status_code == 302

    assert _row(app, _model("Stop"), stop_id) is None
    [(entity, entity_id, actor_id, audited_before, after)] = _audits(app, "stop.deleted")
    assert (entity, entity_id, actor_id, after) == ("stop", stop_id, staff.id, None)
    assert audited_before["name"] == before["name"]
    assert audited_before["pickup_time"] == before["pickup_time"].isoformat()


def test_deleting_what_has_live_reservations_is_refused(app, world):
    cat, family, _staff, client = world
    week_id = cat.week_ids[0]
    _book(app, family, 0, week_id, confirmed=True, stop_id=cat.stop_ids[1])

    response = client.post(f"/weekview/delete/{week_id}", follow_redirects=True)
    assert response.status_code == 200
    assert "Suppression impossible : 1 inscription en cours sur cette semaine." in response.get_data(as_text=True)
    page = client.post(f"/stopview/delete/{cat.stop_ids[1]}", follow_redirects=True).get_data(as_text=True)
    assert "Suppression impossible : 1 inscription en cours sur cet arrêt." in page
    page = client.post(f"/periodview/delete/{cat.period_id}", follow_redirects=True).get_data(as_text=True)
    assert "Suppression impossible : 1 inscription en cours sur cette période." in page

    assert _row(app, _model("Week"), week_id) is not None
    assert _row(app, _model("Stop"), cat.stop_ids[1]) is not None
    assert _row(app, _model("Period"), cat.period_id) is not None
    assert _audits(app, "week.deleted") == _audits(app, "stop.deleted") == _audits(app, "period.deleted") == []
