"""The yearly QF renewal campaign (issue 19): staff start one with a deadline; every concerned family
is mailed once and has a checklist item until it sends a QF proof dated after the start; staff see
how many answered; desk-only and « pas de numéro CAF » families are handled as said."""
from __future__ import annotations

from datetime import timedelta

from app.services.localize import paris_today
from tests.dossier_helpers import PDF


def start(app, staff_id, **values):
    from app.services.household import qf_campaign

    data = {"label": "Quotient familial 2027", "deadline": (paris_today() + timedelta(days=30)).isoformat(), **values}
    with app.app_context():
        return qf_campaign.start(data, app.appbuilder.sm.get_user_by_id(staff_id)).id


def codes(app, household_id):
    from app.models import Household, db
    from app.services.household import checklist

    with app.app_context():
        return {i.code: i for i in checklist.evaluate(db.session.get(Household, household_id))}


def test_a_campaign_mails_families_and_adds_a_checklist_item_until_answered(app, factory, login):
    from app.models import DocumentKind, Household, MailLog, QfCampaign, db
    from app.services.household import documents

    staff = factory.staff()
    family = factory.household()
    no_caf = factory.household()
    draft = factory.household(status="draft")
    with app.app_context():
        db.session.get(Household, no_caf.id).no_caf_number = True
        db.session.commit()
    assert "qf_renewal" not in codes(app, family.id)
    campaign_id = start(app, staff.id, message="Merci de votre aide.")
    with app.app_context():
        mails = db.session.query(MailLog).filter_by(kind="qf_campaign").all()
        assert [m.to_address for m in mails] == [family.email]  # not the « no CAF » nor the draft file
        assert "Merci de votre aide." in mails[0].body_text and "kind=qf_attestation" in mails[0].body_text
        assert db.session.get(QfCampaign, campaign_id).households_asked == 1
    item = codes(app, family.id)["qf_renewal"]
    assert not item.done and "Quotient familial 2027" in item.label and "avant le" in item.label
    assert "qf_renewal" not in codes(app, no_caf.id) and "qf_renewal" not in codes(app, draft.id)
    page = login(app.test_client(), family.email).get("/famille/dossier/").get_data(as_text=True)
    assert "Nouvelle attestation de quotient familial" in page
    with app.app_context():
        documents.add_document(db.session.get(Household, family.id), DocumentKind.QF_ATTESTATION, "qf-2027.pdf", PDF)
    assert codes(app, family.id)["qf_renewal"].done
    staff_page = login(app.test_client(), staff.email).get("/campagne-qf/").get_data(as_text=True)
    assert f'data-campaign="{campaign_id}"' in staff_page and '<td class="received">1</td>' in staff_page


def test_campaign_form_refuses_bad_values_in_french_and_is_staff_only(app, factory, login):
    from app.models import QfCampaign, db

    staff = factory.staff()
    client = login(app.test_client(), staff.email)
    past = client.post("/campagne-qf/", data={"label": "QF", "deadline": paris_today().isoformat()})
    assert past.status_code == 400 and "après aujourd&#39;hui" in past.get_data(as_text=True)
    garbage = client.post("/campagne-qf/", data={"label": "", "deadline": "demain"})
    html = garbage.get_data(as_text=True)
    assert garbage.status_code == 400 and "Donnez un nom" in html and "JJ/MM/AAAA" in html
    ok = client.post("/campagne-qf/", data={"label": "QF 2027",
                                            "deadline": (paris_today() + timedelta(days=10)).isoformat()})
    assert ok.status_code == 302
    with app.app_context():
        assert db.session.query(QfCampaign).count() == 1
    parent = factory.household()
    assert login(app.test_client(), parent.email).post("/campagne-qf/", data={"label": "x"}).status_code in (302, 403)


def test_a_week_before_the_deadline_families_who_did_not_answer_are_reminded_once(app, factory):
    from datetime import datetime, timezone

    from app.models import DocumentKind, Household, MailLog, db
    from app.services.household import documents, qf_campaign

    staff = factory.staff()
    late, done = factory.household(), factory.household()
    start(app, staff.id, deadline=(paris_today() + timedelta(days=20)).isoformat())
    with app.app_context():
        documents.add_document(db.session.get(Household, done.id), DocumentKind.QF_ATTESTATION, "qf.pdf", PDF)
        assert qf_campaign.send_deadline_reminders() == 0  # too early
        in_two_weeks = datetime.now(timezone.utc) + timedelta(days=14)
        assert qf_campaign.send_deadline_reminders(in_two_weeks) == 1
        assert qf_campaign.send_deadline_reminders(in_two_weeks) == 0
        [mail] = db.session.query(MailLog).filter_by(kind="qf_campaign_reminder").all()
        assert mail.to_address == late.email and "Rappel" in mail.subject
