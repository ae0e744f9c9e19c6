"""Household file v2 (issue 19), pages: the staff forms and the parent's forms share their checks (the
same bad input shows the same messages under the same fields), desk creation, QF records, reopening,
and the public claim page of an invitation."""
from __future__ import annotations

import html
import json
import re

from tests.dossier_helpers import fill_household, mails
from tests.support.factories import PASSWORD

FIELD_ERROR = re.compile(r'class="field-error" id="f-([a-z_]+)-error">(.*?)</p>', re.S)
BAD = {"email": "pas-une-adresse", "phone": "12", "address_line": "", "postcode": "123", "city": "Le Luc",
       "caf_number": "12ab", "declared_quotient": "huit cents"}


def _field_errors(response) -> dict:
    return {name: html.unescape(text.strip()) for name, text in FIELD_ERROR.findall(response.get_data(as_text=True))}


def test_the_same_bad_input_shows_the_same_messages_on_the_parent_and_the_staff_page(app, factory, make_client,
                                                                                      login):
    family = factory.household(status="validated")
    agent = factory.staff()
    parent = login(make_client(), family.email)
    staff = login(make_client(), agent.email)
    parent_page = parent.post("/famille/dossier/foyer", data=BAD)
    staff_page = staff.post(f"/dossiers-famille/{family.id}/foyer", data=BAD)
    assert parent_page.status_code == staff_page.status_code == 400
    parent_errors, staff_errors = _field_errors(parent_page), _field_errors(staff_page)
    assert parent_errors["postcode"] == "Le code postal compte 5 chiffres."
    assert set(parent_errors) >= {"email", "phone", "address_line", "postcode", "caf_number", "declared_quotient"}
    assert staff_errors == parent_errors
    guardian_bad = {"first_name": "J3an", "last_name": "", "phone": "abc"}
    with app.app_context():
        from app.models import Guardian, db

        guardian_id = db.session.query(Guardian).filter_by(household_id=family.id).one().id
    parent_guardian = parent.post(f"/famille/dossier/responsables/{guardian_id}", data=guardian_bad)
    staff_guardian = staff.post(f"/dossiers-famille/{family.id}/responsables/{guardian_id}", data=guardian_bad)
    assert _field_errors(staff_guardian) == _field_errors(parent_guardian) != {}


def test_staff_pages_are_staff_only_and_an_unknown_file_is_a_404(app, factory, make_client, login):
    family = factory.household()
    agent = factory.staff()
    parent = login(make_client(), family.email)
    assert parent.get(f"/dossiers-famille/{family.id}/foyer").status_code in (302, 403)
    assert parent.post(f"/dossiers-famille/{family.id}/rouvrir").status_code in (302, 403)
    staff = login(make_client(), agent.email)
    assert staff.get(f"/dossiers-famille/{family.id}").status_code == 200
    assert staff.get("/dossiers-famille/999999/foyer").status_code == 404


def test_desk_creation_qf_record_and_reopen_through_the_staff_pages(app, factory, make_client, login):
    agent = factory.staff()
    staff = login(make_client(), agent.email)
    refused = staff.post("/dossiers-famille/nouveau", data={"first_name": "", "last_name": "Benali", "phone": "x"})
    assert refused.status_code == 400 and set(_field_errors(refused)) == {"first_name", "phone"}
    created = staff.post("/dossiers-famille/nouveau", data={"first_name": "Nadia", "last_name": "Benali",
                                                           "phone": "0611223344"})
    assert created.status_code == 302
    household_id = int(re.search(r"/dossiers-famille/(\d+)", created.headers["Location"]).group(1))
    page = staff.get(f"/dossiers-famille/{household_id}").get_data(as_text=True)
    assert "Foyer Nadia Benali" in page and "suivi au guichet" in page

    family = factory.household(status="validated", quotient=650)
    fill_household(app, family.id, documents=False)
    bad_qf = staff.post(f"/dossiers-famille/{family.id}/qf", data={"value": "abc", "source": "caf",
                                                                   "valid_from": "2026-01-01"})
    assert bad_qf.status_code == 302
    good_qf = staff.post(f"/dossiers-famille/{family.id}/qf", data={"value": "980", "source": "msa",
                                                                    "valid_from": "2026-01-01"},
                         follow_redirects=True)
    assert "Attestation MSA" in good_qf.get_data(as_text=True)
    reopened = staff.post(f"/dossiers-famille/{family.id}/rouvrir", data={"note": "Déménagement"},
                          follow_redirects=True)
    assert "Dossier rouvert" in reopened.get_data(as_text=True)
    with app.app_context():
        from app.models import Household, db

        household = db.session.get(Household, family.id)
        assert household.status == "submitted" and household.quotient == 980


def test_the_claim_page_creates_the_login_once_for_the_invited_address(app, factory, make_client):
    from tests.test_desk_onboarding import desk_family

    agent = factory.staff()
    household_id = desk_family(app, agent.id)
    staff = make_client()
    from tests.support.clients import login

    login(staff, agent.email)
    sent = staff.post(f"/dossiers-famille/{household_id}/inviter", data={"email": "nadia@example.test"})
    assert sent.status_code == 302
    [(_kind, to, _subject, body, _status)] = mails(app, "household_invitation")
    assert to == "nadia@example.test"
    with app.app_context():
        from app.services.household import desk_onboarding

        token = desk_onboarding.invite(household_id, "nadia@example.test", app.appbuilder.sm.get_user_by_id(agent.id))
    browser = make_client()
    assert browser.get("/compte/rejoindre/" + "x" * 43).status_code == 400
    assert browser.get(f"/compte/rejoindre/{token}").status_code == 200
    wrong = browser.post(f"/compte/rejoindre/{token}", data={"email": "autre@example.test", "password": PASSWORD,
                                                             "conf_password": PASSWORD})
    assert wrong.status_code == 400 and "autre adresse" in html.unescape(wrong.get_data(as_text=True))
    done = browser.post(f"/compte/rejoindre/{token}", data={"email": "nadia@example.test", "password": PASSWORD,
                                                            "conf_password": PASSWORD})
    assert done.status_code == 302 and done.headers["Location"].endswith("/famille/")
    assert "Yanis" in browser.get("/famille/").get_data(as_text=True)
    again = make_client().get(f"/compte/rejoindre/{token}")
    assert again.status_code == 400


