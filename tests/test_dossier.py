"""The household file's lifecycle as services: submit, validate, mark incomplete, bulk validate,
back to review after validation, health-sheet changes, working hours and the staff digest."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.models import DocumentKind
from tests.dossier_helpers import PDF, audit_actions, fill_household, mails, set_status

PARIS = ZoneInfo("Europe/Paris")


def _user(app, user_id):
    return app.appbuilder.sm.get_user_by_id(user_id)


def _household(app, household_id):
    from app.models import Household, db

    return db.session.get(Household, household_id)


# --- submit --------------------------------------------------------------------------------

def test_submit_refuses_an_incomplete_file_with_what_is_missing(app, factory):
    from app.services.errors import ValidationFailed
    from app.services.household import dossier

    family = factory.household(status="draft")
    with app.app_context():
        with pytest.raises(ValidationFailed) as caught:
            dossier.submit(_household(app, family.id))
        assert "Il manque" in caught.value.message and "Attestation d'assurance" in caught.value.message
        assert "doc:insurance" in caught.value.details["missing"]
        assert _household(app, family.id).status == "draft"
    assert mails(app) == []


def test_submit_a_complete_file_logs_audits_and_mails(app, factory):
    from app.services.household import dossier

    family = factory.household(status="draft")
    fill_household(app, family.id)
    with app.app_context():
        parent = _user(app, family.user_id)
        dossier.submit(_household(app, family.id), actor=parent)
        household = _household(app, family.id)
        assert household.status == "submitted" and household.submitted_at is not None
    assert "household.submitted" in audit_actions(app, family.id)
    [(kind, to, subject, body, status)] = mails(app, "dossier_received")
    assert to == family.email and "bien été reçu" in subject and "72 h ouvrées" in body


def test_submit_twice_is_refused(app, factory):
    from app.services.errors import Conflict
    from app.services.household import dossier

    family = factory.household(status="draft")
    fill_household(app, family.id)
    with app.app_context():
        dossier.submit(_household(app, family.id))
        with pytest.raises(Conflict):
            dossier.submit(_household(app, family.id))
    assert len(mails(app, "dossier_received")) == 1


# --- validate / incomplete -----------------------------------------------------------------

def _submitted(app, factory, **kwargs):
    family = factory.household(status="draft", **kwargs)
    fill_household(app, family.id)
    set_status(app, family.id, "submitted")
    return family


def test_validate_sets_the_qf_and_validates_the_child_links_and_documents(app, factory):
    from app.services.household import dossier

    family = _submitted(app, factory, children=[("Léa", 8), ("Hugo", 6)])
    agent = factory.staff()
    with app.app_context():
        dossier.validate(family.id, _user(app, agent.id), "735")
        household = _household(app, family.id)
        assert household.status == "validated" and household.quotient == 735
        assert household.validated_by_id == agent.id and household.validated_at is not None
        assert {link.status for link in household.child_links} == {"validated"}
        assert {d.status for d in household.documents} == {"accepted"}
    actions = audit_actions(app, family.id)
    assert "household.validated" in actions and actions.count("child_link.validated") == 2
    [(kind, to, subject, body, status)] = mails(app, "dossier_validated")
    assert "vous pouvez maintenant réserver" in body.lower() or "pouvez maintenant réserver" in body
    assert "735" in body


@pytest.mark.parametrize("raw", ["", "abc", "-5", "12,5"])
def test_validate_needs_a_valid_qf_when_the_family_has_a_caf_number(app, factory, raw):
    from app.services.errors import ValidationFailed
    from app.services.household import dossier

    family = _submitted(app, factory)
    with app.app_context():
        with pytest.raises(ValidationFailed) as caught:
            dossier.validate(family.id, _user(app, factory.staff().id), raw)
        assert "quotient" in caught.value.details["errors"]
        assert _household(app, family.id).status == "submitted"
    assert mails(app, "dossier_validated") == []


def test_validate_without_caf_number_means_top_tariff(app, factory):
    from app.models import Household, db
    from app.services.household import dossier

    family = _submitted(app, factory)
    with app.app_context():
        household = db.session.get(Household, family.id)
        household.no_caf_number, household.caf_number, household.declared_quotient = True, None, None
        db.session.commit()
        dossier.validate(family.id, _user(app, factory.staff().id), "")
        assert _household(app, family.id).quotient is None
        assert _household(app, family.id).status == "validated"


def test_validate_rechecks_the_checklist(app, factory):
    """Staff cannot validate what the parent's checklist says is incomplete (and vice versa)."""
    from app.models import Child, db
    from app.services.errors import ValidationFailed
    from app.services.household import dossier

    family = _submitted(app, factory)
    with app.app_context():
        db.session.get(Child, family.child_ids[0]).doctor_name = None
        db.session.commit()
        with pytest.raises(ValidationFailed, match="Fiche sanitaire de Léa"):
            dossier.validate(family.id, _user(app, factory.staff().id), "700")
        assert _household(app, family.id).status == "submitted"


