"""The parent pages' remaining actions in the JSON API (issue 20): the household file (household,
guardians, children, health, pick-up people, documents, submit), the stop change, leaving the
payment page to change the basket, the receipts; the same services and French refusals as the
pages; another household's ids are 404. And the parity rule: every parent page action (a POST of
a Parent…View) has its API twin, derived from the app's own routes."""
from __future__ import annotations

from tests import dossier_helpers
from tests.credit_helpers import book_and_pay
from tests.support.clients import jwt_headers

API = "/api/v1/portal"


def test_household_file_through_the_api(app, factory, client, make_client):
    family = factory.household(status="draft", children=[("Léa", 8)])
    other = factory.household(children=[("Tom", 8)])
    headers = jwt_headers(client, family.email)
    other_headers = jwt_headers(make_client(), other.email)
    child = family.child_ids[0]

    shown = client.get(f"{API}/dossier", headers=headers)
    assert shown.status_code == 200 and shown.json["status"] == "draft"
    assert shown.json["household"]["postcode"] == "83890"
    assert [c["id"] for c in shown.json["children"]] == [child]

    # « Mon foyer »: every mistake at once, in French, per field (the page's own messages).
    bad = client.put(f"{API}/dossier/household", headers=headers, json={
        "email": family.email, "phone": "0611223344", "address_line": "2 rue Neuve", "postcode": "833",
        "city": "Le Luc", "caf_number": "", "declared_quotient": "beaucoup"})
    assert bad.status_code == 400
    errors = bad.json["details"]["errors"]
    assert errors["postcode"].startswith("Le code postal compte 5 chiffres")
    assert errors["declared_quotient"].startswith("Indiquez un nombre entier")
    assert client.put(f"{API}/dossier/household", headers=headers, data="x").status_code == 400
    good = client.put(f"{API}/dossier/household", headers=headers, json={
        "email": family.email, "phone": "0611223344", "address_line": "2 rue Neuve", "postcode": "83340",
        "city": "Le Luc", "caf_number": "7654321", "declared_quotient": 820})
    assert good.status_code == 200, good.json
    assert client.get(f"{API}/dossier", headers=headers).json["household"]["address_line"] == "2 rue Neuve"

    # Guardians: add, change, remove; another household's guardian is 404.
    added = client.post(f"{API}/dossier/guardians", headers=headers, json={
        "first_name": "Marc", "last_name": "Durand", "relationship_label": "Père", "phone": "0622334455"})
    assert added.status_code == 201, added.json
    guardian = added.json["id"]
    changed = client.put(f"{API}/dossier/guardians/{guardian}", headers=headers, json={
        "first_name": "Marc", "last_name": "Durand", "relationship_label": "Père", "phone": "0699887766"})
    assert changed.status_code == 200, changed.json
    assert client.put(f"{API}/dossier/guardians/{guardian}", headers=other_headers,
                      json={"first_name": "X", "last_name": "Y"}).status_code == 404
    assert client.delete(f"{API}/dossier/guardians/{guardian}", headers=other_headers).status_code == 404
    assert client.delete(f"{API}/dossier/guardians/99999999999", headers=headers).status_code == 404
    phones = [g["phone"] for g in client.get(f"{API}/dossier", headers=headers).json["guardians"]]
    assert "0699887766" in phones
    assert client.delete(f"{API}/dossier/guardians/{guardian}", headers=headers).status_code == 200

    # A child: add, change, health, pick-up people; another household cannot touch them.
    new = client.post(f"{API}/dossier/children", headers=headers, json={
        "first_name": "Hugo", "last_name": "Durand", "birth_date": "2019-05-04", "sex": "M"})
    assert new.status_code == 201, new.json
    hugo = new.json["id"]
    assert client.put(f"{API}/dossier/children/{hugo}", headers=headers, json={
        "first_name": "Hugo", "last_name": "Durand", "birth_date": "2019-05-04", "sex": "M",
        "school": "École Jean Moulin", "school_level": "CP", "image_rights": True}).status_code == 200
    assert client.put(f"{API}/dossier/children/{hugo}", headers=other_headers, json={}).status_code == 404
    health = client.put(f"{API}/dossier/children/{hugo}/health", headers=headers, json={
        "allergies": "Arachide", "doctor_name": "Dr Martin", "doctor_phone": "0494000000",
        "vaccinations_up_to_date": True})
    assert health.status_code == 200, health.json
    refused = client.put(f"{API}/dossier/children/{hugo}/health", headers=headers, json={"doctor_phone": "12"})
    assert refused.status_code == 400 and "doctor_phone" in refused.json["details"]["errors"]
    assert client.put(f"{API}/dossier/children/{child}/health", headers=other_headers, json={}).status_code == 404
    pickup = client.post(f"{API}/dossier/children/{hugo}/pickups", headers=headers, json={
        "name": "Jeanne Durand", "phone": "0611111111", "relationship_label": "Grand-mère"})
    assert pickup.status_code == 201, pickup.json
    assert client.delete(f"{API}/dossier/pickups/{pickup.json['id']}", headers=other_headers).status_code == 404
    assert client.delete(f"{API}/dossier/pickups/{pickup.json['id']}", headers=headers).status_code == 200
    assert client.delete(f"{API}/dossier/children/{hugo}", headers=headers).status_code == 200

    # Documents: upload (multipart), a refused file in French, take one back; submit when complete.
    from io import BytesIO

    refused_file = client.post(f"{API}/dossier/documents", headers=headers, content_type="multipart/form-data",
                               data={"kind": "insurance", "file": (BytesIO(dossier_helpers.ELF), "x.pdf")})
    assert refused_file.status_code == 400 and refused_file.json["message"]
    uploaded = client.post(f"{API}/dossier/documents", headers=headers, content_type="multipart/form-data",
                           data={"kind": "insurance", "file": (BytesIO(dossier_helpers.PDF), "assurance.pdf")})
    assert uploaded.status_code == 201, uploaded.json
    document = uploaded.json["id"]
    download = client.get(f"{API}/dossier/documents/{document}", headers=headers)
    assert download.status_code == 200 and download.data == dossier_helpers.PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert client.get(f"{API}/dossier/documents/{document}", headers=other_headers).status_code == 404
    assert client.delete(f"{API}/dossier/documents/{document}", headers=other_headers).status_code == 404
    assert client.delete(f"{API}/dossier/documents/{document}", headers=headers).status_code == 200
    incomplete = client.post(f"{API}/dossier/submit", headers=headers)
    assert incomplete.status_code == 400 and incomplete.json["code"] == "incomplete_file"
    assert client.get(f"{API}/dossier", headers=headers).json["missing"]
    dossier_helpers.fill_household(app, family.id)
    sent = client.post(f"{API}/dossier/submit", headers=headers)
    assert sent.status_code == 200, sent.json
    assert client.get(f"{API}/dossier", headers=headers).json["status"] == "submitted"
    assert client.post(f"{API}/dossier/submit", headers=headers).status_code == 409


