"""Desk onboarding (issue 19): staff create a household from a paper file, complete and validate it,
and either keep it desk-only or invite the parent, who claims the login once, with the invited
address only."""
from __future__ import annotations

import re

import pytest

from tests.dossier_helpers import JPEG, PDF, PNG, audit_actions, mails
from tests.support.factories import PASSWORD

GUARDIAN = {"first_name": "Nadia", "last_name": "Benali", "relationship_label": "Mère", "phone": "06 11 22 33 44"}
ADDRESS = {"phone": "0611223344", "address_line": "2 rue du Moulin", "postcode": "83340", "city": "Le Luc",
           "caf_number": "1234567", "declared_quotient": "540"}


def _user(app, user_id):
    return app.appbuilder.sm.get_user_by_id(user_id)


def desk_family(app, agent_id, email=None) -> int:
    """A paper file typed in at the desk, completed, sent and validated: the household's id."""
    from app.models import DocumentKind, Household, db
    from app.services.household import desk_onboarding, documents, dossier, staff_edit

    with app.app_context():
        staff = _user(app, agent_id)
        household = desk_onboarding.create_at_desk({**GUARDIAN, "email": email or ""}, staff)
        household_id = household.id
        staff_edit.update_household(household_id, {**ADDRESS, "email": email or ""}, staff)
        added = staff_edit.add_child(household_id, {"first_name": "Yanis", "last_name": "Benali",
                                                    "birth_date": "2017-05-04", "sex": "M",
                                                    "school": "École du Centre", "school_level": "CE2"}, staff)
        child_id = added.link.child_id
        staff_edit.update_health(household_id, child_id, {"doctor_name": "Dr Roux", "doctor_phone": "0494000000",
                                                          "vaccinations_up_to_date": "on"}, staff)
        household = db.session.get(Household, household_id)
        documents.add_document(household, DocumentKind.QF_ATTESTATION, "caf.pdf", PDF, actor=staff)
        documents.add_document(household, DocumentKind.INSURANCE, "assurance.jpg", JPEG, actor=staff)
        documents.add_document(household, DocumentKind.VACCINATIONS, "vaccins.png", PNG, child_id=child_id,
                               actor=staff)
        desk_onboarding.submit_at_desk(household_id, staff)
        dossier.validate(household_id, staff, "540")
    return household_id


def test_a_desk_only_family_needs_no_email_and_is_validated(app, factory):
    from app.models import Household, db

    agent = factory.staff()
    household_id = desk_family(app, agent.id)
    with app.app_context():
        household = db.session.get(Household, household_id)
        assert household.status == "validated" and household.owner_id is None and household.email is None
        assert household.child_links[0].status == "validated"
    assert "household.created_at_desk" in audit_actions(app, household_id)
    assert mails(app) == []  # no address: nothing to send, nothing failed


def test_an_invited_household_is_claimed_once_and_only_by_the_invited_address(app, factory, client, login):
    from app.models import Household, HouseholdInvitation, db
    from app.services.errors import ValidationFailed
    from app.services.household import desk_onboarding

    agent = factory.staff()
    household_id = desk_family(app, agent.id)
    with app.app_context():
        token = desk_onboarding.invite(household_id, "nadia.benali@example.test", _user(app, agent.id))
        [invitation] = db.session.query(HouseholdInvitation).all()
        assert invitation.token_hash != token and token not in invitation.token_hash
    [(kind, to, subject, body, status)] = mails(app, "household_invitation")
    assert to == "nadia.benali@example.test" and token not in body  # the log masks the link
    good = {"email": "nadia.benali@example.test", "password": PASSWORD, "conf_password": PASSWORD}
    with app.app_context():
        with pytest.raises(ValidationFailed) as caught:
            desk_onboarding.claim(token, {**good, "email": "quelquun@example.test"})
        assert "autre adresse" in caught.value.details["errors"]["email"]
        db.session.rollback()
        assert db.session.get(Household, household_id).owner_id is None
        user = desk_onboarding.claim(token, {**good, "email": "Nadia.Benali@example.test"})
        assert db.session.get(Household, household_id).owner_id == user.id
        assert [role.name for role in user.roles] == ["Parent"]
        with pytest.raises(ValidationFailed) as caught:
            desk_onboarding.claim(token, good)
        assert caught.value.code == "bad_token"
    assert "invitation.claimed" in audit_actions(app, household_id)
    login(client, "nadia.benali@example.test")
    page = client.get("/famille/")
    assert page.status_code == 200 and "Yanis" in page.get_data(as_text=True)


def test_a_new_invitation_revokes_the_previous_one_and_an_existing_account_is_refused(app, factory):
    from app.services.errors import Conflict, ValidationFailed
    from app.services.household import desk_onboarding

    agent = factory.staff()
    other = factory.household()
    household_id = desk_family(app, agent.id)
    with app.app_context():
        staff = _user(app, agent.id)
        first = desk_onboarding.invite(household_id, "ancienne@example.test", staff)
        desk_onboarding.invite(household_id, "nouvelle@example.test", staff)
        with pytest.raises(ValidationFailed):
            desk_onboarding.invitation_for_token(first)
        with pytest.raises(Conflict) as caught:
            desk_onboarding.invite(household_id, other.email, staff)
        assert caught.value.code == "email_taken"
        with pytest.raises(ValidationFailed) as caught:
            desk_onboarding.invite(household_id, "pas une adresse", staff)
        assert caught.value.details["errors"]["email"].startswith("Adresse e-mail non valide")


def test_a_household_with_a_login_cannot_be_invited(app, factory):
    from app.services.errors import Conflict
    from app.services.household import desk_onboarding

    family = factory.household()
    agent = factory.staff()
    with app.app_context():
        with pytest.raises(Conflict) as caught:
            desk_onboarding.invite(family.id, "autre@example.test", _user(app, agent.id))
        assert caught.value.code == "has_account"


def test_an_expired_or_forged_token_is_refused(app, factory):
    from datetime import timedelta

    from app.models import HouseholdInvitation, db, utcnow
    from app.services.errors import ValidationFailed
    from app.services.household import desk_onboarding

    agent = factory.staff()
    household_id = desk_family(app, agent.id)
    with app.app_context():
        token = desk_onboarding.invite(household_id, "nadia@example.test", _user(app, agent.id))
        db.session.query(HouseholdInvitation).update({"expires_at": utcnow() - timedelta(minutes=1)})
        db.session.commit()
        for candidate in (token, "x" * 43, "../../etc", ""):
            with pytest.raises(ValidationFailed):
                desk_onboarding.invitation_for_token(candidate)
    assert re.fullmatch(r"[A-Za-z0-9_\-]{43}", token)
