"""The waiting list through the parent JSON API: join (201 with rank), list with offers and their
deadline, leave, pay an offer through the ordinary checkout; refusals, isolation, OpenAPI."""
from __future__ import annotations

import pytest

from tests.booking_helpers import add
from tests.support.clients import jwt_headers

API = "/api/v1/portal"


@pytest.fixture
def api(app):
    def _api(email):
        client = app.test_client()
        return client, jwt_headers(client, email)

    return _api


@pytest.fixture
def full(app, factory):
    """A week of one place held by another family."""
    catalog = factory.catalog(capacities=(1, 5))
    holder = factory.household()
    line = add(app, holder.id, holder.child_ids[0], catalog.week_ids[0])
    return catalog, holder, line


def _join(client, headers, child_id, week_id, transport=None):
    return client.post(f"{API}/waitlist", headers=headers,
                       json={"child_id": child_id, "week_id": week_id, "transport": transport or {"mode": "onsite"}})


def test_join_list_and_leave(app, factory, api, full):
    catalog, _holder, _line = full
    first, second = factory.household(), factory.household()
    c1, h1 = api(first.email)
    c2, h2 = api(second.email)
    response = _join(c1, h1, first.child_ids[0], catalog.week_ids[0])
    assert response.status_code == 201
    body = response.get_json()
    assert body["position"] == 1 and body["status"] == "waiting" and body["id"]
    r2 = _join(c2, h2, second.child_ids[0], catalog.week_ids[0],
               {"mode": "any", "stop_id": catalog.stop_ids[0]})
    assert r2.status_code == 201 and r2.get_json()["position"] == 2
    again = _join(c1, h1, first.child_ids[0], catalog.week_ids[0])
    assert again.status_code == 409 and again.get_json()["code"] == "already_waiting"
    listing = c2.get(f"{API}/waitlist", headers=h2).get_json()["entries"]
    assert [(e["position"], e["status"], e["offer_expires_at"]) for e in listing] == [(2, "waiting", None)]
    assert listing[0]["transport"] == {"mode": "any", "label": "bus ou sur place",
                                       "stop": listing[0]["transport"]["stop"]}
    # Isolation: the other family's entry is simply not found.
    assert c2.delete(f"{API}/waitlist/{body['id']}", headers=h2).status_code == 404
    assert c1.delete(f"{API}/waitlist/{body['id']}", headers=h1).status_code == 200
    assert c2.get(f"{API}/waitlist", headers=h2).get_json()["entries"][0]["position"] == 1


def test_join_refusals_and_malformed_bodies(app, factory, api, full):
    catalog, _holder, _line = full
    family = factory.household()
    client, headers = api(family.email)
    not_full = _join(client, headers, family.child_ids[0], catalog.week_ids[1])
    assert not_full.status_code == 409 and not_full.get_json()["code"] == "not_full"
    bad_mode = _join(client, headers, family.child_ids[0], catalog.week_ids[0], {"mode": "avion"})
    assert bad_mode.status_code == 400 and bad_mode.get_json()["code"] == "invalid_transport"
    no_stop = _join(client, headers, family.child_ids[0], catalog.week_ids[0], {"mode": "bus"})
    assert no_stop.status_code == 400 and no_stop.get_json()["code"] == "stop_required"
    stranger = factory.household()
    other_child = _join(client, headers, stranger.child_ids[0], catalog.week_ids[0])
    assert other_child.status_code == 404
    assert client.post(f"{API}/waitlist", headers=headers, json=[]).status_code == 400
    assert client.delete(f"{API}/waitlist/99999999999", headers=headers).status_code == 404