def test_stop_change_checkout_abandon_and_receipts(app, factory, client, make_client):
    from app.models import Reservation, db

    cat = factory.catalog(capacities=(10, 10))
    family = factory.household(children=[("Léa", 8)])
    other = factory.household(children=[("Tom", 8)])
    line = book_and_pay(app, family.id, family.child_ids[0], cat.week_ids[0], stop_id=cat.stop_ids[0])
    headers = jwt_headers(client, family.email)
    other_headers = jwt_headers(make_client(), other.email)

    moved = client.post(f"{API}/reservations/{line}/stop", headers=headers, json={"stop_id": cat.stop_ids[2]})
    assert moved.status_code == 200, moved.json
    with app.app_context():
        assert db.session.get(Reservation, line).stop_id == cat.stop_ids[2]
    assert client.post(f"{API}/reservations/{line}/stop", headers=other_headers,
                       json={"stop_id": cat.stop_ids[1]}).status_code == 404
    for bad in ({}, {"stop_id": "2"}, {"stop_id": True}):
        refused = client.post(f"{API}/reservations/{line}/stop", headers=headers, json=bad)
        assert refused.status_code == 400 and refused.json["message"] == "Choisissez un arrêt dans la liste."

    receipts = client.get(f"{API}/receipts", headers=headers)
    assert receipts.status_code == 200 and len(receipts.json["receipts"]) == 1
    assert client.get(f"{API}/receipts", headers=other_headers).json["receipts"] == []

    added = client.post(f"{API}/basket/lines", headers=headers, json={
        "child_id": family.child_ids[0], "week_id": cat.week_ids[1], "transport": {"mode": "onsite"}})
    assert added.status_code == 201, added.json
    assert client.post(f"{API}/basket/checkout", headers=headers).status_code == 200
    left = client.post(f"{API}/basket/checkout/abandon", headers=headers)
    assert left.status_code == 200 and left.json["message"].startswith("La page de paiement est fermée")
    assert client.delete(f"{API}/basket/lines/{added.json['line']['id']}", headers=headers).status_code == 200