def test_validate_a_draft_is_refused(app, factory):
    from app.services.errors import Conflict
    from app.services.household import dossier

    family = factory.household(status="draft")
    fill_household(app, family.id)
    with app.app_context():
        with pytest.raises(Conflict):
            dossier.validate(family.id, _user(app, factory.staff().id), "700")


def test_mark_incomplete_refuses_documents_and_mails_reasons(app, factory):
    from app.services.household import checklist, dossier

    family = _submitted(app, factory)
    agent = factory.staff()
    with app.app_context():
        dossier.mark_incomplete(family.id, _user(app, agent.id), ["insurance", "address"], "Attestation de 2023.")
        household = _household(app, family.id)
        assert household.status == "incomplete"
        assert json.loads(household.incomplete_reasons) == ["insurance", "address"]
        missing = checklist.missing(household)
        assert [(i.code, i.state) for i in missing] == [("doc:insurance", "refused")]
        assert "Attestation de 2023." in missing[0].detail
        assert dossier.incomplete_reasons(household)[1].startswith("Adresse incomplète")
    [(kind, to, subject, body, status)] = mails(app, "dossier_incomplete")
    assert "incomplet" in subject
    assert "Attestation d'assurance manquante" in body and "Adresse incomplète" in body
    assert "Attestation de 2023." in body and "http://portail.test/famille/dossier" in body
    assert {"household.incomplete", "document.refused"} <= set(audit_actions(app, family.id))


@pytest.mark.parametrize("reasons, note, field", [([], "x", "reasons"), (["nope"], "", "reasons"),
                                                  (["other"], "", "note")])
def test_mark_incomplete_needs_known_reasons(app, factory, reasons, note, field):
    from app.services.errors import ValidationFailed
    from app.services.household import dossier

    family = _submitted(app, factory)
    with app.app_context():
        with pytest.raises(ValidationFailed) as caught:
            dossier.mark_incomplete(family.id, _user(app, factory.staff().id), reasons, note)
        assert field in caught.value.details["errors"]
        assert _household(app, family.id).status == "submitted"


def test_incomplete_then_fixed_then_resubmitted_then_validated(app, factory):
    from app.services.household import documents, dossier

    family = _submitted(app, factory)
    agent = factory.staff()
    with app.app_context():
        dossier.mark_incomplete(family.id, _user(app, agent.id), ["qf_attestation"], None)
        from app.services.errors import ValidationFailed

        with pytest.raises(ValidationFailed, match="Attestation de quotient familial"):
            dossier.submit(_household(app, family.id))
        documents.add_document(_household(app, family.id), DocumentKind.QF_ATTESTATION, "caf-2026.pdf", PDF)
        dossier.submit(_household(app, family.id))
        dossier.validate(family.id, _user(app, agent.id), "640")
        household = _household(app, family.id)
        assert household.status == "validated" and household.incomplete_reasons is None
    assert [m[0] for m in mails(app)] == ["dossier_incomplete", "dossier_received", "dossier_validated"]


