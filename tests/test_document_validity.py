"""Documents with validity (issue 19): staff set each kind's validity and where it is required; the
checklist judges a proof at the end of every week the family booked or wished, not only today;
reminder mails before expiry, once per proof; staff's list of expiring proofs."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from app.services.localize import paris_today
from tests.booking_helpers import add
from tests.dossier_helpers import JPEG, fill_household


def settings(app, kind, staff_id, **values):
    from app.services.household import validity

    data = {"name": values.pop("name", "Attestation d'assurance"), "required_for": "all", "validity_rule": "none",
            "remind_days": "30", **values}
    with app.app_context():
        validity.save_settings(kind, data, app.appbuilder.sm.get_user_by_id(staff_id))


def uploaded_on(app, household_id, kind, day: date):
    from app.models import Document, db

    with app.app_context():
        db.session.execute(update(Document).where(Document.household_id == household_id, Document.kind == kind)
                           .values(uploaded_at=datetime(day.year, day.month, day.day, 10, tzinfo=timezone.utc)))
        db.session.commit()


def item(app, household_id, code):
    from app.models import Household, db
    from app.services.household import checklist

    with app.app_context():
        [found] = [i for i in checklist.evaluate(db.session.get(Household, household_id)) if i.code == code]
        return found


@pytest.fixture
def family(app, factory):
    cat = factory.catalog()
    fam = factory.household()
    fill_household(app, fam.id)
    from app.models import Household, db

    with app.app_context():
        db.session.get(Household, fam.id).status = "validated"  # staff looked at the proofs
        db.session.commit()
    staff = factory.staff()
    return cat, fam, staff


def test_valid_rules_give_the_last_valid_day(app, factory):
    from app.models import Document
    from app.services.household import validity

    staff = factory.staff()
    doc = Document(kind="insurance", uploaded_at=datetime(2026, 10, 3, 9, tzinfo=timezone.utc))
    with app.app_context():
        assert validity.valid_until(doc) is None  # default: until replaced
    settings(app, "insurance", staff.id, validity_rule="school_year")
    with app.app_context():
        assert validity.valid_until(doc) == date(2027, 8, 31)
        doc.uploaded_at = datetime(2026, 5, 3, 9, tzinfo=timezone.utc)
        assert validity.valid_until(doc) == date(2026, 8, 31)
    settings(app, "insurance", staff.id, validity_rule="calendar_year")
    with app.app_context():
        assert validity.valid_until(doc) == date(2026, 12, 31)
    settings(app, "insurance", staff.id, validity_rule="months", validity_months="6")
    with app.app_context():
        doc.uploaded_at = datetime(2026, 8, 31, 9, tzinfo=timezone.utc)
        assert validity.valid_until(doc) == date(2027, 2, 27)  # 28 Feb is the first day not covered


def test_a_proof_valid_today_but_expired_at_a_booked_week_counts_as_missing(app, family):
    cat, fam, staff = family
    assert item(app, fam.id, "doc:insurance").done
    with app.app_context():
        from app.models import Week, db

        week = db.session.get(Week, cat.week_ids[1])
        week_end, week_label = week.ends_on, week.label
    # Valid for 1 month from an upload made so that it ends between today and the second week's end.
    settings(app, "insurance", staff.id, validity_rule="months", validity_months="1")
    uploaded_on(app, fam.id, "insurance", week_end - timedelta(days=33))
    assert item(app, fam.id, "doc:insurance").done  # valid today, nothing booked after it yet
    add(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    found = item(app, fam.id, "doc:insurance")
    assert not found.done and not found.refused
    assert "avant la fin de « " + week_label in found.detail and "envoyez-en une nouvelle" in found.detail
    # A proof that expired already is missing too, booking or not.
    uploaded_on(app, fam.id, "insurance", paris_today() - timedelta(days=90))
    assert "expirée depuis le" in item(app, fam.id, "doc:insurance").detail
    # A new upload valid long enough covers the week again: the latest proof is the one judged.
    from app.models import DocumentKind, Household, db
    from app.services.household import documents

    settings(app, "insurance", staff.id, validity_rule="months", validity_months="2")
    assert not item(app, fam.id, "doc:insurance").done  # the old one, 90 days old, has lapsed
    with app.app_context():
        documents.add_document(db.session.get(Household, fam.id), DocumentKind.INSURANCE, "nouvelle.jpg", JPEG)
    assert item(app, fam.id, "doc:insurance").done


def test_a_proof_valid_today_but_expired_at_a_wished_week_counts_as_missing(app, factory, family):
    """A wishes period: nothing is booked before the allocation, yet the proof must cover the week
    the family asked for."""
    from app.models import Reservation, Week, Wish, db
    from app.services.booking import wishes
    from tests.test_allocation_service import _campaign

    _cat, fam, staff = family
    campaign = _campaign(app, factory, capacities=(5, 5))
    with app.app_context():
        week = db.session.get(Week, campaign.week_ids[1])
        week_end, week_label = week.ends_on, week.label
    settings(app, "insurance", staff.id, validity_rule="months", validity_months="1")
    uploaded_on(app, fam.id, "insurance", week_end - timedelta(days=33))
    assert item(app, fam.id, "doc:insurance").done  # valid today, nothing wished yet
    with app.app_context():
        wishes.save_wishes(fam.id, fam.child_ids[0], campaign.period_id,
                           [{"week_id": campaign.week_ids[1], "transport": {"mode": "onsite"}}])
        assert db.session.query(Wish).filter_by(household_id=fam.id).count() == 1
        assert db.session.query(Reservation).filter_by(household_id=fam.id).count() == 0  # wished, not booked
    found = item(app, fam.id, "doc:insurance")
    assert not found.done and not found.refused
    assert "avant la fin de « " + week_label in found.detail and "envoyez-en une nouvelle" in found.detail


def test_an_expired_proof_blocks_validation(app, family):
    from app.models import Household, db
    from app.services.errors import ServiceError
    from app.services.household import dossier

    cat, fam, staff = family
    settings(app, "insurance", staff.id, validity_rule="calendar_year")
    uploaded_on(app, fam.id, "insurance", date(paris_today().year - 1, 6, 1))
    with app.app_context():
        household = db.session.get(Household, fam.id)
        household.status = "submitted"
        db.session.commit()
        with pytest.raises(ServiceError):
            dossier.validate(fam.id, app.appbuilder.sm.get_user_by_id(staff.id), "820")


def test_a_proof_required_for_sejours_only(app, factory, family):
    from app.models import Establishment, Period, db

    cat, fam, staff = family
    settings(app, "insurance", staff.id, required_for="sejour")
    assert "doc:insurance" not in [i.code for i in _items(app, fam.id)]
    sejour = factory.catalog(name="Séjour montagne")
    with app.app_context():
        period = db.session.get(Period, sejour.period_id)
        db.session.get(Establishment, period.establishment_id).kind = "sejour"
        db.session.commit()
    add(app, fam.id, fam.child_ids[0], sejour.week_ids[0])
    assert "doc:insurance" in [i.code for i in _items(app, fam.id)]


def _items(app, household_id):
    from app.models import Household, db
    from app.services.household import checklist

    with app.app_context():
        return checklist.evaluate(db.session.get(Household, household_id))


def test_staff_name_replaces_the_label_everywhere(app, family, login):
    cat, fam, staff = family
    settings(app, "insurance", staff.id, name="Assurance scolaire et extrascolaire")
    assert item(app, fam.id, "doc:insurance").label == "Assurance scolaire et extrascolaire"
    page = login(app.test_client(), fam.email).get("/famille/dossier/pieces").get_data(as_text=True)
    assert ">Assurance scolaire et extrascolaire</option>" in page


def test_settings_refuse_bad_values_in_french(app, factory):
    from app.services.errors import ValidationFailed
    from app.services.household import validity

    staff = factory.staff()
    with app.app_context():
        with pytest.raises(ValidationFailed) as caught:
            validity.save_settings("insurance", {"name": "", "validity_rule": "months", "validity_months": "٣",
                                                 "remind_days": "-1"}, app.appbuilder.sm.get_user_by_id(staff.id))
        errors = caught.value.details["errors"]
        assert set(errors) == {"name", "validity_months", "remind_days"}
        assert "entre 1 et 120 mois" in errors["validity_months"]


def test_reminders_go_once_per_proof_before_expiry(app, family):
    from app.models import MailLog, db
    from app.services.household.validity_reminders import send_expiry_reminders

    cat, fam, staff = family
    settings(app, "insurance", staff.id, validity_rule="months", validity_months="1", remind_days="10")
    today = paris_today()
    uploaded_on(app, fam.id, "insurance", today - timedelta(days=40))  # expired: no reminder, staff's list
    with app.app_context():
        assert send_expiry_reminders() == 0
    uploaded_on(app, fam.id, "insurance", today - timedelta(days=25))  # expires in about 5 days
    add(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    with app.app_context():
        assert send_expiry_reminders() == 1
        assert send_expiry_reminders() == 0  # once per proof
        [mail] = db.session.query(MailLog).filter_by(kind="document_expiring").all()
        assert mail.to_address == fam.email and "expire bientôt" in mail.subject
        assert "/famille/dossier/pieces" in mail.body_text and "Semaine du" in mail.body_text
    uploaded_on(app, fam.id, "insurance", today - timedelta(days=5))  # far from expiry
    with app.app_context():
        db.session.query(MailLog).delete()
        db.session.commit()
        assert send_expiry_reminders() == 0


def test_staff_screens(app, family, login):
    cat, fam, staff = family
    client = login(app.test_client(), staff.email)
    assert client.get("/types-de-pieces/").status_code == 200
    bad = client.post("/types-de-pieces/insurance", data={"name": "Assurance", "validity_rule": "months",
                                                          "validity_months": "0", "remind_days": "15"})
    assert bad.status_code == 400 and "entre 1 et 120 mois" in bad.get_data(as_text=True)
    good = client.post("/types-de-pieces/insurance", data={"name": "Assurance", "required_for": "all",
                                                           "validity_rule": "months", "validity_months": "1",
                                                           "remind_days": "15"})
    assert good.status_code == 302
    assert client.get("/types-de-pieces/inconnu").status_code == 404
    uploaded_on(app, fam.id, "insurance", paris_today() - timedelta(days=20))
    page = client.get("/types-de-pieces/echeances").get_data(as_text=True)
    assert f"Foyer {fam.last_name}" in page and "Assurance" in page
    parent = login(app.test_client(), fam.email)
    assert parent.get("/types-de-pieces/").status_code in (302, 403)
    assert parent.post("/types-de-pieces/insurance", data={"name": "x"}).status_code in (302, 403)


def test_before_a_period_opens_families_with_a_proof_lapsing_in_it_are_told_once(app, factory):
    from app.models import MailLog, db
    from app.services.household.validity_reminders import send_opening_reminders

    staff = factory.staff()
    soon = factory.catalog(opens_in=timedelta(days=5), closes_in=timedelta(days=20), name="ALSH Printemps")
    factory.catalog(opens_in=timedelta(days=40), closes_in=timedelta(days=60))  # opens later: not yet
    lapsing, lasting = factory.household(), factory.household()
    for family in (lapsing, lasting):
        fill_household(app, family.id)
    period_end = soon.starts_on + timedelta(weeks=1, days=4)  # two weeks, Monday to Friday
    settings(app, "insurance", staff.id, validity_rule="months", validity_months="1")
    uploaded_on(app, lapsing.id, "insurance", paris_today() - timedelta(days=10))  # ends before the period does
    uploaded_on(app, lasting.id, "insurance", period_end)  # uploaded "later": valid past the period's end
    with app.app_context():
        assert send_opening_reminders() == 1
        assert send_opening_reminders() == 0  # once per family and period
        [mail] = db.session.query(MailLog).filter_by(kind="document_before_opening").all()
        assert mail.to_address == lapsing.email and "Vacances" in mail.subject
        assert "Attestation d'assurance" in mail.body_text and "valable jusqu'au" in mail.body_text


def test_staff_add_a_kind_of_proof_asked_per_child_then_withdraw_it(app, family, login):
    from app.models import DocumentType, Household, db
    from app.services.errors import ValidationFailed
    from app.services.household import documents

    cat, fam, staff = family
    client = login(app.test_client(), staff.email)
    assert client.post("/types-de-pieces/ajouter", data={"name": ""}).status_code == 400
    added = client.post("/types-de-pieces/ajouter", data={"name": "Test d'aisance aquatique", "per_child": "on",
                                                          "required_for": "all", "validity_rule": "none",
                                                          "remind_days": "0"})
    assert added.status_code == 302
    with app.app_context():
        kind = db.session.query(DocumentType).filter_by(custom=True).one().kind
    assert kind.startswith("custom_")
    code = f"doc:{kind}:{fam.child_ids[0]}"
    missing = item(app, fam.id, code)
    assert not missing.done and missing.label.startswith("Test d'aisance aquatique")
    parent = login(app.test_client(), fam.email)
    assert f'<option value="{kind}"' in parent.get("/famille/dossier/pieces").get_data(as_text=True)
    with app.app_context():
        with pytest.raises(ValidationFailed, match="enfant concerné"):
            documents.add_document(db.session.get(Household, fam.id), kind, "test.jpg", JPEG)
        db.session.rollback()
        documents.add_document(db.session.get(Household, fam.id), kind, "test.jpg", JPEG, child_id=fam.child_ids[0])
    assert item(app, fam.id, code).done
    # Withdrawn: no longer asked, no longer offered.
    client.post(f"/types-de-pieces/{kind}", data={"name": "Test d'aisance aquatique", "required_for": "all",
                                                   "validity_rule": "none", "remind_days": "0"})
    assert code not in [i.code for i in _items(app, fam.id)]
    with app.app_context():
        with pytest.raises(ValidationFailed, match="type de pièce"):
            documents.add_document(db.session.get(Household, fam.id), kind, "t.jpg", JPEG, child_id=fam.child_ids[0])


def test_the_api_file_gives_each_proofs_validity_end(app, family, make_client):
    from app.models import Document, db
    from app.services.household import validity
    from tests.support.clients import jwt_headers

    _cat, fam, staff = family
    client = make_client()
    headers = jwt_headers(client, fam.email)

    def insurance():
        body = client.get("/api/v1/portal/dossier", headers=headers).get_json()
        [doc] = [d for d in body["documents"] if d["kind"] == "insurance"]
        return doc

    assert insurance()["valid_until"] is None and insurance()["expired"] is False  # until replaced
    settings(app, "insurance", staff.id, validity_rule="calendar_year")
    uploaded_on(app, fam.id, "insurance", date(paris_today().year - 1, 6, 1))
    assert insurance()["valid_until"] == f"{paris_today().year - 1}-12-31" and insurance()["expired"] is True
    settings(app, "insurance", staff.id, validity_rule="months", validity_months="6")
    recent = paris_today() - timedelta(days=10)
    uploaded_on(app, fam.id, "insurance", recent)
    with app.app_context():
        expected = validity.valid_until(db.session.query(Document).filter_by(household_id=fam.id,
                                                                             kind="insurance").first())
    assert insurance()["valid_until"] == expected.isoformat() and insurance()["expired"] is False
    spec = client.get("/api/v1/_openapi", headers=jwt_headers(client, staff.email)).get_json()
    assert {"valid_until", "expired"} <= set(spec["components"]["schemas"]["PortalDossierDocument"]["properties"])