# Each parent page action (POST endpoint of a Parent…View) → its API twin (method, rule). A new page
# action without a twin here fails the test: add the API route (same service) and list it.
API_TWINS = {
    "ParentBookingView.weeks": ("POST", "/api/v1/portal/basket/lines"),
    "ParentBasketView.remove": ("DELETE", "/api/v1/portal/basket/lines/<int:line_id>"),
    "ParentPaymentView.start": ("POST", "/api/v1/portal/basket/checkout"),
    "ParentPaymentView.change_basket": ("POST", "/api/v1/portal/basket/checkout/abandon"),
    "ParentReservationsView.change_stop": ("POST", "/api/v1/portal/reservations/<int:line_id>/stop"),
    "ParentCancellationView.cancel": ("POST", "/api/v1/portal/reservations/<int:reservation_id>/cancel"),
    "ParentWaitlistView.join": ("POST", "/api/v1/portal/waitlist"),
    "ParentWaitlistView.leave": ("DELETE", "/api/v1/portal/waitlist/<int:entry_id>"),
    "ParentWaitlistView.pay": ("POST", "/api/v1/portal/waitlist/<int:entry_id>/pay"),
    "ParentWishesView.child": ("PUT", "/api/v1/portal/children/<int:child_id>/wishes/<int:period_id>"),
    "ParentPrivacyView.erasure_request": ("POST", "/api/v1/portal/data/erasure-request"),
    "ParentConsentsView.child": ("PUT", "/api/v1/portal/dossier/children/<int:child_id>/consents"),
    "ParentCalendarView.create": ("POST", "/api/v1/portal/calendar"),
    "ParentCalendarView.renew": ("POST", "/api/v1/portal/calendar/renew"),
    "ParentDossierView.household": ("PUT", "/api/v1/portal/dossier/household"),
    "ParentDossierView.guardian_add": ("POST", "/api/v1/portal/dossier/guardians"),
    "ParentDossierView.guardian_edit": ("PUT", "/api/v1/portal/dossier/guardians/<int:guardian_id>"),
    "ParentDossierView.guardian_remove": ("DELETE", "/api/v1/portal/dossier/guardians/<int:guardian_id>"),
    "ParentDossierView.child_add": ("POST", "/api/v1/portal/dossier/children"),
    "ParentDossierView.child_edit": ("PUT", "/api/v1/portal/dossier/children/<int:child_id>"),
    "ParentDossierView.child_remove": ("DELETE", "/api/v1/portal/dossier/children/<int:child_id>"),
    "ParentDossierView.child_health": ("PUT", "/api/v1/portal/dossier/children/<int:child_id>/health"),
    "ParentDossierView.pickup_add": ("POST", "/api/v1/portal/dossier/children/<int:child_id>/pickups"),
    "ParentDossierView.pickup_remove": ("DELETE", "/api/v1/portal/dossier/pickups/<int:pickup_id>"),
    "ParentDossierView.document_upload": ("POST", "/api/v1/portal/dossier/documents"),
    "ParentDossierView.document_remove": ("DELETE", "/api/v1/portal/dossier/documents/<int:document_id>"),
    "ParentDossierView.submit": ("POST", "/api/v1/portal/dossier/submit"),
}


