"""Household file v2 (issue 19), services: staff edit through the parent's services (same checks, same
messages, audited, no return to review), reopening a validated file, dated and sourced QF records and
the price of a week by the QF valid at its start."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from tests.dossier_helpers import audit_actions, fill_household

BAD_HOUSEHOLD = {"email": "pas-une-adresse", "phone": "12", "address_line": "", "postcode": "123",
                 "city": "Le Luc", "caf_number": "12ab", "declared_quotient": "huit cents"}


def _household(household_id):
    from app.models import Household, db

    return db.session.get(Household, household_id)


def _user(app, user_id):
    return app.appbuilder.sm.get_user_by_id(user_id)


def _errors(call):
    from app.services.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        call()
    return caught.value.message, caught.value.details["errors"]


# --- staff edit ------------------------------------------------------------------------------

def test_the_same_bad_input_gets_the_same_messages_from_parent_and_staff(app, factory):
    from app.models import db
    from app.services.household import dossier, staff_edit

    family = factory.household()
    agent = factory.staff()
    with app.app_context():
        parent_message, parent_errors = _errors(
            lambda: dossier.update_household(_household(family.id), BAD_HOUSEHOLD, actor=_user(app, family.user_id)))
        db.session.rollback()
        staff_message, staff_errors = _errors(
            lambda: staff_edit.update_household(family.id, BAD_HOUSEHOLD, _user(app, agent.id)))
        db.session.rollback()
        assert set(parent_errors) >= {"email", "phone", "address_line", "postcode", "caf_number",
                                      "declared_quotient"}
        assert (staff_message, staff_errors) == (parent_message, parent_errors)
        assert parent_errors["postcode"] == "Le code postal compte 5 chiffres."
        guardian_id = _household(family.id).guardians[0].id
        bad_guardian = {"first_name": "J3an", "last_name": "", "phone": "abc"}
        parent_guardian = _errors(lambda: dossier.save_guardian(_household(family.id), bad_guardian, guardian_id))
        db.session.rollback()
        staff_guardian = _errors(lambda: staff_edit.save_guardian(family.id, bad_guardian, _user(app, agent.id),
                                                                  guardian_id))
        assert staff_guardian == parent_guardian and set(parent_guardian[1]) == {"first_name", "last_name", "phone"}


def test_a_staff_correction_is_audited_with_before_and_after_and_keeps_the_file_validated(app, factory):
    from app.models import AuditLog, db
    from app.services.household import staff_edit

    family = factory.household(status="validated")
    fill_household(app, family.id, documents=False)
    agent = factory.staff()
    with app.app_context():
        values = {"email": "nouvelle@example.test", "phone": "0622334455", "address_line": "5 avenue Foch",
                  "postcode": "83340", "city": "Le Luc", "caf_number": "7654321", "declared_quotient": "820"}
        changed = staff_edit.update_household(family.id, values, _user(app, agent.id))
        assert set(changed) == {"email", "phone", "address_line"}
        household = _household(family.id)
        assert household.status == "validated" and household.address_line == "5 avenue Foch"
        entry = db.session.query(AuditLog).filter_by(action="household.updated", household_id=family.id).one()
        assert entry.actor_id == agent.id
        assert json.loads(entry.before)["address_line"] == "3 rue des Écoles"
        assert json.loads(entry.after)["address_line"] == "5 avenue Foch"
    assert "household.back_to_review" not in audit_actions(app, family.id)


def test_the_same_change_by_the_parent_sends_the_validated_file_back_to_review(app, factory):
    """The control of the test above: only staff's own correction skips the review."""
    from app.services.household import dossier

    family = factory.household(status="validated")
    fill_household(app, family.id, documents=False)
    with app.app_context():
        values = {"email": family.email, "phone": "0622334455", "address_line": "5 avenue Foch",
                  "postcode": "83340", "city": "Le Luc", "caf_number": "7654321", "declared_quotient": "820"}
        dossier.update_household(_household(family.id), values, actor=_user(app, family.user_id))
        assert _household(family.id).status == "submitted"


def test_staff_may_correct_a_confirmed_childs_birth_date_a_parent_may_not(app, factory):
    from app.models import Child, db
    from app.services.household import dossier, staff_edit

    family = factory.household(status="validated", children=[("Léa", 8)], last_name="Martin")
    agent = factory.staff()
    child_id = family.child_ids[0]
    data = {"first_name": "Léa", "last_name": family.last_name, "birth_date": "2017-03-25", "sex": "F",
            "school": "École Jean Moulin", "school_level": "CE2"}
    with app.app_context():
        dossier.update_child(_household(family.id), child_id, data, actor=_user(app, family.user_id))
        assert db.session.get(Child, child_id).birth_date != date(2017, 3, 25)  # ignored for the parent
        staff_edit.update_child(family.id, child_id, data, _user(app, agent.id))
        assert db.session.get(Child, child_id).birth_date == date(2017, 3, 25)
        message, errors = _errors(lambda: staff_edit.update_child(
            family.id, child_id, {**data, "birth_date": "31/02/2017"}, _user(app, agent.id)))
        assert errors == {"birth_date": "Date non valide (exemple : 25/03/2018)."}


def test_reopen_puts_a_validated_file_back_in_the_queue_and_refuses_any_other(app, factory):
    from app.services.errors import Conflict
    from app.services.household import dossier, staff_edit

    family = factory.household(status="validated")
    agent = factory.staff()
    with app.app_context():
        staff_edit.reopen(family.id, _user(app, agent.id), "Changement d'adresse signalé par téléphone")
        assert _household(family.id).status == "submitted"
        assert [entry.household.id for entry in dossier.review_queue()] == [family.id]
        with pytest.raises(Conflict) as caught:
            staff_edit.reopen(family.id, _user(app, agent.id))
        assert "Seul un dossier validé" in caught.value.message
    assert "household.reopened" in audit_actions(app, family.id)


