"""Desk booking: staff book for a family through the parent's own basket service (same capacity and
eligibility rules, registration window lifted) and record the money taken at the desk."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests import ops_data


@pytest.fixture
def closed_window(factory):
    """A period whose registration opens only in five days: parents cannot book yet, the desk can."""
    cat = factory.catalog(capacities=(1, 10), seats=1, opens_in=timedelta(days=5), closes_in=timedelta(days=15))
    family = factory.household(last_name="Guichet", children=[("Léo", 7), ("Mia", 9)])
    return cat, family


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form without CSRF token"
    return match.group(1)


def _state(app, household_id):
    from app.models import AuditLog, Basket, Payment, Reservation, db

    with app.app_context():
        lines = db.session.query(Reservation).filter_by(household_id=household_id).order_by(Reservation.id).all()
        payments = db.session.query(Payment).filter_by(household_id=household_id).all()
        baskets = db.session.query(Basket).filter_by(household_id=household_id).all()
        audits = db.session.query(AuditLog).filter_by(household_id=household_id).all()
        state = {
            "lines": [(l.child_id, l.week_id, l.status, l.transport_mode, l.stop_id) for l in lines],
            "payments": [(p.provider, p.method, p.status, p.amount_cents, p.created_by_id) for p in payments],
            "baskets": [(b.status, b.created_by_id) for b in baskets],
            "audit": [(a.action, a.actor_label) for a in audits],
        }
    return state


def test_staff_book_outside_the_window_and_record_a_cheque(app, factory, make_client, login, closed_window):
    cat, family = closed_window
    leo, mia = family.child_ids
    staff = factory.staff()
    client = login(make_client(), staff.email)

    # Parents cannot book this period yet: the very same service says so.
    from app.services.booking import basket
    from app.services.errors import Conflict

    with app.app_context():
        with pytest.raises(Conflict) as refused:
            basket.add_line(family.id, leo, cat.week_ids[1], {"mode": "onsite"})
        assert refused.value.code == "not_open_yet"


    page = client.get(f"/guichet/foyer/{family.id}?child_id={leo}&week_id={cat.week_ids[1]}")
    assert page.status_code == 200 and "Transport pour" in page.get_data(as_text=True)
    response = client.post(f"/guichet/foyer/{family.id}/ajouter",
                           data={"child_id": leo, "week_id": cat.week_ids[1], "transport": f"stop:{cat.stop_ids[1]}"},
                           follow_redirects=True)
    assert "Semaine ajoutée au panier" in response.get_data(as_text=True)
    response = client.post(f"/guichet/foyer/{family.id}/ajouter",
                           data={"child_id": mia, "week_id": cat.week_ids[1], "transport": "onsite"},
                           follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Léo" in html and "Mia" in html and "Enregistrer le paiement" in html
    # QF 650 → 45 € a week, + 5 € of bus for Léo.
    assert "95,00" in html

    response = client.post(f"/guichet/foyer/{family.id}/payer", data={"method": "cheque"}, follow_redirects=True)
    assert "Paiement enregistré (Chèque)" in response.get_data(as_text=True)
    state = _state(app, family.id)
    assert state["lines"] == [(leo, cat.week_ids[1], "confirmed", "bus", cat.stop_ids[1]),
                              (mia, cat.week_ids[1], "confirmed", "onsite", None)]
    assert state["payments"] == [("desk", "cheque", "paid", 9500, staff.id)]
    assert state["baskets"] == [("paid", staff.id)]
    actions = {a for a, who in state["audit"] if who == staff.email}
    assert {"basket.opened", "reservation.held", "payment.created", "basket.paid"} <= actions

    # The children are now on the lists of that week.
    roster = client.get(f"/listes/appel?week_id={cat.week_ids[1]}").get_data(as_text=True)
    assert "GUICHET Léo" in roster and "GUICHET Mia" in roster
    bus = client.get(f"/listes/bus?week_id={cat.week_ids[1]}").get_data(as_text=True)
    assert "GUICHET Léo" in bus and "GUICHET Mia" not in bus


def test_desk_booking_keeps_the_capacity_rules(app, factory, make_client, login, closed_window):
    cat, family = closed_window
    leo, mia = family.child_ids
    other = factory.household(last_name="Avant", children=[("Sam", 8)])
    # Week 1 has one place and it is taken; the bus has one seat and it is taken in week 2.
    ops_data.reserve(app, other.id, other.child_ids[0], cat.week_ids[0])
    ops_data.reserve(app, other.id, other.child_ids[0], cat.week_ids[1], stop_id=cat.stop_ids[0],
                     circuit_id=cat.circuit_id)
    client = login(make_client(), factory.staff().email)

    html = client.post(f"/guichet/foyer/{family.id}/ajouter",
                       data={"child_id": leo, "week_id": cat.week_ids[0], "transport": "onsite"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Cette semaine est complète" in html
    html = client.post(f"/guichet/foyer/{family.id}/ajouter",
                       data={"child_id": leo, "week_id": cat.week_ids[1], "transport": f"stop:{cat.stop_ids[2]}"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Plus de place dans le bus" in html
    assert _state(app, family.id)["lines"] == []

    # Same child twice in a week: refused by the same rule as for parents.
    client.post(f"/guichet/foyer/{family.id}/ajouter",
                data={"child_id": mia, "week_id": cat.week_ids[1], "transport": "onsite"})
    html = client.post(f"/guichet/foyer/{family.id}/ajouter",
                       data={"child_id": mia, "week_id": cat.week_ids[1], "transport": "onsite"},
                       follow_redirects=True).get_data(as_text=True)
    assert "déjà dans votre panier" in html or "déjà inscrit" in html
    assert len(_state(app, family.id)["lines"]) == 1


def test_desk_forms_explain_bad_input(app, factory, make_client, login, closed_window):
    cat, family = closed_window
    client = login(make_client(), factory.staff().email)
    url = f"/guichet/foyer/{family.id}"
    html = client.post(url + "/ajouter", data={"child_id": family.child_ids[0], "week_id": cat.week_ids[1]},
                       follow_redirects=True).get_data(as_text=True)
    assert "Choisissez le transport" in html
    html = client.post(url + "/ajouter", data={"week_id": "abc"}, follow_redirects=True).get_data(as_text=True)
    assert "Choisissez l&#39;enfant et la semaine." in html or "Choisissez l'enfant et la semaine." in html
    html = client.post(url + "/payer", data={"method": "cash"}, follow_redirects=True).get_data(as_text=True)
    assert "Le panier de cette famille est vide" in html
    html = client.post(url + "/payer", data={"method": "bitcoin"}, follow_redirects=True).get_data(as_text=True)
    assert "Choisissez le moyen de paiement." in html
    # A child of another household cannot be booked through this one.
    stranger = factory.household(last_name="Autre", children=[("Zed", 8)])
    html = client.post(url + "/ajouter", data={"child_id": stranger.child_ids[0], "week_id": cat.week_ids[1],
                                               "transport": "onsite"}, follow_redirects=True).get_data(as_text=True)
    assert "n&#39;est pas rattaché" in html or "n'est pas rattaché" in html
    assert _state(app, family.id)["lines"] == []


def test_remove_a_line_at_the_desk(app, factory, make_client, login, closed_window):
    cat, family = closed_window
    client = login(make_client(), factory.staff().email)
    client.post(f"/guichet/foyer/{family.id}/ajouter",
                data={"child_id": family.child_ids[0], "week_id": cat.week_ids[1], "transport": "onsite"})
    from app.models import Reservation, db

    with app.app_context():
        line_id = db.session.query(Reservation.id).filter_by(household_id=family.id).scalar()
    html = client.post(f"/guichet/foyer/{family.id}/retirer/{line_id}", follow_redirects=True).get_data(as_text=True)
    assert "Semaine retirée du panier." in html
    assert _state(app, family.id)["lines"][0][2] == "removed"


def test_desk_search_finds_by_name_phone_and_guardian(app, factory, make_client, login, closed_window):
    _, family = closed_window
    ops_data.add_guardian(app, family.id, "Bruno", "Zorglub", "0755443322")
    client = login(make_client(), factory.staff().email)
    for q in ("guichet", "Zorglub", "0755443322", str(family.id)):
        html = client.get("/guichet/", query_string={"q": q}).get_data(as_text=True)
        assert f"/guichet/foyer/{family.id}" in html, q
    html = client.get("/guichet/", query_string={"q": "personne%_"}).get_data(as_text=True)
    assert "Aucune famille ne correspond" in html


def test_desk_actions_need_the_csrf_token(app, factory, make_client, login, closed_window):
    cat, family = closed_window
    client = login(make_client(), factory.staff().email)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        data = {"child_id": family.child_ids[0], "week_id": cat.week_ids[1], "transport": "onsite"}
        assert client.post(f"/guichet/foyer/{family.id}/ajouter", data=data).status_code == 400
        assert _state(app, family.id)["lines"] == []
        page = client.get(f"/guichet/foyer/{family.id}?child_id={family.child_ids[0]}&week_id={cat.week_ids[1]}")
        token = _csrf(page.get_data(as_text=True))
        response = client.post(f"/guichet/foyer/{family.id}/ajouter", data={**data, "csrf_token": token})
        assert response.status_code == 302
        assert len(_state(app, family.id)["lines"]) == 1
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