def test_every_parent_page_action_has_its_api_twin(app, factory, client):
    page_actions = {rule.endpoint for rule in app.url_map.iter_rules()
                    if rule.endpoint.split(".")[0].startswith("Parent") and rule.endpoint.split(".")[0].endswith("View")
                    and "POST" in rule.methods}
    missing = sorted(page_actions - set(API_TWINS))
    assert not missing, f"parent page actions without an API twin (add the route, then list it): {missing}"
    assert not sorted(set(API_TWINS) - page_actions), "API_TWINS names page actions that no longer exist"
    api_routes = {(method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods}
    absent = sorted(twin for twin in API_TWINS.values() if twin not in api_routes)
    assert not absent, f"API twins missing from the app: {absent}"
    # And each twin is in the OpenAPI document with its method.
    spec = client.get("/api/v1/_openapi", headers=jwt_headers(client, factory.admin().email)).get_json()
    import re

    for method, rule in API_TWINS.values():
        path = re.sub(r"<(?:int:)?([a-z_]+)>", r"{\1}", rule)
        assert method.lower() in spec["paths"].get(path, {}), f"{method} {path} is not in the OpenAPI document"


def test_one_receipt_through_the_api(app, factory, client, make_client):
    from app.models import Organiser, db

    cat = factory.catalog(capacities=(10, 10), tariffs=((0, None, 4500),))
    family = factory.household(last_name="Recu", children=[("Léa", 8)])
    other = factory.household(children=[("Tom", 8)])
    line = book_and_pay(app, family.id, family.child_ids[0], cat.week_ids[0], stop_id=cat.stop_ids[0])
    with app.app_context():
        db.session.merge(Organiser(id=1, name="Ville du Luc", address="Place de la Mairie\n83340 Le Luc",
                                   siret="21830073700019", regie_name="Régie jeunesse", regie_number="R12",
                                   contact=""))
        db.session.commit()
    headers = jwt_headers(client, family.email)
    basket_id = client.get(f"{API}/receipts", headers=headers).json["receipts"][0]["basket_id"]

    shown = client.get(f"{API}/receipts/{basket_id}", headers=headers)
    assert shown.status_code == 200, shown.json
    receipt = shown.json
    assert receipt["basket_id"] == basket_id and receipt["organiser"]["name"] == "Ville du Luc"
    assert receipt["organiser"]["siret"] == "21830073700019" and receipt["organiser"]["regie_number"] == "R12"
    [row] = receipt["lines"]
    assert row["id"] == line and row["child"].startswith("Léa") and row["status"] == "confirmed"
    assert row["transport"]["mode"] == "bus" and row["transport"]["pickup_time"]
    assert row["price_cents"] == 4500 and receipt["paid_cents"] == 4500 + row["bus_price_cents"]
    assert receipt["kept_cents"] == receipt["paid_cents"] and receipt["refunded_cents"] == 0
    assert receipt["payments"][0]["method_label"] and receipt["invoice"]["number"].startswith("FA-")

    # Another household, an unknown or malformed id: 404, never the receipt.
    assert client.get(f"{API}/receipts/{basket_id}", headers=jwt_headers(make_client(), other.email)).status_code == 404
    assert client.get(f"{API}/receipts/999999", headers=headers).status_code == 404
    assert client.get(f"{API}/receipts/99999999999999999999", headers=headers).status_code == 404
    assert make_client().get(f"{API}/receipts/{basket_id}").status_code == 401
    spec = client.get("/api/v1/_openapi", headers=jwt_headers(client, factory.admin().email)).get_json()
    paths = spec["paths"]
    documented = paths[f"{API}/receipts/{{basket_id}}"]["get"]
    assert "PortalReceipt" in str(documented["responses"]["200"]) and "404" in documented["responses"]