def _csrf(text: str) -> str:
    return text.split('name="csrf_token" value="')[1].split('"')[0]


def test_staff_add_and_remove_pickup_people_on_the_file_audited(app, factory, make_client, login):
    from app.models import AuditLog, AuthorizedPickup, db

    family = factory.household(children=[("Inès", 9)])
    other = factory.household(children=[("Léo", 8)])
    agent = factory.staff()
    child = family.child_ids[0]
    add_url = f"/dossiers-famille/{family.id}/enfants/{child}/personnes-autorisees"
    parent = login(make_client(), family.email)
    assert parent.get(add_url).status_code in (302, 403)
    assert parent.post(add_url, data={"name": "Mamie", "phone": "0611223344"}).status_code in (302, 403)
    staff = login(make_client(), agent.email)
    assert f'href="{add_url}"' in staff.get(f"/dossiers-famille/{family.id}").get_data(as_text=True)
    refused = staff.post(add_url, data={"name": "", "phone": "12"})
    assert refused.status_code == 400 and set(_field_errors(refused)) == {"name", "phone"}
    assert "Indiquez le nom et le prénom." in html.unescape(refused.get_data(as_text=True))
    added = staff.post(add_url, data={"name": "Josette Martin", "phone": "06 11 22 33 44",
                                      "relationship_label": "grand-mère"}, follow_redirects=True)
    page = added.get_data(as_text=True)
    assert "Personne autorisée ajoutée." in page and "Josette Martin (grand-mère)" in page
    assert staff.get(f"/dossiers-famille/{family.id}/enfants/{other.child_ids[0]}/personnes-autorisees"
                     ).status_code == 404
    with app.app_context():
        pickup_id = db.session.query(AuthorizedPickup).filter_by(name="Josette Martin").one().id
        assert db.session.query(AuditLog).filter_by(action="pickup.added", actor_id=agent.id,
                                                    household_id=family.id).count() == 1
    # another household's file cannot remove it
    wrong = staff.post(f"/dossiers-famille/{other.id}/personnes-autorisees/{pickup_id}/supprimer",
                       follow_redirects=True)
    assert "Personne autorisée introuvable." in html.unescape(wrong.get_data(as_text=True))
    assert parent.post(f"/dossiers-famille/{family.id}/personnes-autorisees/{pickup_id}/supprimer"
                       ).status_code in (302, 403)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        remove = f"/dossiers-famille/{family.id}/personnes-autorisees/{pickup_id}/supprimer"
        assert staff.post(remove).status_code == 400
        with app.app_context():
            assert db.session.get(AuthorizedPickup, pickup_id) is not None
        token = _csrf(staff.get(f"/dossiers-famille/{family.id}").get_data(as_text=True))
        removed = staff.post(remove, data={"csrf_token": token}, follow_redirects=True)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert "Personne autorisée retirée." in html.unescape(removed.get_data(as_text=True))
    with app.app_context():
        assert db.session.get(AuthorizedPickup, pickup_id) is None
        [entry] = db.session.query(AuditLog).filter_by(action="pickup.removed").all()
        assert entry.actor_id == agent.id and entry.household_id == family.id
        assert "Josette Martin" in json.dumps(entry.before)


def test_staff_remove_a_guardian_but_never_the_last_one(app, factory, make_client, login):
    from app.models import AuditLog, Guardian, db

    family = factory.household()
    agent = factory.staff()
    staff = login(make_client(), agent.email)
    added = staff.post(f"/dossiers-famille/{family.id}/responsables/ajouter",
                       data={"first_name": "Karim", "last_name": "Benali", "phone": "0611223344"})
    assert added.status_code == 302
    with app.app_context():
        first, second = [g.id for g in db.session.query(Guardian).filter_by(household_id=family.id)
                         .order_by(Guardian.id)]
    page = staff.get(f"/dossiers-famille/{family.id}").get_data(as_text=True)
    assert f"/dossiers-famille/{family.id}/responsables/{second}/supprimer" in page
    parent = login(make_client(), family.email)
    assert parent.post(f"/dossiers-famille/{family.id}/responsables/{second}/supprimer").status_code in (302, 403)
    other = factory.household()
    foreign = staff.post(f"/dossiers-famille/{other.id}/responsables/{second}/supprimer", follow_redirects=True)
    assert "Responsable légal introuvable." in html.unescape(foreign.get_data(as_text=True))
    removed = staff.post(f"/dossiers-famille/{family.id}/responsables/{second}/supprimer", follow_redirects=True)
    assert "Responsable légal retiré du dossier." in html.unescape(removed.get_data(as_text=True))
    last = staff.post(f"/dossiers-famille/{family.id}/responsables/{first}/supprimer", follow_redirects=True)
    assert "au moins un responsable légal" in html.unescape(last.get_data(as_text=True))
    with app.app_context():
        assert [g.id for g in db.session.query(Guardian).filter_by(household_id=family.id)] == [first]
        [entry] = db.session.query(AuditLog).filter_by(action="guardian.removed").all()
        assert entry.actor_id == agent.id and entry.household_id == family.id