def test_bulk_validate_rechecks_each_row(app, factory):
    from app.models import Child, db
    from app.services.household import dossier

    good = _submitted(app, factory)
    broken = _submitted(app, factory)
    draft = factory.household(status="draft")
    fill_household(app, draft.id)
    with app.app_context():
        db.session.get(Child, broken.child_ids[0]).school = None
        db.session.commit()
        result = dossier.bulk_validate([good.id, broken.id, draft.id, 999999], _user(app, factory.staff().id))
        assert result.validated == [good.id]
        skipped = dict(result.skipped)
        assert set(skipped) == {broken.id, draft.id, 999999}
        assert "École et classe" in skipped[broken.id]
        assert _household(app, good.id).quotient == 820  # the declared QF
        assert _household(app, broken.id).status == "submitted"
        assert _household(app, draft.id).status == "draft"


def test_validate_concurrently_validates_once(app, factory):
    from app.services.errors import Conflict
    from app.services.household import dossier

    family = _submitted(app, factory)
    agent = factory.staff()
    with app.app_context():
        dossier.validate(family.id, _user(app, agent.id), "700")
        with pytest.raises(Conflict):
            dossier.validate(family.id, _user(app, agent.id), "710")
        assert _household(app, family.id).quotient == 700
    assert len(mails(app, "dossier_validated")) == 1


# --- after validation ----------------------------------------------------------------------

def _validated(app, factory, **kwargs):
    from app.services.household import dossier

    family = _submitted(app, factory, **kwargs)
    with app.app_context():
        dossier.validate(family.id, _user(app, factory.staff().id), "700")
    return family


def _household_form(family, **changes):
    data = {"email": family.email, "phone": "0611223344", "address_line": "3 rue des Écoles",
            "postcode": "83340", "city": "Le Luc", "caf_number": "7654321", "declared_quotient": "820"}
    data.update(changes)
    return data


def test_an_address_change_sends_a_validated_file_back_to_review_without_touching_reservations(app, factory):
    from app.models import Basket, Reservation, db, utcnow
    from app.services.household import dossier

    family = _validated(app, factory)
    catalog = factory.catalog()
    with app.app_context():
        basket = Basket(household_id=family.id, status="paid", expires_at=utcnow() + timedelta(hours=1))
        db.session.add(basket)
        db.session.add(Reservation(basket=basket, household_id=family.id, child_id=family.child_ids[0],
                                   week_id=catalog.week_ids[0], status="confirmed", transport_mode="onsite",
                                   price_cents=4500))
        db.session.commit()
        changed = dossier.update_household(_household(app, family.id), _household_form(family, address_line="8 avenue Foch"),
                                           actor=_user(app, family.user_id))
        assert changed == ["address_line"]
        household = _household(app, family.id)
        assert household.status == "submitted"
        assert [link.status for link in household.child_links] == ["validated"]
        assert [r.status for r in db.session.query(Reservation).filter_by(household_id=family.id)] == ["confirmed"]
    assert "household.back_to_review" in audit_actions(app, family.id)
    assert any("Vos réservations existantes ne changent pas" in m[3] for m in mails(app, "dossier_received"))


def test_a_phone_change_does_not_need_review(app, factory):
    from app.services.household import dossier

    family = _validated(app, factory)
    with app.app_context():
        dossier.update_household(_household(app, family.id), _household_form(family, phone="0699887766"))
        assert _household(app, family.id).status == "validated"
    assert "household.updated" in audit_actions(app, family.id)


def test_guardian_and_document_changes_send_back_to_review(app, factory):
    from app.services.household import documents, dossier

    first = _validated(app, factory)
    second = _validated(app, factory)
    with app.app_context():
        dossier.save_guardian(_household(app, first.id), {"first_name": "Marc", "last_name": "Durand",
                                                          "phone": "0611111111"})
        assert _household(app, first.id).status == "submitted"
        documents.add_document(_household(app, second.id), DocumentKind.INSURANCE, "assurance.pdf", PDF)
        assert _household(app, second.id).status == "submitted"


