"""The parent API of issue 14: cancel a reservation (credit, pending_review, refused with 409),
read the credit account, and the checkout answer showing the credit applied; isolation."""
from __future__ import annotations

from tests.credit_helpers import book_and_pay


def test_cancel_then_account_then_checkout_with_credit(app, factory, client, make_client):
    from tests.support.clients import jwt_headers

    cat = factory.catalog(capacities=(10, 10))
    fam = factory.household(last_name="Blanc", children=[("Léo", 8)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    headers = jwt_headers(client, fam.email)

    preview = client.get(f"/api/v1/portal/reservations/{line}/cancel", headers=headers)
    assert preview.status_code == 200 and preview.json["outcome"] == "credit"
    assert preview.json["message"].startswith("Annulation gratuite jusqu'au ")

    other = factory.household(last_name="Autre")
    other_headers = jwt_headers(make_client(), other.email)
    assert client.post(f"/api/v1/portal/reservations/{line}/cancel", json={}, headers=other_headers).status_code == 404
    assert client.post("/api/v1/portal/reservations/99999999999/cancel", headers=headers).status_code == 404

    done = client.post(f"/api/v1/portal/reservations/{line}/cancel", json={}, headers=headers)
    assert done.status_code == 200, done.json
    assert done.json["outcome"] == "credit" and done.json["amount_cents"] == 4500
    again = client.post(f"/api/v1/portal/reservations/{line}/cancel", headers=headers)
    assert again.status_code == 409 and again.json["outcome"] == "refused" and again.json["code"] == "not_confirmed"

    account = client.get("/api/v1/portal/account", headers=headers).json
    assert account["credit_cents"] == 4500
    assert account["credits"][0]["number"].startswith("AV-") and account["credits"][0]["amount_cents"] == 4500
    assert client.get("/api/v1/portal/account", headers=other_headers).json["credit_cents"] == 0

    for week_id in cat.week_ids:
        added = client.post("/api/v1/portal/basket/lines", headers=headers, json={
            "child_id": fam.child_ids[0], "week_id": week_id, "transport": {"mode": "onsite"}})
        assert added.status_code == 201, added.json
    paid = client.post("/api/v1/portal/basket/checkout", headers=headers)
    assert paid.status_code == 200, paid.json
    assert paid.json["credit_cents"] == 4500 and paid.json["amount_cents"] == 4500 and paid.json["payment_url"]


def test_late_cancel_needs_a_justification(app, factory, client):
    from app.models import Week, db
    from tests.support.clients import jwt_headers

    cat = factory.catalog(capacities=(10,))
    fam = factory.household(last_name="Noir", children=[("Ana", 8)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    from app.services.booking.cancellation import set_rules
    from app.services.transactions import unit_of_work

    with app.app_context():
        starts = db.session.get(Week, cat.week_ids[0]).starts_on
        from datetime import date

        days = (starts - date.today()).days + 5  # the free deadline is already past
        with unit_of_work():
            set_rules(cat.period_id, free_days_before=days, late_with_justification=True, outcome="credit",
                      actor=None)
    headers = jwt_headers(client, fam.email)
    refused = client.post(f"/api/v1/portal/reservations/{line}/cancel", headers=headers, json={})
    assert refused.status_code == 409 and refused.json["code"] == "justification_required"
    bad = client.post(f"/api/v1/portal/reservations/{line}/cancel", headers=headers, json={"document_id": "x"})
    assert bad.status_code == 400
    pending = client.post(f"/api/v1/portal/reservations/{line}/cancel", headers=headers,
                          json={"reason": "Fracture du bras, certificat envoyé"})
    assert pending.status_code == 200 and pending.json["outcome"] == "pending_review"
