"""The parent JSON API: JWT login, every reason code, isolation, malformed input, OpenAPI listing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.booking_helpers import add, confirm_basket, count_rows
from tests.support.clients import jwt_headers

API = "/api/v1/portal"


@pytest.fixture
def api(app):
    """A JWT-authenticated client for a person: api(email) -> (client, headers)."""
    def _api(email):
        client = app.test_client()
        return client, jwt_headers(client, email)

    return _api


def _post_line(client, headers, child_id, week_id, transport=None):
    return client.post(f"{API}/basket/lines", headers=headers,
                       json={"child_id": child_id, "week_id": week_id, "transport": transport or {"mode": "onsite"}})


# --- authentication ------------------------------------------------------------------------

def test_jwt_is_required_and_browser_sessions_are_not_enough(app, factory, login):
    family = factory.household()
    assert app.test_client().get(f"{API}/children").status_code == 401
    browser = login(app.test_client(), family.email)  # a session cookie, no token
    assert browser.get(f"{API}/children").status_code == 401
    assert browser.post(f"{API}/basket/lines", json={}).status_code == 401


def test_wrong_password_gets_no_token(app, factory):
    family = factory.household()
    response = app.test_client().post("/api/v1/security/login",
                                      json={"username": family.email, "password": "faux", "provider": "db"})
    assert response.status_code == 401


def test_staff_token_cannot_use_the_parent_api(app, factory, api):
    client, headers = api(factory.staff().email)
    assert client.get(f"{API}/children", headers=headers).status_code == 403


# --- reading -------------------------------------------------------------------------------

def test_children_lists_own_children_with_status(app, factory, api):
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    factory.household(children=[("Inconnu", 7)])
    client, headers = api(family.email)
    body = client.get(f"{API}/children", headers=headers).get_json()
    assert body["household"] == {"status": "validated", "validated": True}
    assert sorted(c["id"] for c in body["children"]) == sorted(family.child_ids)
    assert {c["first_name"] for c in body["children"]} == {"Léa", "Tom"}
    assert all(c["link_status"] == "validated" and c["validated"] for c in body["children"])


def test_offers_give_weeks_places_and_transport(app, factory, api):
    catalog = factory.catalog(capacities=(4, 2), seats=3)
    family = factory.household()
    client, headers = api(family.email)
    body = client.get(f"{API}/children/{family.child_ids[0]}/offers", headers=headers).get_json()
    period = body["establishments"][0]["periods"][0]
    assert [(w["id"], w["places_left"], w["available"]) for w in period["weeks"]] == [
        (catalog.week_ids[0], 4, True), (catalog.week_ids[1], 2, True)]
    circuit = period["transport"]["circuits"][0]
    assert [s["id"] for s in circuit["stops"]] == catalog.stop_ids
    assert {"id", "name", "pickup_time", "dropoff_time"} <= set(circuit["stops"][0])
    assert [s["seats_left"] for s in circuit["seats_left"]] == [3, 3]


@pytest.mark.parametrize("setup", ["household_not_validated", "child_not_validated", "age", "not_open_yet",
                                   "closed", "full", "already_booked", "already_in_basket"])
def test_every_reason_code_through_the_api(app, factory, api, setup):
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
    if setup == "already_booked":  # by the child's other household, only held
        other = factory.household()
        factory.link_child(other.id, child)
        add(app, other.id, child, week)
    if setup == "already_in_basket":
        add(app, family.id, child, week)
    client, headers = api(family.email)
    offers = client.get(f"{API}/children/{child}/offers", headers=headers).get_json()
    week_offer = offers["establishments"][0]["periods"][0]["weeks"][0]
    assert week_offer["available"] is False and week_offer["reason"]["code"] == setup
    before = count_rows(app, Reservation)
    response = _post_line(client, headers, child, week)
    assert response.status_code == 409
    body = response.get_json()
    assert body["code"] == setup and body["message"] and body["message"] == week_offer["reason"]["message"]
    assert count_rows(app, Reservation) == before


def test_add_line_then_basket_then_delete(app, factory, api):
    catalog = factory.catalog(bus_price_cents=500)
    family = factory.household(quotient=650)
    client, headers = api(family.email)
    response = _post_line(client, headers, family.child_ids[0], catalog.week_ids[0],
                          {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    assert response.status_code == 201
    created = response.get_json()
    line = created["line"]
    assert line["transport"]["stop"]["id"] == catalog.stop_ids[0] and line["total_cents"] == 5000
    assert created["expires_at"] and created["total_cents"] == 5000
    basket = client.get(f"{API}/basket", headers=headers).get_json()
    assert [l["id"] for l in basket["lines"]] == [line["id"]]
    assert basket["total_cents"] == 5000 and basket["expires_at"] == created["expires_at"]
    assert "expires_at_dt" not in basket
    assert client.delete(f"{API}/basket/lines/{line['id']}", headers=headers).status_code == 200
    again = client.delete(f"{API}/basket/lines/{line['id']}", headers=headers)
    assert again.status_code == 409 and again.get_json()["code"] == "not_in_basket"
    assert client.get(f"{API}/basket", headers=headers).get_json()["lines"] == []


def test_bus_full_through_the_api(app, factory, api):
    catalog = factory.catalog(seats=1)
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    client, headers = api(family.email)
    bus = {"mode": "bus", "stop_id": catalog.stop_ids[0]}
    assert _post_line(client, headers, family.child_ids[0], catalog.week_ids[0], bus).status_code == 201
    response = _post_line(client, headers, family.child_ids[1], catalog.week_ids[0], bus)
    assert response.status_code == 409 and response.get_json()["code"] == "full"


def test_basket_in_checkout_through_the_api(app, factory, api):
    from app.models import Basket, db

    catalog = factory.catalog()
    family = factory.household()
    add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    with app.app_context():
        db.session.query(Basket).update({"status": "checkout"})
        db.session.commit()
    client, headers = api(family.email)
    response = _post_line(client, headers, family.child_ids[0], catalog.week_ids[1])
    assert response.status_code == 409 and response.get_json()["code"] == "basket_in_checkout"
    assert "paiement" in response.get_json()["message"]


def test_reservations_lists_confirmed_lines(app, factory, api):
    catalog = factory.catalog()
    family = factory.household()
    add(app, family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[1]})
    confirm_basket(app, family.id)
    client, headers = api(family.email)
    rows = client.get(f"{API}/reservations", headers=headers).get_json()["reservations"]
    assert [(r["week"]["id"], r["status"], r["transport"]["stop"]["id"]) for r in rows] == [
        (catalog.week_ids[0], "confirmed", catalog.stop_ids[1])]
    assert rows[0]["stop_change_open"] is True


def test_busy_is_503_with_a_french_message(app, factory, api, monkeypatch):
    from app.services.booking import basket
    from app.services.errors import Busy

    catalog = factory.catalog()
    family = factory.household()

    def locked(_ids):
        raise Busy("Beaucoup de familles réservent en ce moment : réessayez.", code="busy")

    monkeypatch.setattr(basket, "lock_weeks", locked)
    monkeypatch.setattr(basket.fast_hold, "available", lambda: False)  # its real lock timeout: test_concurrency_pg
    client, headers = api(family.email)
    response = _post_line(client, headers, family.child_ids[0], catalog.week_ids[0])
    assert response.status_code == 503
    assert response.get_json()["code"] == "busy" and "réessayez" in response.get_json()["message"]
    assert response.headers.get("Retry-After")


# --- isolation -----------------------------------------------------------------------------

def test_another_household_ids_are_404(app, factory, api):
    catalog = factory.catalog()
    family = factory.household()
    stranger = factory.household()
    foreign_line = add(app, stranger.id, stranger.child_ids[0], catalog.week_ids[0])
    client, headers = api(family.email)
    assert client.get(f"{API}/children/{stranger.child_ids[0]}/offers", headers=headers).status_code == 404
    response = _post_line(client, headers, stranger.child_ids[0], catalog.week_ids[1])
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    assert client.delete(f"{API}/basket/lines/{foreign_line}", headers=headers).status_code == 404
    assert client.get(f"{API}/basket", headers=headers).get_json()["lines"] == []
    assert client.get(f"{API}/reservations", headers=headers).get_json()["reservations"] == []
    stranger_client, stranger_headers = api(stranger.email)
    assert len(stranger_client.get(f"{API}/basket", headers=stranger_headers).get_json()["lines"]) == 1


def test_shared_child_is_seen_by_both_households_never_the_other_household(app, factory, api):
    catalog = factory.catalog()
    mother = factory.household(last_name="Martin")
    father = factory.household(last_name="Durand")
    child = mother.child_ids[0]
    factory.link_child(father.id, child)
    add(app, mother.id, child, catalog.week_ids[0])
    client, headers = api(father.email)
    assert child in [c["id"] for c in client.get(f"{API}/children", headers=headers).get_json()["children"]]
    text = client.get(f"{API}/children/{child}/offers", headers=headers).get_data(as_text=True)
    assert "already_booked" in text
    assert "Foyer Martin" not in text and mother.email not in text and f'"household_id":{mother.id}' not in text
    assert client.get(f"{API}/basket", headers=headers).get_json()["lines"] == []


# --- malformed input -----------------------------------------------------------------------

@pytest.mark.parametrize("body, code", [
    ("not json", "invalid"),
    ([1, 2], "invalid"),
    ({}, "invalid"),
    ({"child_id": "un", "week_id": 1, "transport": {"mode": "onsite"}}, "invalid"),
    ({"child_id": True, "week_id": 1, "transport": {"mode": "onsite"}}, "invalid"),
    ({"child_id": -3, "week_id": 1, "transport": {"mode": "onsite"}}, "invalid"),
    ({"child_id": 1, "week_id": None, "transport": {"mode": "onsite"}}, "invalid"),
    ({"child_id": 1, "week_id": 1}, "transport_required"),
    ({"child_id": 1, "week_id": 1, "transport": "bus"}, "transport_required"),
    ({"child_id": 1, "week_id": 1, "transport": {}}, "transport_required"),
    ({"child_id": 1, "week_id": 1, "transport": {"mode": "avion"}}, "invalid_transport"),
    ({"child_id": 1, "week_id": 1, "transport": {"mode": "bus"}}, "stop_required"),
    ({"child_id": 1, "week_id": 1, "transport": {"mode": "bus", "stop_id": "x"}}, "invalid_stop"),
    ({"child_id": 1, "week_id": 1, "transport": {"mode": "bus", "stop_id": 1.5}}, "invalid_stop"),
    ({"child_id": 10**12, "week_id": 1, "transport": {"mode": "onsite"}}, "invalid"),
])
def test_malformed_bodies_get_400_in_french(app, factory, api, body, code):
    factory.catalog()
    family = factory.household()
    client, headers = api(family.email)
    if isinstance(body, str):
        response = client.post(f"{API}/basket/lines", headers={**headers, "Content-Type": "application/json"},
                               data=body)
    else:
        response = client.post(f"{API}/basket/lines", headers=headers, json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    payload = response.get_json()
    assert payload["code"] == code
    assert any(word in payload["message"].lower() for word in ("doit", "choisissez", "obligatoire"))


def test_unknown_week_is_404_and_bad_url_ids_are_404(app, factory, api):
    factory.catalog()
    family = factory.household()
    client, headers = api(family.email)
    assert _post_line(client, headers, family.child_ids[0], 999999).status_code == 404
    assert client.get(f"{API}/children/abc/offers", headers=headers).status_code == 404
    assert client.delete(f"{API}/basket/lines/abc", headers=headers).status_code == 404
    huge = 10**25  # larger than any database integer: still a plain 404
    assert client.get(f"{API}/children/{huge}/offers", headers=headers).status_code == 404
    assert client.delete(f"{API}/basket/lines/{huge}", headers=headers).status_code == 404


# --- OpenAPI -------------------------------------------------------------------------------

def test_openapi_lists_the_portal_routes(app, factory, api):
    client, headers = api(factory.admin().email)
    spec = client.get("/api/v1/_openapi", headers=headers).get_json()
    paths = spec["paths"]
    expected = {
        "/api/v1/portal/children": "get",
        "/api/v1/portal/children/{child_id}/offers": "get",
        "/api/v1/portal/basket": "get",
        "/api/v1/portal/basket/lines": "post",
        "/api/v1/portal/basket/lines/{line_id}": "delete",
        "/api/v1/portal/reservations": "get",
    }
    for path, method in expected.items():
        assert method in paths[path], path
        assert paths[path][method].get("responses"), path
    assert "409" in paths["/api/v1/portal/basket/lines"]["post"]["responses"]
    assert "PortalReason" in spec["components"]["schemas"]


def test_offers_carry_an_etag_and_a_refresh_with_nothing_changed_gets_304(app, factory, api):
    catalog = factory.catalog(capacities=(2,))
    family, other = factory.household(), factory.household()
    client, headers = api(family.email)
    url = f"{API}/children/{family.child_ids[0]}/offers"
    first = client.get(url, headers=headers)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "private, max-age=5"
    assert "Authorization" in first.headers["Vary"]
    etag = first.headers["ETag"]

    again = client.get(url, headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""

    # Another family takes a place: the same ETag no longer matches, the new count comes back.
    other_client, other_headers = api(other.email)
    assert _post_line(other_client, other_headers, other.child_ids[0], catalog.week_ids[0]).status_code == 201
    changed = client.get(url, headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    week = next(w for e in changed.get_json()["establishments"] for p in e["periods"] for w in p["weeks"]
                if w["id"] == catalog.week_ids[0])
    assert week["places_left"] == 1
