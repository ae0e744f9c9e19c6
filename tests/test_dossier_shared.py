"""Separated parents: a child already known in another household is linked, not duplicated; staff
confirm the link with the custody judgement; each household then sees the child and its health sheet,
never anything of the other household (guardians, documents, pick-up people, address)."""
from __future__ import annotations

import pytest

from tests.dossier_helpers import PDF, audit_actions, fill_household, mails

ADD = "/famille/dossier/enfants/ajouter"


@pytest.fixture
def mother(app, factory):
    """Household A: validated, child Léa with a health sheet, a pick-up person and documents."""
    family = factory.household(status="validated", last_name="Martin", children=[("Léa", 8)])
    from app.models import AuthorizedPickup, Child, Household, HouseholdChild, db

    with app.app_context():
        household = db.session.get(Household, family.id)
        household.address_line, household.city = "12 impasse des Mimosas", "Flassans-sur-Issole"
        household.guardians[0].first_name = "Claire-Mère"
        child = db.session.get(Child, family.child_ids[0])
        child.allergies, child.doctor_name = "Arachide", "Dr Vidal"
        link = db.session.query(HouseholdChild).filter_by(household_id=family.id).one()
        link.pickups.append(AuthorizedPickup(name="Voisine Rosalie", phone="0612121212"))
        db.session.commit()
        from app.services.household import documents

        documents.add_document(db.session.get(Household, family.id), "insurance", "assurance-maman.pdf", PDF)
        db.session.get(Household, family.id).status = "validated"
        db.session.commit()
        birth = child.birth_date.isoformat()
    family.birth = birth
    return family


MOTHER_PRIVATE = ["Claire-Mère", "12 impasse des Mimosas", "Flassans-sur-Issole", "Voisine Rosalie",
                  "assurance-maman.pdf"]


@pytest.fixture
def father(app, factory):
    family = factory.household(status="draft", last_name="Martin-Père", children=[("Tom", 5)])
    fill_household(app, family.id, separated=True)
    return family


def _add_lea(client, mother, **changes):
    data = {"first_name": "léa", "last_name": "MARTIN", "birth_date": mother.birth, "sex": "F",
            "school": "Autre école", "school_level": "CE2", **changes}
    return client.post(ADD, data=data)


def test_same_child_makes_a_pending_shared_link_not_a_duplicate(app, mother, father, login):
    from app.models import Child, HouseholdChild, db

    client = login(app.test_client(), father.email)
    response = _add_lea(client, mother)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.query(Child).filter_by(first_name="Léa").count() == 1
        link = db.session.query(HouseholdChild).filter_by(household_id=father.id,
                                                          child_id=mother.child_ids[0]).one()
        assert (link.status, link.shared_request) == ("pending", True)
        child = db.session.get(Child, mother.child_ids[0])
        assert child.school != "Autre école"  # the other household's data is not overwritten
    assert "child.shared_request" in audit_actions(app, father.id)
    home = client.get("/famille/").get_data(as_text=True)
    assert "Léa Martin" in home and "jugement de garde" in home
    # Adding her twice is refused with a clear message.
    page = _add_lea(client, mother).get_data(as_text=True)
    assert "figure déjà dans votre dossier" in page


def test_pending_shared_link_shows_nothing_of_the_child(app, mother, father, login):
    client = login(app.test_client(), father.email)
    _add_lea(client, mother)
    child_id = mother.child_ids[0]
    for url in [f"/famille/dossier/enfants/{child_id}", f"/famille/dossier/enfants/{child_id}/sante"]:
        response = client.get(url)
        text = response.get_data(as_text=True)
        assert response.status_code == 409 and "attend la confirmation" in text
        assert "Arachide" not in text and "Dr Vidal" not in text and "Voisine Rosalie" not in text
    for page in [client.get("/famille/"), client.get("/famille/dossier/")]:
        text = page.get_data(as_text=True)
        assert "Arachide" not in text and not any(secret in text for secret in MOTHER_PRIVATE)


def test_staff_confirm_with_the_custody_judgement_then_both_see_the_health_sheet(app, mother, father, factory,
                                                                                 login):
    from app.models import HouseholdChild, db

    client = login(app.test_client(), father.email)
    _add_lea(client, mother)
    staff = login(app.test_client(), factory.staff().email)
    with app.app_context():
        link_id = db.session.query(HouseholdChild.id).filter_by(household_id=father.id,
                                                                child_id=mother.child_ids[0]).scalar()
    listing = staff.get("/revue-dossiers/rattachements").get_data(as_text=True)
    assert "Léa Martin" in listing and "jugement.pdf" in listing
    staff.post(f"/revue-dossiers/rattachement/{link_id}/confirmer")
    with app.app_context():
        assert db.session.get(HouseholdChild, link_id).status == "validated"
    [(kind, to, subject, body, status)] = mails(app, "dossier_child_link")
    assert to == father.email and "confirmé" in subject and "fiche sanitaire" in body

    child_id = mother.child_ids[0]
    health = client.get(f"/famille/dossier/enfants/{child_id}/sante").get_data(as_text=True)
    assert "Arachide" in health and "Dr Vidal" in health
    child_page = client.get(f"/famille/dossier/enfants/{child_id}").get_data(as_text=True)
    pages = health + child_page + client.get("/famille/").get_data(as_text=True) \
        + client.get("/famille/dossier/").get_data(as_text=True) \
        + client.get("/famille/dossier/pieces").get_data(as_text=True) \
        + client.get("/famille/dossier/responsables").get_data(as_text=True)
    assert [secret for secret in MOTHER_PRIVATE if secret in pages] == []

    # The father updates the sheet: the mother sees it; his pick-up person stays his own.
    client.post(f"/famille/dossier/enfants/{child_id}/sante", data={
        "allergies": "Arachide, kiwi", "doctor_name": "Dr Vidal", "doctor_phone": "0494000000",
        "vaccinations_up_to_date": "on"})
    client.post(f"/famille/dossier/enfants/{child_id}/personnes-autorisees",
                data={"name": "Oncle Bernard", "phone": "0633333333"})
    mum = login(app.test_client(), mother.email)
    assert "Arachide, kiwi" in mum.get(f"/famille/dossier/enfants/{child_id}/sante").get_data(as_text=True)
    mum_child = mum.get(f"/famille/dossier/enfants/{child_id}").get_data(as_text=True)
    assert "Voisine Rosalie" in mum_child and "Oncle Bernard" not in mum_child
    mum_docs = mum.get("/famille/dossier/pieces").get_data(as_text=True)
    assert "jugement.pdf" not in mum_docs and "assurance-maman.pdf" in mum_docs
    # And neither downloads the other's documents.
    from app.models import Document

    with app.app_context():
        father_doc = db.session.query(Document.id).filter_by(household_id=father.id).first()[0]
        mother_doc = db.session.query(Document.id).filter_by(household_id=mother.id).first()[0]
    assert mum.get(f"/famille/dossier/pieces/{father_doc}").status_code == 404
    assert client.get(f"/famille/dossier/pieces/{mother_doc}").status_code == 404


