"""Lower-severity findings of issue 11: CSV formula cells, sign-up timing, the shared-child message,
non-ASCII digits and NUL bytes in input."""
from __future__ import annotations

import csv
import io
from datetime import date
from types import SimpleNamespace

import pytest

from tests.dossier_helpers import mails

NEUTRAL_SHARED = "Votre demande de rattachement sera vérifiée par le Pôle Jeunesse"


# --- CSV: one rule for every cell ----------------------------------------------------------

def _cells(*values) -> list[str]:
    from app.services.operations.csv_export import to_csv

    text = to_csv([str(i) for i in range(len(values))], [list(values)]).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))[1]


@pytest.mark.parametrize("payload", [
    "-2+3+cmd|' /C calc'!A0",
    "=1+1",
    "@SUM(A1:A9)",
    "+cmd|' /C calc'!A0",
    "-1+1",
    "+33 6 12 34 56 78+cmd|'/C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "- noix",
    "-",
])
def test_formula_like_cells_get_a_leading_quote(payload):
    assert _cells(payload) == ["'" + payload]


@pytest.mark.parametrize("value", [
    "+33 6 12 34 56 78", "+33612345678", "06 12 34 56 78", "-12.5", "-12,5", "+3", "-0", "42", "Léa",
    "arachides - noix",
])
def test_numbers_and_phone_numbers_stay_as_typed(value):
    assert _cells(value) == [value]


def test_a_pickup_name_typed_by_a_parent_is_neutralised_in_the_roster():
    from app.services.operations.csv_export import roster_csv

    child = SimpleNamespace(
        last_name="Martin", first_name="Léa", birth_date=date(2018, 3, 2), age=8, allergies=None, diet=None,
        pai=False, pai_details=None, medical_notes=None, transport_mode="onsite", circuit_name=None,
        stop_name=None, pickup_time=None, dropoff_time=None, contacts=[],
        pickups=[SimpleNamespace(name="-2+3+cmd|' /C calc'!A0", relationship=None, phone="0612345678")])
    roster = SimpleNamespace(establishment_name="ALSH", period_name="Été", week_label="S1",
                             week_starts_on=date(2026, 7, 6), week_ends_on=date(2026, 7, 10), children=[child])
    text = roster_csv([roster]).decode("utf-8-sig")
    row = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))[1]
    assert row[-1].startswith("'-2+3+cmd")


# --- sign-up: the same work whether the address is known or not ----------------------------

def test_signup_hashes_the_password_for_a_known_and_for_a_new_address(app, factory, monkeypatch):
    from app.services.household import accounts

    calls = []
    real = accounts.generate_password_hash

    def spy(password, *args, **kwargs):
        calls.append(password)
        return real(password, *args, **kwargs)

    monkeypatch.setattr(accounts, "generate_password_hash", spy)
    known = factory.household()
    client = app.test_client()
    password = "Soleil-du-Var-2026"

    def sign_up(email):
        calls.clear()
        response = client.post("/compte/creer", data={"first_name": "Nina", "last_name": "Durand", "email": email,
                                                      "password": password, "conf_password": password})
        assert response.status_code == 200
        return list(calls)

    assert sign_up("nouvelle.adresse@example.test") == [password]
    assert sign_up(known.email) == [password]
    assert [m[0] for m in mails(app)] == ["account_confirmation", "account_exists"]


# --- a child already known elsewhere -------------------------------------------------------

@pytest.fixture
def shared_child(app, factory):
    """Household A with Léa; household B (draft) about to type the same child."""
    from app.models import Child, db

    mother = factory.household(status="validated", last_name="Martin", children=[("Léa", 8)])
    father = factory.household(status="draft", last_name="Martin-Père", children=[("Tom", 5)])
    with app.app_context():
        birth = db.session.get(Child, mother.child_ids[0]).birth_date.isoformat()
    return SimpleNamespace(mother=mother, father=father,
                           data={"first_name": "léa", "last_name": "MARTIN", "birth_date": birth, "sex": "F",
                                 "school": "Autre école", "school_level": "CE2"})


