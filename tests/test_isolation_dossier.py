"""Isolation of the household file (DESIGN §3.6): parent A, with parent B's ids on every parent route
of the file (pages, forms, document downloads, actions), gets 403 or 404 and never B's data; nothing
of B changes. The route list is read from the app, so a new route is covered automatically."""
from __future__ import annotations

import io
import re

import pytest

from app.models import DocumentKind
from tests.dossier_helpers import PDF, fill_household

SECRET_BYTES = PDF.replace(b"%%EOF", b"% SECRET-B-CONTENT\n%%EOF")
SECRETS = ["Zébulon", "Secretville", "Tata Secrète", "secret-b.pdf", "Kiwi-secret", "Durand-Secret", "0799999999",
           "SECRET-B-CONTENT"]
MY_VIEWS = ("ParentHomeView.", "ParentDossierView.")
# Valid values for every field of every form: a missing scope check would really change B's data.
FORM = {"first_name": "Pirate", "last_name": "Pirate", "phone": "0600000000", "email": "pirate@example.test",
        "relationship_label": "Pirate", "birth_date": "2016-01-01", "sex": "M", "school": "Pirate",
        "school_level": "CE1", "doctor_name": "Dr Pirate", "doctor_phone": "0600000000", "allergies": "Pirate",
        "vaccinations_up_to_date": "on", "name": "Pirate", "address_line": "Pirate", "postcode": "83000",
        "city": "Pirate", "caf_number": "1111111", "declared_quotient": "1", "kind": "insurance"}


@pytest.fixture
def two_households(app, factory):
    a = factory.household(status="draft", last_name="Alpha")
    b = factory.household(status="validated", children=[("Zébulon", 7)], last_name="Durand-Secret")
    fill_household(app, a.id)
    from app.models import AuthorizedPickup, Child, Guardian, Household, HouseholdChild, db
    from app.services.household import documents

    with app.app_context():
        household = db.session.get(Household, b.id)
        household.address_line, household.city, household.phone = "1 rue Cachée", "Secretville", "0799999999"
        child = db.session.get(Child, b.child_ids[0])
        child.allergies = "Kiwi-secret"
        link = db.session.query(HouseholdChild).filter_by(household_id=b.id).one()
        link.pickups.append(AuthorizedPickup(name="Tata Secrète", phone="0799999999"))
        db.session.commit()
        documents.add_document(db.session.get(Household, b.id), DocumentKind.INSURANCE, "secret-b.pdf", SECRET_BYTES)
        household = db.session.get(Household, b.id)
        household.status = "validated"  # the upload sent it back to review; keep B validated
        db.session.commit()
        ids = {
            "child_id": b.child_ids[0],
            "guardian_id": db.session.query(Guardian.id).filter_by(household_id=b.id).scalar(),
            "pickup_id": link.pickups[0].id,
            "document_id": household.documents[0].id,
        }
    return a, b, ids


def _snapshot(app, household_id):
    from app.models import Household, db

    with app.app_context():
        h = db.session.get(Household, household_id)
        data = (
            (h.status, h.address_line, h.city, h.phone, h.email, h.caf_number, h.declared_quotient),
            sorted((g.first_name, g.last_name, g.phone) for g in h.guardians),
            sorted((l.child.first_name, l.child.school, l.child.allergies, l.child.doctor_name, l.status,
                    tuple(sorted((p.name, p.phone) for p in l.pickups))) for l in h.child_links),
            sorted((d.original_name, d.status) for d in h.documents),
        )
    return data


def _parent_routes(app):
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(MY_VIEWS):
            continue
        for method in sorted(rule.methods & {"GET", "POST"}):
            routes.append((method, rule.rule, rule.endpoint))
    return routes


def test_every_parent_route_with_another_households_ids(app, two_households, login):
    a, b, ids = two_households
    before = _snapshot(app, b.id)
    client = login(app.test_client(), a.email)
    routes = _parent_routes(app)
    assert len(routes) >= 20
    with_ids = 0
    for method, rule, endpoint in routes:
        placeholders = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule)
        url = rule
        for name in placeholders:
            url = re.sub(r"<(?:[a-z]+:)?" + name + ">", str(ids[name]), url)
        if method == "GET":
            response = client.get(url)
        elif "pieces/envoyer" in rule:
            response = client.post(url, content_type="multipart/form-data",
                                   data={"kind": "vaccinations", "child_id": str(ids["child_id"]),
                                         "file": (io.BytesIO(PDF), "x.pdf")})
        else:
            response = client.post(url, data=FORM)
        body = response.get_data(as_text=True) if response.mimetype.startswith("text") else response.data.decode(
            "latin-1")
        leaked = [secret for secret in SECRETS if secret in body]
        assert leaked == [], f"{method} {url} leaked {leaked}"
        assert response.status_code < 500, f"{method} {url}: {response.status_code}"
        if placeholders or "pieces/envoyer" in rule:
            with_ids += 1
            assert response.status_code in (403, 404), f"{method} {url}: {response.status_code}"
    assert with_ids >= 10
    assert _snapshot(app, b.id) == before


def test_b_still_sees_its_own_data(app, two_households, login):
    """The same ids work for their owner: the 404s above are the scoping, not broken routes."""
    a, b, ids = two_households
    client = login(app.test_client(), b.email)
    assert "Tata Secrète" in client.get(f"/famille/dossier/enfants/{ids['child_id']}").get_data(as_text=True)
    assert "Kiwi-secret" in client.get(f"/famille/dossier/enfants/{ids['child_id']}/sante").get_data(as_text=True)
    assert client.get(f"/famille/dossier/pieces/{ids['document_id']}").data == SECRET_BYTES
    assert client.get(f"/famille/dossier/responsables/{ids['guardian_id']}").status_code == 200


def test_anonymous_and_staff_do_not_reach_the_parent_area(app, two_households, factory, login):
    a, b, ids = two_households
    anonymous = app.test_client()
    staff = login(app.test_client(), factory.staff().email)
    for url in ["/famille/", "/famille/dossier/", f"/famille/dossier/pieces/{ids['document_id']}",
                f"/famille/dossier/enfants/{ids['child_id']}/sante"]:
        response = anonymous.get(url)
        assert response.status_code in (302, 401) and b"SECRET" not in response.data
        assert staff.get(url).status_code == 403


def test_a_parent_without_household_gets_404(app, factory, login):
    lonely = factory.user()
    client = login(app.test_client(), lonely.email)
    assert client.get("/famille/").status_code == 404
    assert client.get("/famille/dossier/").status_code == 404
    assert client.post("/famille/dossier/envoyer").status_code == 404


def test_no_household_page_is_french(app, factory, login):
    lonely = factory.user()
    client = login(app.test_client(), lonely.email)
    response = client.get("/famille/dossier/foyer")
    assert response.status_code == 404
    assert "Aucun dossier famille n'est associé à ce compte" in response.get_data(as_text=True).replace("&#39;", "'")