def test_confirming_needs_a_custody_judgement(app, mother, factory, login):
    from app.models import HouseholdChild, db

    other = factory.household(status="draft", last_name="Sans-Jugement")
    fill_household(app, other.id)  # no custody judgement uploaded
    client = login(app.test_client(), other.email)
    _add_lea(client, mother)
    with app.app_context():
        link_id = db.session.query(HouseholdChild.id).filter_by(household_id=other.id,
                                                                child_id=mother.child_ids[0]).scalar()
    staff = login(app.test_client(), factory.staff().email)
    page = staff.post(f"/revue-dossiers/rattachement/{link_id}/confirmer", follow_redirects=True)
    assert "jugement de garde valable" in page.get_data(as_text=True)
    # The custody judgement is required by the checklist as soon as a shared child is added.
    from app.models import Household
    from app.services.household import checklist

    with app.app_context():
        household = db.session.get(Household, other.id)
        assert "doc:custody_judgement" in [i.code for i in checklist.missing(household)]
        assert db.session.get(HouseholdChild, link_id).status == "pending"


def test_staff_refuse_a_shared_link(app, mother, father, factory, login):
    from app.models import HouseholdChild, db

    client = login(app.test_client(), father.email)
    _add_lea(client, mother)
    with app.app_context():
        link_id = db.session.query(HouseholdChild.id).filter_by(household_id=father.id,
                                                                child_id=mother.child_ids[0]).scalar()
    staff = login(app.test_client(), factory.staff().email)
    staff.post(f"/revue-dossiers/rattachement/{link_id}/refuser", data={"note": "Pas de lien de filiation"})
    home = client.get("/famille/").get_data(as_text=True)
    assert "Rattachement refusé" in home
    assert client.get(f"/famille/dossier/enfants/{mother.child_ids[0]}/sante").status_code == 404
    assert "child_link.refused" in audit_actions(app, father.id)
    [(kind, to, subject, body, status)] = mails(app, "dossier_child_link")
    assert to == father.email and "refusé" in subject and "Pas de lien de filiation" in body
    # Removing the refused link leaves the child with its other household.
    client.post(f"/famille/dossier/enfants/{mother.child_ids[0]}/retirer")
    from app.models import Child

    with app.app_context():
        assert [link.household_id for link in db.session.get(Child, mother.child_ids[0]).household_links] \
            == [mother.id]


def test_a_pending_shared_link_can_be_withdrawn_without_touching_the_child(app, mother, father, login):
    from app.models import Child, db

    client = login(app.test_client(), father.email)
    _add_lea(client, mother)
    assert "Retirer Léa du dossier" in client.get("/famille/dossier/").get_data(as_text=True)
    client.post(f"/famille/dossier/enfants/{mother.child_ids[0]}/retirer")
    with app.app_context():
        child = db.session.get(Child, mother.child_ids[0])
        assert child is not None and [link.household_id for link in child.household_links] == [mother.id]


def test_validating_the_file_keeps_the_shared_link_pending(app, mother, father, factory, login):
    """Validate confirms the plain children; a shared child waits for its own confirmation."""
    from app.models import HouseholdChild, db
    from app.services.household import dossier

    client = login(app.test_client(), father.email)
    _add_lea(client, mother)
    # The shared child's sheet is already on file: the father's checklist asks for the custody judgement
    # (uploaded by `fill_household(separated=True)`), not for Léa's sheet he cannot see yet.
    client.post("/famille/dossier/envoyer")
    with app.app_context():
        dossier.validate(father.id, app.appbuilder.sm.get_user_by_id(factory.staff().id), "700")
        statuses = {link.child.first_name: link.status
                    for link in db.session.query(HouseholdChild).filter_by(household_id=father.id)}
    assert statuses == {"Tom": "validated", "Léa": "pending"}


def test_staff_review_shows_the_other_household(app, mother, father, factory, login):
    client = login(app.test_client(), father.email)
    _add_lea(client, mother)
    staff = login(app.test_client(), factory.staff().email)
    page = staff.get(f"/revue-dossiers/dossier/{father.id}").get_data(as_text=True)
    assert "enfant partagé avec un autre foyer" in page and "Foyer Martin" in page
    assert "Confirmer le rattachement" in page