def test_health_sheet_changes_are_audited_without_review(app, factory):
    from app.services.household import dossier

    family = _validated(app, factory)
    with app.app_context():
        dossier.update_health(_household(app, family.id), family.child_ids[0], {
            "allergies": "Arachide", "pai": "on", "pai_details": "Trousse dans le sac", "doctor_name": "Dr Martin",
            "doctor_phone": "0494000000", "vaccinations_up_to_date": "on"}, actor=_user(app, family.user_id))
        household = _household(app, family.id)
        assert household.status == "validated"
        assert dossier.health_changed_since_validation(household)
        [entry] = dossier.recent_health_changes()
        assert json.loads(entry.after)["allergies"] == "Arachide"
        assert json.loads(entry.before)["allergies"] is None


def test_health_sheet_requires_doctor_and_pai_details(app, factory):
    from app.services.errors import ValidationFailed
    from app.services.household import dossier

    family = factory.household(status="draft")
    with app.app_context():
        with pytest.raises(ValidationFailed) as caught:
            dossier.update_health(_household(app, family.id), family.child_ids[0], {"pai": "on"})
        assert set(caught.value.details["errors"]) == {"doctor_name", "doctor_phone", "pai_details"}


def test_guardians_are_one_or_two(app, factory):
    from app.services.errors import Conflict
    from app.services.household import dossier

    family = factory.household(status="draft")
    with app.app_context():
        household = _household(app, family.id)
        [only] = household.guardians
        with pytest.raises(Conflict):
            dossier.remove_guardian(household, only.id)
        dossier.save_guardian(household, {"first_name": "Marc", "last_name": "Durand", "phone": "0611111111"})
        with pytest.raises(Conflict, match="au plus deux"):
            dossier.save_guardian(_household(app, family.id), {"first_name": "Zoé", "last_name": "Durand",
                                                               "phone": "0611111112"})
        assert len(_household(app, family.id).guardians) == 2


def test_household_form_reports_every_bad_field_at_once(app, factory):
    from app.services.errors import ValidationFailed
    from app.services.household import dossier

    family = factory.household(status="draft")
    with app.app_context():
        with pytest.raises(ValidationFailed) as caught:
            dossier.update_household(_household(app, family.id), {"email": "pas-un-mail", "phone": "12",
                                                                   "postcode": "8334", "caf_number": "12ab"})
        errors = caught.value.details["errors"]
        assert set(errors) >= {"email", "phone", "postcode", "caf_number", "address_line", "city",
                               "declared_quotient"}
        assert all(message and message[0].isupper() for message in errors.values())
        assert _household(app, family.id).postcode == "83890"  # nothing saved


# --- working hours and the digest ----------------------------------------------------------

def _paris(*args):
    return datetime(*args, tzinfo=PARIS)


def test_working_hours_skip_weekends_and_public_holidays():
    from app.services.household.dossier import is_working_day, working_hours_between

    # Friday 10:00 → Monday 10:00: 14 h on Friday + 10 h on Monday.
    assert working_hours_between(_paris(2026, 3, 6, 10), _paris(2026, 3, 9, 10)) == pytest.approx(24)
    # Friday 3 April → Wednesday 8 April 2026: the weekend and Easter Monday (6 April) do not count.
    assert working_hours_between(_paris(2026, 4, 3, 0), _paris(2026, 4, 8, 0)) == pytest.approx(24 * 2)
    assert not is_working_day(date(2026, 4, 6))  # lundi de Pâques
    assert not is_working_day(date(2026, 5, 14))  # Ascension
    assert not is_working_day(date(2026, 7, 14))
    assert is_working_day(date(2026, 7, 15))
    # The clocks go back on Sunday 25 October 2026: a weekend hour more or less changes nothing.
    assert working_hours_between(_paris(2026, 10, 23, 12), _paris(2026, 10, 26, 12)) == pytest.approx(24)
    assert working_hours_between(_paris(2026, 3, 9, 10), _paris(2026, 3, 6, 10)) == 0


def _submitted_at(app, factory, when):
    family = _submitted(app, factory)
    set_status(app, family.id, "submitted", submitted_at=when.astimezone(timezone.utc))
    return family


def test_queue_is_oldest_first_with_overdue_flag(app, factory):
    from app.services.household import dossier

    now = _paris(2026, 3, 13, 10)  # a Friday
    recent = _submitted_at(app, factory, _paris(2026, 3, 12, 9))
    old = _submitted_at(app, factory, _paris(2026, 3, 5, 9))
    with app.app_context():
        entries = dossier.review_queue(now.astimezone(timezone.utc))
        assert [e.household.id for e in entries] == [old.id, recent.id]
        assert [e.overdue for e in entries] == [True, False]
        assert entries[1].waited_hours == pytest.approx(25)


