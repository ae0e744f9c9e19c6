"""Configurable authorisations (issue 19): staff define the questions; each household answers yes or
no per child (dated, audited) on its page or through the API; another household's child is 404;
staff see the answers in the file; the export carries them and erasure removes them."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from tests.support.clients import jwt_headers


def question(app, staff_id, label, **extra):
    from app.services.household import consents

    with app.app_context():
        return consents.save_question({"label": label, "establishment_kind": "all", "position": "0", **extra},
                                      app.appbuilder.sm.get_user_by_id(staff_id)).id


@pytest.fixture
def setup(app, factory):
    staff = factory.staff()
    alone = question(app, staff.id, "Peut rentrer seul à la maison", position="1")
    bus = question(app, staff.id, "Peut descendre seul à l'arrêt du car", on_bus_list="on", position="2")
    family = factory.household(children=[("Inès", 9)])
    return staff, family, alone, bus


def test_parent_answers_every_question_on_the_page(app, setup, login):
    from app.models import AuditLog, ChildConsent, db

    staff, family, alone, bus = setup
    child = family.child_ids[0]
    client = login(app.test_client(), family.email)
    assert f'href="/famille/autorisations/{child}"' in client.get("/famille/dossier/").get_data(as_text=True)
    page = client.get(f"/famille/autorisations/{child}").get_data(as_text=True)
    assert "<legend>Peut rentrer seul à la maison</legend>" in page
    partial = client.post(f"/famille/autorisations/{child}", data={f"q{alone}": "oui"})
    assert partial.status_code == 400 and "Répondez oui ou non." in partial.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(ChildConsent).count() == 0  # nothing saved unless every answer is there
    done = client.post(f"/famille/autorisations/{child}", data={f"q{alone}": "oui", f"q{bus}": "non"})
    assert done.status_code == 302
    with app.app_context():
        rows = {c.question_id: c.granted for c in db.session.query(ChildConsent)}
        assert rows == {alone: True, bus: False}
        [entry] = db.session.query(AuditLog).filter_by(action="consents.updated").all()
        assert entry.household_id == family.id and "Peut rentrer seul" in entry.after
    again = client.get(f"/famille/autorisations/{child}").get_data(as_text=True)
    assert f'id="q{alone}-oui" type="radio" name="q{alone}" value="oui" checked' in again
    assert "Réponse donnée le" in again
    staff_page = login(app.test_client(), staff.email).get(f"/dossiers-famille/{family.id}").get_data(as_text=True)
    assert "Peut rentrer seul à la maison : oui" in staff_page and "arrêt du car : non" in staff_page


def test_the_api_reads_and_writes_the_same_answers(app, setup, factory):
    staff, family, alone, bus = setup
    child = family.child_ids[0]
    client = app.test_client()
    headers = jwt_headers(client, family.email)
    url = f"/api/v1/portal/dossier/children/{child}/consents"
    read = client.get(url, headers=headers).get_json()
    assert [(c["field"], c["granted"]) for c in read["consents"]] == [(f"q{alone}", None), (f"q{bus}", None)]
    bad = client.put(url, headers=headers, json={f"q{alone}": "peut-être"})
    assert bad.status_code == 400 and bad.get_json()["details"]["errors"][f"q{bus}"] == "Répondez oui ou non."
    good = client.put(url, headers=headers, json={f"q{alone}": "non", f"q{bus}": "oui"})
    assert good.status_code == 200
    assert [c["granted"] for c in good.get_json()["consents"]] == [False, True]
    other = factory.household()
    other_headers = jwt_headers(client, other.email)
    assert client.get(url, headers=other_headers).status_code == 404
    assert client.put(url, headers=other_headers, json={f"q{alone}": "oui", f"q{bus}": "oui"}).status_code == 404


def test_another_household_gets_404_on_the_page(app, setup, factory, login):
    staff, family, alone, bus = setup
    other = factory.household()
    client = login(app.test_client(), other.email)
    assert client.get(f"/famille/autorisations/{family.child_ids[0]}").status_code == 404
    assert client.post(f"/famille/autorisations/{family.child_ids[0]}",
                       data={f"q{alone}": "oui", f"q{bus}": "oui"}).status_code == 404


def test_staff_manage_questions_and_a_withdrawn_one_is_not_asked(app, setup, login):
    staff, family, alone, bus = setup
    client = login(app.test_client(), staff.email)
    assert "Peut rentrer seul" in client.get("/autorisations/").get_data(as_text=True)
    bad = client.post("/autorisations/ajouter", data={"label": "", "establishment_kind": "all", "position": "x"})
    assert bad.status_code == 400 and "Écrivez la question" in bad.get_data(as_text=True)
    assert client.post("/autorisations/ajouter", data={"label": "Baignade", "establishment_kind": "sejour",
                                                       "position": "3"}).status_code == 302
    client.post(f"/autorisations/{alone}", data={"label": "Peut rentrer seul à la maison",
                                                  "establishment_kind": "all", "position": "1"})  # active unchecked
    parent = login(app.test_client(), family.email)
    page = parent.get(f"/famille/autorisations/{family.child_ids[0]}").get_data(as_text=True)
    assert "Baignade" in page and "Peut rentrer seul" not in page and "Pour les séjours." in page
    assert login(app.test_client(), family.email).get("/autorisations/").status_code in (302, 403)


def test_export_carries_the_answers_and_erasure_removes_them(app, setup):
    from app.models import ChildConsent, Household, db
    from app.services.household import consents
    from app.services.operations import privacy

    staff, family, alone, bus = setup
    with app.app_context():
        household = db.session.get(Household, family.id)
        consents.set_answers(household, family.child_ids[0], {f"q{alone}": "oui", f"q{bus}": "oui"})
        _name, data = privacy.export_zip(family.id)
        content = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("foyer.json"))
        assert {a["question"] for a in content["autorisations"]} == {"Peut rentrer seul à la maison",
                                                                     "Peut descendre seul à l'arrêt du car"}
        privacy.erase(family.id, None)
        assert db.session.query(ChildConsent).count() == 0


def test_rosters_show_the_answers_and_bus_lists_the_bus_ones(app, setup, factory, login):
    from app.models import Household, db
    from app.services.household import consents

    staff, family, alone, bus = setup
    cat = factory.catalog()
    from tests.credit_helpers import book_and_pay

    book_and_pay(app, family.id, family.child_ids[0], cat.week_ids[0], cat.stop_ids[0])
    with app.app_context():
        consents.set_answers(db.session.get(Household, family.id), family.child_ids[0],
                             {f"q{alone}": "non", f"q{bus}": "oui"})
    client = login(app.test_client(), staff.email)
    roster = client.get(f"/listes/appel?week_id={cat.week_ids[0]}").get_data(as_text=True)
    assert "Peut rentrer seul à la maison : <strong>non</strong>" in roster
    bus_list = client.get(f"/listes/bus?week_id={cat.week_ids[0]}").get_data(as_text=True)
    assert "arrêt du car : <strong>oui</strong>" in bus_list and "rentrer seul" not in bus_list


def test_staff_record_the_answers_of_a_paper_form_dated_and_audited(app, setup, factory, make_client, login):
    """A desk-only family answers on paper: staff type the answers in on the household file."""
    from app.models import AuditLog, ChildConsent, db
    from app.services.localize import date_fr

    staff, family, alone, bus = setup
    child = family.child_ids[0]
    url = f"/dossiers-famille/{family.id}/enfants/{child}/autorisations"
    parent = login(make_client(), family.email)
    assert parent.get(url).status_code in (302, 403)
    assert parent.post(url, data={f"q{alone}": "oui", f"q{bus}": "oui"}).status_code in (302, 403)
    agent = login(make_client(), staff.email)
    file_page = agent.get(f"/dossiers-famille/{family.id}").get_data(as_text=True)
    assert f'href="{url}"' in file_page and "aucune réponse" in file_page
    form = agent.get(url).get_data(as_text=True)
    assert "<legend>Peut rentrer seul à la maison</legend>" in form and 'name="csrf_token"' in form
    partial = agent.post(url, data={f"q{alone}": "oui"})
    assert partial.status_code == 400 and "Répondez oui ou non." in partial.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(ChildConsent).count() == 0
    done = agent.post(url, data={f"q{alone}": "non", f"q{bus}": "oui"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/dossiers-famille/{family.id}")
    with app.app_context():
        rows = {c.question_id: (c.granted, c.answered_by_id) for c in db.session.query(ChildConsent)}
        assert rows == {alone: (False, staff.id), bus: (True, staff.id)}
        [entry] = db.session.query(AuditLog).filter_by(action="consents.updated").all()
        assert entry.actor_id == staff.id and entry.household_id == family.id
        answered = date_fr(db.session.query(ChildConsent).first().answered_at)
    file_page = agent.get(f"/dossiers-famille/{family.id}").get_data(as_text=True)
    assert f"Peut rentrer seul à la maison : non (le {answered})" in file_page
    assert f"arrêt du car : oui (le {answered})" in file_page
    again = agent.get(url).get_data(as_text=True)
    assert f'id="q{alone}-non" type="radio" name="q{alone}" value="non" checked' in again
    assert f"Réponse donnée le {answered}." in again
    other = factory.household(children=[("Léo", 8)])
    foreign = f"/dossiers-famille/{family.id}/enfants/{other.child_ids[0]}/autorisations"
    assert agent.get(foreign).status_code == 404
    assert agent.post(foreign, data={f"q{alone}": "oui", f"q{bus}": "oui"}).status_code == 404
    assert agent.get(f"/dossiers-famille/999999/enfants/{child}/autorisations").status_code == 404
    with app.app_context():
        assert db.session.query(ChildConsent).filter_by(child_id=other.child_ids[0]).count() == 0