def test_adding_a_possibly_shared_child_gets_a_neutral_message(app, shared_child):
    from app.models import Household, db
    from app.services.household import dossier

    with app.app_context():
        added = dossier.add_child(db.session.get(Household, shared_child.father.id), shared_child.data)
        assert added.shared  # staff still see it as a shared-link request to review
        assert NEUTRAL_SHARED in added.message
        assert "autre parent" not in added.message and "figure déjà" not in added.message


def test_the_add_child_page_does_not_reveal_the_other_household(app, shared_child, login):
    client = login(app.test_client(), shared_child.father.email)
    page = client.post("/famille/dossier/enfants/ajouter", data=shared_child.data,
                       follow_redirects=True).get_data(as_text=True)
    assert NEUTRAL_SHARED in page
    assert "autre parent" not in page


# --- digits are ASCII digits ---------------------------------------------------------------

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _household_form(**changes) -> dict:
    return {"email": "famille@example.test", "phone": "0612345678", "address_line": "1 place de la Mairie",
            "postcode": "83890", "city": "Besse", "caf_number": "1234567", "declared_quotient": "850", **changes}


@pytest.mark.parametrize("field", ["postcode", "caf_number", "declared_quotient", "phone"])
def test_non_ascii_digits_are_refused(app, factory, field):
    from app.models import Household, db
    from app.services.errors import ValidationFailed
    from app.services.household import dossier

    family = factory.household(status="draft")
    foreign = _household_form()[field].translate(ARABIC_INDIC)
    with app.app_context():
        household = db.session.get(Household, family.id)
        dossier.update_household(household, _household_form())  # the ASCII form is accepted
        with pytest.raises(ValidationFailed) as refused:
            dossier.update_household(household, _household_form(**{field: foreign}))
        assert field in refused.value.details["errors"]
        db.session.rollback()
        assert getattr(db.session.get(Household, family.id), field) != foreign


def test_a_password_needs_an_ascii_digit():
    from app.services.household.accounts import password_problems

    assert any("chiffre" in p for p in password_problems("Soleil-du-Var-٢٠٢٦"))
    assert password_problems("Soleil-du-Var-2026") == []


# --- NUL bytes -----------------------------------------------------------------------------

def test_nul_byte_in_a_form_is_refused_in_french_and_nothing_is_saved(app):
    response = app.test_client().post("/compte/creer", data={
        "first_name": "Ni\x00na", "last_name": "Durand", "email": "nina.nul@example.test",
        "password": "Soleil-du-Var-2026", "conf_password": "Soleil-du-Var-2026"})
    assert response.status_code == 400
    assert "Caractère non autorisé" in response.get_data(as_text=True)
    assert mails(app) == []


def test_nul_byte_in_a_query_string_is_refused(app, factory, login):
    client = login(app.test_client(), factory.staff().email)
    response = client.get("/staffmaillogview/list/?_flt_0_subject=a%00b")
    assert response.status_code == 400
    assert "Caractère non autorisé" in response.get_data(as_text=True)


def test_nul_byte_in_json_is_refused_with_a_json_answer(app, factory):
    family = factory.household()
    response = app.test_client().post("/api/v1/security/login",
                                      json={"username": family.email + "\x00", "password": "x", "provider": "db"})
    assert response.status_code == 400
    assert "Caractère non autorisé" in response.get_json()["message"]


def test_nul_byte_in_a_field_name_or_nested_json_is_refused(app):
    client = app.test_client()
    response = client.post("/compte/creer", data={
        "first_name": "Nina", "last_name": "Durand", "email": "nina.cle@example.test",
        "password": "Soleil-du-Var-2026", "conf_password": "Soleil-du-Var-2026", "note\x00": "x"})
    assert response.status_code == 400 and "Caractère non autorisé" in response.get_data(as_text=True)
    response = client.post("/api/v1/security/login", json={"username": ["a", {"b": "c\x00"}]})
    assert response.status_code == 400 and "Caractère non autorisé" in response.get_json()["message"]
    assert mails(app) == []


def test_ordinary_input_still_passes(app):
    response = app.test_client().post("/compte/creer", data={
        "first_name": "Nina", "last_name": "Durand", "email": "nina.ok@example.test",
        "password": "Soleil-du-Var-2026", "conf_password": "Soleil-du-Var-2026"})
    assert response.status_code == 200
