"""The parent's pages and the staff's review screens, through HTTP."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

import pytest

from app.services.localize import paris_today
from tests.dossier_helpers import fill_household, mails, set_status
from tests.support.apps import build_app


def _text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'")


# --- parent home ---------------------------------------------------------------------------

def test_home_of_a_draft_shows_status_checklist_and_disabled_booking(app, factory, login):
    family = factory.household(status="draft")
    client = login(app.test_client(), family.email)
    page = _text(client.get("/famille/"))
    assert 'data-status="draft"' in page and "Brouillon" in page
    assert "À fournir : Attestation d'assurance" in page and "Fiche sanitaire de Léa" in page
    assert re.search(r'<button class="btn btn-block" type="button" disabled[^>]*>Inscrire mon enfant</button>', page)
    assert "Complétez votre dossier puis envoyez-le" in page
    assert 'href="/famille/inscrire"' not in page.split("Réserver")[1].split("</section>")[0]
    assert re.search(r'type="submit" disabled[^>]*>Envoyer mon dossier', page)
    assert 'name="csrf_token"' in page


def test_home_of_a_complete_draft_offers_to_submit(app, factory, login):
    family = factory.household(status="draft")
    fill_household(app, family.id)
    client = login(app.test_client(), family.email)
    page = _text(client.get("/famille/"))
    assert "il ne reste plus qu'à l'envoyer" in page
    assert re.search(r'<button class="btn btn-block" type="submit">Envoyer mon dossier', page)
    response = client.post("/famille/dossier/envoyer", follow_redirects=True)
    page = _text(response)
    assert "Votre dossier a été envoyé" in page and 'data-status="submitted"' in page
    assert "en cours de vérification par le Pôle Jeunesse (72 h ouvrées au plus)" in page


def test_submitting_an_incomplete_file_says_what_is_missing(app, factory, login):
    family = factory.household(status="draft")
    client = login(app.test_client(), family.email)
    page = _text(client.post("/famille/dossier/envoyer", follow_redirects=True))
    assert "ne peut pas encore être envoyé" in page and "Attestation d'assurance" in page
    assert 'data-status="draft"' in page


def test_home_of_a_validated_file_opens_booking(app, factory, login):
    family = factory.household(status="validated")
    page = _text(login(app.test_client(), family.email).get("/famille/"))
    assert '<a class="btn btn-block" href="/famille/inscrire">Inscrire mon enfant</a>' in page
    assert "Validé" in page


def test_home_of_an_incomplete_file_shows_staff_reasons(app, factory, login):
    from app.services.household import dossier

    family = factory.household(status="draft")
    fill_household(app, family.id)
    set_status(app, family.id, "submitted")
    with app.app_context():
        dossier.mark_incomplete(family.id, app.appbuilder.sm.get_user_by_id(factory.staff().id),
                                ["address", "other"], "Merci de préciser le bâtiment.")
    page = _text(login(app.test_client(), family.email).get("/famille/"))
    assert 'data-status="incomplete"' in page
    assert "Adresse incomplète ou différente de celle des justificatifs" in page
    assert "Merci de préciser le bâtiment." in page
    assert "corrigez les éléments indiqués" in page


# --- forms ---------------------------------------------------------------------------------

def test_household_form_errors_next_to_fields_and_values_kept(app, factory, login):
    family = factory.household(status="draft")
    client = login(app.test_client(), family.email)
    assert 'value="83890"' in client.get("/famille/dossier/foyer").get_data(as_text=True)
    response = client.post("/famille/dossier/foyer", data={
        "email": family.email, "phone": "0611223344", "address_line": "2 rue Neuve", "postcode": "833",
        "city": "Le Luc", "caf_number": "", "declared_quotient": "beaucoup"})
    page = _text(response)
    assert response.status_code == 400
    assert re.search(r'id="f-postcode-error">Le code postal compte 5 chiffres', page)
    assert 'id="f-caf_number-error">Indiquez votre numéro d\'allocataire CAF' in page
    assert 'id="f-declared_quotient-error">Indiquez un nombre entier' in page
    assert 'value="2 rue Neuve"' in page and 'aria-invalid="true"' in page
    response = client.post("/famille/dossier/foyer", data={
        "email": family.email, "phone": "0611223344", "address_line": "2 rue Neuve", "postcode": "83340",
        "city": "Le Luc", "no_caf_number": "on"})
    assert response.status_code == 302
    from app.models import Household, db

    with app.app_context():
        household = db.session.get(Household, family.id)
        assert (household.address_line, household.no_caf_number, household.caf_number) == ("2 rue Neuve", True, None)


def test_guardians_add_edit_remove(app, factory, login):
    from app.models import Guardian, db

    family = factory.household(status="draft")
    client = login(app.test_client(), family.email)
    bad = client.post("/famille/dossier/responsables/ajouter", data={"first_name": "Marc"})
    assert bad.status_code == 400 and "Indiquez un numéro de téléphone" in _text(bad)
    assert client.post("/famille/dossier/responsables/ajouter", data={
        "first_name": "Marc", "last_name": "Durand", "phone": "0611111111", "relationship_label": "Père"}
    ).status_code == 302
    page = _text(client.post("/famille/dossier/responsables/ajouter", data={
        "first_name": "Zoé", "last_name": "Durand", "phone": "0611111112"}, follow_redirects=True))
    assert "au plus deux responsables légaux" in page
    with app.app_context():
        marc = db.session.query(Guardian).filter_by(first_name="Marc").one().id
    client.post(f"/famille/dossier/responsables/{marc}", data={
        "first_name": "Marc", "last_name": "Durand", "phone": "0622222222"})
    client.post(f"/famille/dossier/responsables/{marc}/supprimer")
    with app.app_context():
        assert db.session.query(Guardian).filter_by(household_id=family.id).count() == 1


def test_add_child_then_health_sheet_then_pickups(app, factory, login):
    from app.models import AuthorizedPickup, Child, db

    family = factory.household(status="draft")
    client = login(app.test_client(), family.email)
    assert "Ajouter un enfant" in client.get("/famille/dossier/enfants/ajouter").get_data(as_text=True)
    future = (paris_today() + timedelta(days=3)).isoformat()
    bad = client.post("/famille/dossier/enfants/ajouter", data={"first_name": "Noé", "last_name": "Test",
                                                                 "birth_date": future})
    assert bad.status_code == 400
    assert "La date de naissance doit être passée" in _text(bad) and "fille ou un garçon" in _text(bad)
    response = client.post("/famille/dossier/enfants/ajouter", data={
        "first_name": "Noé", "last_name": "Test", "birth_date": "14/02/2018", "sex": "M", "school_level": "CE2"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/sante")
    child_id = int(re.search(r"enfants/(\d+)/sante", response.headers["Location"]).group(1))
    health = client.get(f"/famille/dossier/enfants/{child_id}/sante")
    assert "Fiche sanitaire de Noé Test" in _text(health) and "Médecin traitant" in _text(health)
    assert client.post(f"/famille/dossier/enfants/{child_id}/sante", data={
        "allergies": "Pollen", "diet": "Sans porc", "doctor_name": "Dr Blanc", "doctor_phone": "0494111111",
        "vaccinations_up_to_date": "on"}).status_code == 302
    bad_pickup = client.post(f"/famille/dossier/enfants/{child_id}/personnes-autorisees", data={"name": "Papi"})
    assert bad_pickup.status_code == 400 and "Indiquez un numéro de téléphone" in _text(bad_pickup)
    client.post(f"/famille/dossier/enfants/{child_id}/personnes-autorisees",
                data={"name": "Papi Jo", "phone": "0633333333"})
    page = _text(client.get(f"/famille/dossier/enfants/{child_id}"))
    assert "Papi Jo" in page
    with app.app_context():
        child = db.session.get(Child, child_id)
        assert (child.birth_date.isoformat(), child.allergies, child.diet) == ("2018-02-14", "Pollen", "Sans porc")
        assert child.health_updated_at is not None
        pickup_id = db.session.query(AuthorizedPickup.id).scalar()
    client.post(f"/famille/dossier/personnes-autorisees/{pickup_id}/supprimer")
    assert "Papi Jo" not in _text(client.get(f"/famille/dossier/enfants/{child_id}"))


def test_identity_is_frozen_once_the_child_is_confirmed(app, factory, login):
    from app.models import Child, db

    family = factory.household(status="validated")
    client = login(app.test_client(), family.email)
    child_id = family.child_ids[0]
    page = _text(client.get(f"/famille/dossier/enfants/{child_id}"))
    assert "ne se modifie plus en ligne" in page and 'name="birth_date"' not in page
    client.post(f"/famille/dossier/enfants/{child_id}", data={"first_name": "Autre", "birth_date": "2010-01-01",
                                                              "school": "Nouvelle école", "school_level": "CM2"})
    with app.app_context():
        child = db.session.get(Child, child_id)
        assert (child.first_name, child.school) == ("Léa", "Nouvelle école")


def test_parent_pages_are_french(app, factory, login):
    family = factory.household(status="draft")
    client = login(app.test_client(), family.email)
    child_id = family.child_ids[0]
    for url in ["/famille/", "/famille/dossier/", "/famille/dossier/foyer", "/famille/dossier/responsables",
                "/famille/dossier/responsables/ajouter", "/famille/dossier/enfants/ajouter",
                f"/famille/dossier/enfants/{child_id}", f"/famille/dossier/enfants/{child_id}/sante",
                "/famille/dossier/pieces"]:
        response = client.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert '<html lang="fr">' in page
        for english in [">Submit<", ">Save<", ">Upload<", ">Delete<", "Choose file"]:
            assert english not in page, (url, english)
        for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", page, re.S):
            assert 'name="csrf_token"' in form, url
        # Every input has a label tied to it.
        for input_id in re.findall(r'<(?:input|select|textarea) id="([^"]+)"', page):
            assert f'for="{input_id}"' in page, (url, input_id)


def test_forms_work_with_csrf_enabled(app, tmp_path_factory):
    strict = build_app(f"sqlite:///{tmp_path_factory.mktemp('csrf') / 'csrf.db'}", tmp_path_factory,
                       WTF_CSRF_ENABLED=True)
    from tests.support.factories import PASSWORD, Factory

    family = Factory(strict).household(status="draft")
    client = strict.test_client()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get("/login/").get_data(as_text=True))
    token = token.group(1) if token else re.search(r'id="csrf_token"[^>]*value="([^"]+)"',
                                                   client.get("/login/").get_data(as_text=True)).group(1)
    assert client.post("/login/", data={"username": family.email, "password": PASSWORD,
                                        "csrf_token": token}).status_code == 302
    page = client.get("/famille/dossier/foyer").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = {"email": family.email, "phone": "0611223344", "address_line": "9 rue du Var", "postcode": "83340",
            "city": "Le Luc", "no_caf_number": "on"}
    assert client.post("/famille/dossier/foyer", data=data).status_code == 400  # no token
    assert client.post("/famille/dossier/foyer", data={**data, "csrf_token": token}).status_code == 302
    # An upload above the request limit is refused before CSRF runs: still a French message.
    response = client.post("/famille/dossier/pieces/envoyer", content_type="multipart/form-data",
                           data={"csrf_token": token, "kind": "insurance",
                                 "file": (io.BytesIO(b"%PDF-" + b"0" * (6 * 1024 * 1024)), "gros.pdf")},
                           follow_redirects=True)
    assert "5 Mo au maximum" in response.get_data(as_text=True)


# --- staff ---------------------------------------------------------------------------------

@pytest.fixture
def staff(app, factory, login):
    return login(app.test_client(), factory.staff().email)


def _submitted(app, factory, when=None, **kwargs):
    family = factory.household(status="draft", **kwargs)
    fill_household(app, family.id)
    set_status(app, family.id, "submitted", submitted_at=when)
    return family


def test_queue_oldest_first_with_working_hours_and_overdue_highlight(app, factory, staff, login):
    now = datetime.now(timezone.utc)
    recent = _submitted(app, factory, when=now - timedelta(hours=1))
    old = _submitted(app, factory, when=now - timedelta(days=20))
    page = _text(staff.get("/revue-dossiers/"))
    rows = re.findall(r'<tr class="([^"]*)" data-household="(\d+)"', page)
    assert [int(household) for _, household in rows] == [old.id, recent.id]
    assert rows[0][0] == "danger" and rows[1][0] == ""
    assert "en retard" in page and "h ouvrées" in page
    parent = login(app.test_client(), recent.email)
    assert parent.get("/revue-dossiers/").status_code == 403
    assert parent.get(f"/revue-dossiers/dossier/{recent.id}").status_code == 403
    assert parent.post(f"/revue-dossiers/dossier/{recent.id}/valider", data={"quotient": "1"}).status_code == 403


def test_review_page_shows_everything_and_documents_inline(app, factory, staff):
    family = _submitted(app, factory)
    page = _text(staff.get(f"/revue-dossiers/dossier/{family.id}"))
    assert "3 rue des Écoles" in page and "Dr Martin" in page and "7654321" in page
    assert re.search(r'<img src="/revue-dossiers/document/\d+" alt="Pages de vaccination', page)
    assert re.search(r'<object data="/revue-dossiers/document/\d+" type="application/pdf"', page)
    assert "Valider le dossier" in page and "Marquer incomplet" in page
    assert staff.get("/revue-dossiers/dossier/99999").status_code == 404


def test_staff_validate_and_bad_qf_through_the_page(app, factory, staff):
    family = _submitted(app, factory)
    bad = staff.post(f"/revue-dossiers/dossier/{family.id}/valider", data={"quotient": "huit cents"})
    assert bad.status_code == 400 and "Indiquez un nombre entier" in _text(bad)
    ok = staff.post(f"/revue-dossiers/dossier/{family.id}/valider", data={"quotient": "800"},
                    follow_redirects=True)
    assert "validé" in _text(ok) and "Aucun dossier en attente" in _text(ok)
    assert [m[0] for m in mails(app)] == ["dossier_validated"]


def test_staff_mark_incomplete_through_the_page(app, factory, staff):
    family = _submitted(app, factory)
    bad = staff.post(f"/revue-dossiers/dossier/{family.id}/incomplet", data={"note": "x"})
    assert bad.status_code == 400 and "Choisissez au moins un motif" in _text(bad)
    ok = staff.post(f"/revue-dossiers/dossier/{family.id}/incomplet",
                    data={"reasons": ["vaccinations"], "note": "Pages illisibles"}, follow_redirects=True)
    assert "marqué incomplet" in _text(ok)
    from app.models import Document, db

    with app.app_context():
        refused = db.session.query(Document).filter_by(kind="vaccinations").one()
        assert refused.status == "refused" and "Pages illisibles" in refused.refusal_reason


def test_bulk_validate_through_the_queue(app, factory, staff):
    from app.models import Child, Household, db

    good = _submitted(app, factory)
    broken = _submitted(app, factory)
    with app.app_context():
        db.session.get(Child, broken.child_ids[0]).doctor_phone = None
        db.session.commit()
    page = _text(staff.post("/revue-dossiers/valider-lot", data={"ids": [str(good.id), str(broken.id), "x"]},
                            follow_redirects=True))
    assert "1 dossier validé" in page and "Non validé" in page and "Fiche sanitaire" in page
    with app.app_context():
        assert db.session.get(Household, good.id).status == "validated"
        assert db.session.get(Household, broken.id).status == "submitted"


def test_health_changes_are_shown_to_staff(app, factory, staff, login):
    family = factory.household(status="validated")
    fill_household(app, family.id, documents=False)
    set_status(app, family.id, "validated")
    parent = login(app.test_client(), family.email)
    parent.post(f"/famille/dossier/enfants/{family.child_ids[0]}/sante", data={
        "allergies": "Œufs", "doctor_name": "Dr Martin", "doctor_phone": "0494000000",
        "vaccinations_up_to_date": "on"})
    page = _text(staff.get("/revue-dossiers/fiches-sanitaires"))
    assert "Œufs" in page and f"Léa {family.last_name}" in page
    review = _text(staff.get(f"/revue-dossiers/dossier/{family.id}"))
    assert "modifiée depuis la validation" in review


def test_staff_pages_are_in_the_menu_and_french(app, staff):
    page = _text(staff.get("/revue-dossiers/"))
    assert "Dossiers à vérifier" in page and "Rattachements" in page
    assert "Fiches sanitaires modifiées" in page