# --- QF with dates and source ------------------------------------------------------------------

def test_pricing_follows_the_qf_valid_at_each_weeks_start(app, factory):
    from app.models import Period, Week, db
    from app.services.booking.pricing import bracket_for, price_line
    from app.services.household import quotients

    family = factory.household(status="validated", quotient=650)
    agent = factory.staff()
    catalog = factory.catalog(capacities=(10, 10, 10))
    with app.app_context():
        period = db.session.get(Period, catalog.period_id)
        weeks = [db.session.get(Week, week_id) for week_id in catalog.week_ids]
        staff = _user(app, agent.id)
        # 650 until the second week's eve, 1500 from its Monday: weeks 2 and 3 take the new QF.
        quotients.record_quotient(_household(family.id), {
            "value": "650", "source": "caf", "valid_from": (weeks[0].starts_on - timedelta(days=60)).isoformat(),
            "valid_to": (weeks[1].starts_on - timedelta(days=1)).isoformat()}, staff)
        quotients.record_quotient(_household(family.id), {
            "value": "1500", "source": "tax_notice", "valid_from": weeks[1].starts_on.isoformat(),
            "valid_to": (weeks[2].starts_on - timedelta(days=1)).isoformat()}, staff)
        household = _household(family.id)
        assert price_line(household, period, "onsite", weeks[0]).price_cents == 4500
        assert price_line(household, period, "onsite", weeks[1]).price_cents == 8000
        # No proof covers the third week: the top bracket, never the last QF kept forever.
        assert bracket_for(household, period, weeks[2]).price_cents == 8000
        quotients.record_quotient(household, {"value": "900", "source": "msa",
                                              "valid_from": weeks[2].starts_on.isoformat()}, staff)
        assert price_line(_household(family.id), period, "bus", weeks[2]).price_cents == 6000


def test_a_household_without_records_keeps_its_validated_qf_and_a_draft_pays_the_top(app, factory):
    from app.models import Period, db
    from app.services.booking.pricing import bracket_for

    validated = factory.household(status="validated", quotient=650)
    draft = factory.household(status="draft", quotient=650)
    catalog = factory.catalog()
    with app.app_context():
        period = db.session.get(Period, catalog.period_id)
        assert bracket_for(_household(validated.id), period).price_cents == 4500
        assert bracket_for(_household(draft.id), period).price_cents == 8000


def test_a_new_open_record_closes_the_previous_one_and_overlaps_are_refused(app, factory):
    from app.models import QuotientRecord, db
    from app.services.errors import Conflict
    from app.services.household import quotients

    family = factory.household(status="validated", quotient=650)
    agent = factory.staff()
    with app.app_context():
        staff = _user(app, agent.id)
        first = quotients.record_quotient(_household(family.id), {"value": "650", "source": "caf",
                                                                  "valid_from": "2026-01-01"}, staff)
        quotients.record_quotient(_household(family.id), {"value": "700", "source": "caf",
                                                          "valid_from": "2026-09-01"}, staff)
        assert db.session.get(QuotientRecord, first.id).valid_to == date(2026, 8, 31)
        with pytest.raises(Conflict) as caught:
            quotients.record_quotient(_household(family.id), {"value": "720", "source": "caf",
                                                              "valid_from": "2026-05-01",
                                                              "valid_to": "2026-06-30"}, staff)
        assert "chevauchent" in caught.value.message
        db.session.rollback()
        message, errors = _errors(lambda: quotients.record_quotient(
            _household(family.id), {"value": "-3", "source": "impots", "valid_from": "2026-13-01"}, staff))
        assert set(errors) == {"value", "source", "valid_from"}


def test_validating_a_file_records_its_qf_read_on_the_caf_attestation(app, factory):
    from app.services.household import dossier, quotients

    family = factory.household(status="submitted", quotient=None)
    fill_household(app, family.id)
    agent = factory.staff()
    with app.app_context():
        dossier.validate(family.id, _user(app, agent.id), "830")
        [record] = quotients.records_of(family.id)
        assert (record.value, record.source, record.valid_to, record.entered_by_id) == (830, "caf", None, agent.id)
        assert quotients.quotient_on(_household(family.id), record.valid_from + timedelta(days=30)) == 830


def test_a_basket_prices_each_week_with_the_qf_valid_at_its_start(app, factory):
    """The rule reaches every caller: add-to-basket prices each line with its own week's QF."""
    from app.models import Reservation, Week, db
    from app.services.household import quotients
    from tests.booking_helpers import add

    family = factory.household(status="validated", quotient=650)
    agent = factory.staff()
    catalog = factory.catalog(capacities=(10, 10))
    with app.app_context():
        weeks = [db.session.get(Week, week_id) for week_id in catalog.week_ids]
        staff = _user(app, agent.id)
        quotients.record_quotient(_household(family.id), {
            "value": "650", "source": "caf", "valid_from": (weeks[0].starts_on - timedelta(days=60)).isoformat(),
            "valid_to": (weeks[1].starts_on - timedelta(days=1)).isoformat()}, staff)
        quotients.record_quotient(_household(family.id), {
            "value": "1500", "source": "tax_notice", "valid_from": weeks[1].starts_on.isoformat()}, staff)
    lines = [add(app, family.id, family.child_ids[0], week_id) for week_id in catalog.week_ids]
    with app.app_context():
        assert [db.session.get(Reservation, line).price_cents for line in lines] == [4500, 8000]