def test_staff_digest_once_a_working_day(app, factory):
    from app.services.household import dossier

    _submitted_at(app, factory, _paris(2026, 3, 2, 9))
    _submitted_at(app, factory, _paris(2026, 3, 12, 9))  # not overdue
    morning = _paris(2026, 3, 10, 8, 30).astimezone(timezone.utc)
    with app.app_context():
        assert dossier.send_staff_digest_if_due(_paris(2026, 3, 10, 7, 59).astimezone(timezone.utc)) is None
        assert dossier.send_staff_digest_if_due(morning) is not None
        for minute in range(1, 4):  # the sweeper, every minute
            assert dossier.send_staff_digest_if_due(morning + timedelta(minutes=minute)) is None
        assert dossier.send_staff_digest_if_due(_paris(2026, 3, 14, 9).astimezone(timezone.utc)) is None  # Saturday
        assert dossier.send_staff_digest_if_due(_paris(2026, 3, 11, 9).astimezone(timezone.utc)) is not None
    digests = mails(app, "staff_digest")
    assert len(digests) == 2
    kind, to, subject, body, status = digests[0]
    assert to == app.config["STAFF_DIGEST_EMAIL"] and "72 h ouvrées" in subject
    assert body.count("Foyer ") == 1


def test_no_digest_when_nothing_is_overdue(app, factory):
    from app.services.household import dossier

    _submitted_at(app, factory, _paris(2026, 3, 9, 9))
    with app.app_context():
        assert dossier.send_staff_digest_if_due(_paris(2026, 3, 10, 9).astimezone(timezone.utc)) is None
    assert mails(app) == []


def test_the_sweeper_sends_the_digest(app, factory):
    from app.services import maintenance

    _submitted_at(app, factory, _paris(2026, 3, 2, 9))
    now = _paris(2026, 3, 10, 9).astimezone(timezone.utc)
    with app.app_context():
        maintenance.sweep(now=now)
        maintenance.sweep(now=now)
    assert len(mails(app, "staff_digest")) == 1


def test_a_child_added_by_mistake_can_be_removed_until_confirmed(app, factory, login):
    from pathlib import Path

    from app.models import Child, Document, db

    family = factory.household(status="draft", children=[("Léa", 8), ("Erreur", 4)])
    fill_household(app, family.id)
    mistaken = family.child_ids[1]
    with app.app_context():
        key = db.session.query(Document.storage_key).filter_by(child_id=mistaken).scalar()
    stored = [p for p in Path(app.config["UPLOAD_DIR"]).rglob(key)]
    assert len(stored) == 1
    client = login(app.test_client(), family.email)
    page = client.post(f"/famille/dossier/enfants/{mistaken}/retirer", follow_redirects=True).get_data(as_text=True)
    assert "Enfant retiré" in page and "Erreur" not in page
    with app.app_context():
        assert db.session.get(Child, mistaken) is None
        assert db.session.query(Document).filter_by(child_id=mistaken).count() == 0
    assert not stored[0].exists()
    assert "child.removed" in audit_actions(app, family.id)
    # A confirmed child stays.
    validated = factory.household(status="validated")
    other = login(app.test_client(), validated.email)
    page = other.post(f"/famille/dossier/enfants/{validated.child_ids[0]}/retirer",
                      follow_redirects=True).get_data(as_text=True)
    assert "contactez-le pour le retirer" in page
    with app.app_context():
        assert db.session.get(Child, validated.child_ids[0]) is not None


def test_validation_audits_the_accepted_documents(app, factory):
    from app.models import AuditLog, db
    from app.services.household import dossier

    family = _submitted(app, factory)
    with app.app_context():
        dossier.validate(family.id, _user(app, factory.staff().id), "700")
        entry = db.session.query(AuditLog).filter_by(action="document.accepted").one()
        assert len(json.loads(entry.after)["document_ids"]) == 3
