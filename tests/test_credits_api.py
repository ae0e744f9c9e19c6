"""The parent API of issue 14: cancel a reservation (credit, pending_review, refused with 409),
read the credit account, and the checkout answer showing the credit applied; isolation."""
from __future__ import annotations

from app.services.localize import paris_today
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

        days = (starts - paris_today()).days + 5  # the free deadline is already past
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


def test_basket_shows_each_lines_rule_and_the_credit_taken_at_checkout(app, factory, client, make_client):
    """GET /basket: the published cancellation rule of each line, the avoir the checkout will
    deduct and the rest to pay; another household's basket shows none of it."""
    from tests.support.clients import jwt_headers

    cat = factory.catalog(capacities=(10, 10))
    fam = factory.household(last_name="Vert", children=[("Léo", 8)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    headers = jwt_headers(client, fam.email)
    assert client.post(f"/api/v1/portal/reservations/{line}/cancel", json={}, headers=headers).json[
        "outcome"] == "credit"

    empty = client.get("/api/v1/portal/basket", headers=headers).json
    assert empty["cancellation_terms"] == [] and empty["credit_cents"] == 4500
    assert empty["credit_applied_cents"] == 0 and empty["to_pay_cents"] == 0

    for week_id in cat.week_ids:
        assert client.post("/api/v1/portal/basket/lines", headers=headers, json={
            "child_id": fam.child_ids[0], "week_id": week_id, "transport": {"mode": "onsite"}}).status_code == 201
    basket = client.get("/api/v1/portal/basket", headers=headers).json
    assert basket["total_cents"] == 9000
    assert basket["credit_cents"] == 4500 and basket["credit_applied_cents"] == 4500
    assert basket["to_pay_cents"] == 4500
    terms = basket["cancellation_terms"]
    assert [term["line_id"] for term in terms] == [item["id"] for item in basket["lines"]]
    assert all(term["sentence"].startswith("Annulation gratuite jusqu'au ") and "avoir" in term["sentence"]
               for term in terms)
    assert terms[0]["label"].startswith("Léo — ")

    # The same figures the checkout then takes.
    paid = client.post("/api/v1/portal/basket/checkout", headers=headers).json
    assert paid["credit_cents"] == basket["credit_applied_cents"] and paid["amount_cents"] == basket["to_pay_cents"]

    other = factory.household(last_name="Autre", children=[("Zoé", 8)])
    other_headers = jwt_headers(make_client(), other.email)
    theirs = client.get("/api/v1/portal/basket", headers=other_headers).json
    assert theirs["cancellation_terms"] == [] and theirs["lines"] == []
    assert theirs["credit_cents"] == 0 and theirs["credit_applied_cents"] == 0 and theirs["to_pay_cents"] == 0


def test_basket_fully_covered_by_credit_has_nothing_to_pay(app, factory, client):
    from tests.support.clients import jwt_headers

    cat = factory.catalog(capacities=(10, 10))
    fam = factory.household(last_name="Rose", children=[("Ana", 8), ("Léo", 9)])
    for child_id in fam.child_ids:
        book_and_pay(app, fam.id, child_id, cat.week_ids[0])
    headers = jwt_headers(client, fam.email)
    reservations = client.get("/api/v1/portal/reservations", headers=headers).json["reservations"]
    for item in reservations:
        client.post(f"/api/v1/portal/reservations/{item['id']}/cancel", json={}, headers=headers)
    client.post("/api/v1/portal/basket/lines", headers=headers, json={
        "child_id": fam.child_ids[0], "week_id": cat.week_ids[1], "transport": {"mode": "onsite"}})
    basket = client.get("/api/v1/portal/basket", headers=headers).json
    assert basket["credit_cents"] == 9000 and basket["credit_applied_cents"] == 4500 and basket["to_pay_cents"] == 0


def test_cancel_answer_splits_credit_and_refund_under_a_refund_rule(app, factory, client):
    """A period whose rule refunds the card: a week paid half by an avoir comes back half on the card,
    half as credit; the answer says both, and the free deadline, on GET and POST alike."""
    from app.services.booking.cancellation import set_rules
    from app.services.transactions import unit_of_work
    from tests.credit_helpers import add, assert_money_conserved, checkout, pay
    from tests.support.clients import jwt_headers

    cat = factory.catalog(capacities=(10, 10, 10))
    fam = factory.household(last_name="Brun", children=[("Léo", 8)])
    first = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    headers = jwt_headers(client, fam.email)
    credited = client.post(f"/api/v1/portal/reservations/{first}/cancel", json={}, headers=headers).json
    assert (credited["outcome"], credited["credit_cents"], credited["refund_cents"]) == ("credit", 4500, 0)

    for week_id in cat.week_ids[1:]:
        add(app, fam.id, fam.child_ids[0], week_id)
    result = checkout(app, fam.id)
    assert result.amount_cents == 4500  # the other half is the avoir
    pay(app, result)
    with app.app_context():
        with unit_of_work():
            set_rules(cat.period_id, free_days_before=7, late_with_justification=True, outcome="refund", actor=None)
    line = next(item["id"] for item in client.get("/api/v1/portal/reservations", headers=headers).json[
        "reservations"] if item["status"] == "confirmed")

    preview = client.get(f"/api/v1/portal/reservations/{line}/cancel", headers=headers).json
    assert preview["outcome"] == "refund" and preview["free_until"]
    done = client.post(f"/api/v1/portal/reservations/{line}/cancel", json={}, headers=headers)
    assert done.status_code == 200, done.json
    assert done.json["outcome"] == "refund"
    assert done.json["refund_cents"] == 2250 and done.json["credit_cents"] == 2250
    assert done.json["free_until"] == preview["free_until"]
    assert "2250" not in done.json["message"] and "22,50" in done.json["message"]
    m = assert_money_conserved(app, fam.id)
    assert m["refunded"] == 2250 and m["balance"] == 2250


def test_cancel_answer_after_a_justified_absence_avoir_gives_the_rest(app, factory, client):
    """A day already given back as an avoir is not given twice: the answer's amount is what came back."""
    from app.models import Attendance, Reservation, db
    from app.services.operations.absence_credit import credit_justified_absence
    from tests.support.clients import jwt_headers

    cat = factory.catalog(capacities=(10,))
    fam = factory.household(last_name="Gris", children=[("Léo", 8)])
    staff = factory.staff()
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    with app.app_context():
        row = Attendance(establishment_id=cat.establishment_id, child_id=fam.child_ids[0], reservation_id=line,
                         day=db.session.get(Reservation, line).week.starts_on, status="absent",
                         absence_reason="justified")
        db.session.add(row)
        db.session.commit()
        share = credit_justified_absence(row.id, certificate_received=True,
                                         actor=app.appbuilder.sm.get_user_by_id(staff.id)).amount_cents
    headers = jwt_headers(client, fam.email)
    done = client.post(f"/api/v1/portal/reservations/{line}/cancel", json={}, headers=headers).json
    assert done["outcome"] == "credit" and 0 < share < 4500
    assert done["amount_cents"] == done["credit_cents"] == 4500 - share and done["refund_cents"] == 0
    assert client.get("/api/v1/portal/account", headers=headers).json["credit_cents"] == 4500