def test_an_offer_is_listed_with_its_deadline_and_paid_in_one_call(app, factory, api, full):
    from app.services.booking import basket

    catalog, holder, line = full
    family = factory.household()
    client, headers = api(family.email)
    entry = _join(client, headers, family.child_ids[0], catalog.week_ids[0]).get_json()
    with app.app_context():
        basket.remove_line(holder.id, line)
    [item] = client.get(f"{API}/waitlist", headers=headers).get_json()["entries"]
    assert item["status"] == "offered" and item["offer_expires_at"] and item["offer_total_cents"] == 4500
    # The offer also shows where the parent pays: the basket's answer, with its deadline and pay path.
    held = client.get(f"{API}/basket", headers=headers).get_json()
    assert held["basket_id"] is None and held["lines"] == []
    [offer] = held["waitlist_offers"]
    assert offer["id"] == entry["id"] and offer["offer_expires_at"] == item["offer_expires_at"]
    assert offer["offer_total_cents"] == 4500 and offer["child"]["id"] == family.child_ids[0]
    assert offer["week"]["id"] == catalog.week_ids[0] and offer["offer_transport"]
    assert offer["pay_path"] == f"{API}/waitlist/{entry['id']}/pay"
    # Another family's basket shows none of it.
    stranger, stranger_headers = api(factory.household().email)
    assert stranger.get(f"{API}/basket", headers=stranger_headers).get_json()["waitlist_offers"] == []
    paid = client.post(f"{API}/waitlist/{entry['id']}/pay", headers=headers)
    assert paid.status_code == 200
    body = paid.get_json()
    assert body["status"] == "payment_required" and body["amount_cents"] == 4500
    assert "/payments/sandbox/" in body["payment_url"]
    # The offer is now the household's basket, paid through the ordinary checkout.
    assert client.get(f"{API}/basket", headers=headers).get_json()["basket_id"] == body["basket_id"]
    from app.models import Payment, WaitlistEntry, WaitlistOffer, db
    from app.services import payments

    with app.app_context():  # the sandbox page paid: the ordinary fulfilment
        payment = db.session.query(Payment).filter_by(basket_id=body["basket_id"]).one()
        assert payments.fulfil(payment.id, source="test").outcome == "confirmed"
    [item] = client.get(f"{API}/waitlist", headers=headers).get_json()["entries"]
    assert item["status"] == "accepted" and item["position"] is None and item["offer_expires_at"] is None
    assert client.get(f"{API}/basket", headers=headers).get_json()["waitlist_offers"] == []
    with app.app_context():  # recorded at the payment, not only read lazily
        assert db.session.get(WaitlistEntry, entry["id"]).status == "accepted"
        assert [o.outcome for o in db.session.query(WaitlistOffer).filter_by(entry_id=entry["id"])] == ["accepted"]


def test_paying_without_an_offer_is_refused(app, factory, api, full):
    catalog, _holder, _line = full
    family = factory.household()
    client, headers = api(family.email)
    entry = _join(client, headers, family.child_ids[0], catalog.week_ids[0]).get_json()
    response = client.post(f"{API}/waitlist/{entry['id']}/pay", headers=headers)
    assert response.status_code == 409 and response.get_json()["code"] == "no_offer"


def test_openapi_documents_the_waitlist(app, factory, api):
    client, headers = api(factory.admin().email)
    spec = client.get("/api/v1/_openapi", headers=headers).get_json()
    paths = spec["paths"]
    assert "201" in paths["/api/v1/portal/waitlist"]["post"]["responses"]
    assert "get" in paths["/api/v1/portal/waitlist"]
    assert "delete" in paths["/api/v1/portal/waitlist/{entry_id}"]
    assert "post" in paths["/api/v1/portal/waitlist/{entry_id}/pay"]
    for name in ("PortalWaitlistJoinRequest", "PortalWaitlistJoined", "PortalWaitlist", "PortalWaitlistEntry"):
        assert name in spec["components"]["schemas"], name
    statuses = spec["components"]["schemas"]["PortalWaitlistEntry"]["properties"]["status"]["enum"]
    assert set(statuses) == {"waiting", "offered", "accepted", "lapsed", "withdrawn", "closed"}
    # Offers where the parent pays: the basket's answer documents them.
    basket = spec["components"]["schemas"]["PortalBasket"]["properties"]
    assert "waitlist_offers" in basket and "PortalBasketOffer" in spec["components"]["schemas"]
    assert "waitlist_offers" in paths["/api/v1/portal/basket"]["get"]["description"]
