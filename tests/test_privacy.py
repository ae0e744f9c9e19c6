"""The family's data rights (GDPR, issue 19): the export holds the file and every document; erasure
is refused with its reason while money or a booking is live, and otherwise leaves no personal data in
any table (invoices excepted, kept as printed); the retention job erases what is due; the pages, the
API and the public « Données personnelles » page."""
from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import String, Text, select, update

from tests.credit_helpers import book_and_pay
from tests.dossier_helpers import JPEG, PDF, PNG
from tests.support.clients import jwt_headers

LAST = "Zéphyrin"
CHILD = "Anaïs"
PHONE = "0698765432"
CAF = "8877665"
ADDRESS = "17 impasse des Oliviers"


def zephyrin(app, factory, email="zephyrin@example.test"):
    """A household whose personal values appear nowhere else, with documents, a guardian's
    employer, a pick-up person, a QF record, a mail and audit rows."""
    from app.models import DocumentKind, Household, QuotientRecord, db
    from app.services.household import documents, dossier

    family = factory.household(email=email, last_name=LAST, children=[(CHILD, 8)])
    with app.app_context():
        household = db.session.get(Household, family.id)
        household.phone = PHONE
        household.caf_number = CAF
        household.address_line = ADDRESS
        household.guardians[0].phone = PHONE
        household.guardians[0].employer = "Boulangerie Zéphyrin"
        db.session.add(QuotientRecord(household_id=family.id, value=650, source="caf",
                                      valid_from=date(2026, 1, 1)))
        db.session.commit()
        dossier.add_pickup(household, family.child_ids[0], {"name": "Mamie Zéphyrin", "phone": "0611111111",
                                                            "relationship_label": "Grand-mère"})
        household = db.session.get(Household, family.id)
        documents.add_document(household, DocumentKind.QF_ATTESTATION, "caf-zephyrin.pdf", PDF)
        documents.add_document(household, DocumentKind.INSURANCE, "assurance-zephyrin.jpg", JPEG)
        documents.add_document(household, DocumentKind.VACCINATIONS, "vaccins-anais.png", PNG,
                               child_id=family.child_ids[0])
        household = db.session.get(Household, family.id)
        household.status = "validated"  # staff looked at the new proofs
        db.session.commit()
    return family


def needles(family) -> list[str]:
    return [LAST.lower(), family.email.lower(), PHONE, CAF, ADDRESS.lower(), CHILD.lower(), "zephyrin", "anais"]


def personal_data_left(app, words, skip=()) -> list[tuple[str, str, str]]:
    """Every (table, column, value) of every table whose text holds one of `words`."""
    from app.models import db

    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            if table.name in skip:
                continue
            columns = [c for c in table.columns if isinstance(c.type, (String, Text))]
            if not columns:
                continue
            for row in db.session.execute(select(*columns)).all():
                for column, value in zip(columns, row):
                    if value and any(word in str(value).lower() for word in words):
                        found.append((table.name, column.name, str(value)[:80]))
    return found


def staff_user(app, factory):
    agent = factory.staff()
    with app.app_context():
        return agent.id


def erase(app, household_id, staff_id=None):
    from app.services.operations import privacy

    with app.app_context():
        staff = app.appbuilder.sm.get_user_by_id(staff_id) if staff_id else None
        privacy.erase(household_id, staff)


def move_weeks_to_past(app, week_ids):
    from app.models import Week, db

    with app.app_context():
        for week_id in week_ids:
            week = db.session.get(Week, week_id)
            week.starts_on -= timedelta(weeks=60)
            week.ends_on -= timedelta(weeks=60)
        db.session.commit()


# --- export -----------------------------------------------------------------------------------

def test_the_export_holds_the_file_and_every_document(app, factory):
    from app.models import Document, db
    from app.services.operations import privacy

    family = zephyrin(app, factory)
    with app.app_context():
        name, data = privacy.export_zip(family.id)
        stored = {d.id: d for d in db.session.query(Document).filter_by(household_id=family.id)}
        from app.services.household.documents import stored_file

        originals = {d.id: stored_file(d).path.read_bytes() for d in stored.values()}
    assert name.startswith(f"donnees-foyer-{family.id}-") and name.endswith(".zip")
    archive = zipfile.ZipFile(io.BytesIO(data))
    content = json.loads(archive.read("foyer.json"))
    assert content["foyer"]["caf_number"] == CAF and content["foyer"]["address_line"] == ADDRESS
    assert content["responsables_legaux"][0]["employer"] == "Boulangerie Zéphyrin"
    assert content["enfants"][0]["first_name"] == CHILD
    assert content["enfants"][0]["personnes_autorisees"][0]["name"] == "Mamie Zéphyrin"
    assert content["quotients_familiaux"][0]["value"] == 650
    assert len(content["pieces"]) == 3 == len(originals)
    for entry in content["pieces"]:
        assert archive.read(entry["fichier"]) == originals[entry["id"]]
    assert {n for n in archive.namelist() if n.startswith("documents/")} == {e["fichier"] for e in content["pieces"]}


def test_a_missing_file_is_listed_not_fatal(app, factory):
    from app.models import Document, db
    from app.services.household.documents import stored_file
    from app.services.operations import privacy

    family = zephyrin(app, factory)
    with app.app_context():
        document = db.session.query(Document).filter_by(household_id=family.id).first()
        document_id = document.id
        stored_file(document).path.unlink()
        _name, data = privacy.export_zip(family.id)
    content = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("foyer.json"))
    assert [e["id"] for e in content["pieces"] if e.get("fichier_absent")] == [document_id]


def test_parent_downloads_own_data_from_the_page_and_the_api(app, factory, login):
    family = zephyrin(app, factory)
    other = factory.household(last_name="Autre")
    client = login(app.test_client(), family.email)
    page = client.get("/famille/donnees/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Télécharger mes données" in html and "Demander l'effacement" in html
    download = client.get("/famille/donnees/telecharger")
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert json.loads(zipfile.ZipFile(io.BytesIO(download.data)).read("foyer.json"))["foyer"]["id"] == family.id

    api = app.test_client()
    response = api.get("/api/v1/portal/data/export", headers=jwt_headers(api, other.email))
    assert response.status_code == 200
    content = json.loads(zipfile.ZipFile(io.BytesIO(response.data)).read("foyer.json"))
    assert content["foyer"]["id"] == other.id  # the caller's own household, never another
    assert LAST not in response.data.decode("latin-1") and content["pieces"] == []
    assert api.get("/api/v1/portal/data/export").status_code == 401


def test_erasure_request_reaches_staff_by_page_and_api(app, factory, login):
    from app.models import AuditLog, MailLog, db

    family = zephyrin(app, factory)
    client = login(app.test_client(), family.email)
    response = client.post("/famille/donnees/effacement", follow_redirects=True)
    assert "transmise au Pôle Jeunesse" in response.get_data(as_text=True)
    api = app.test_client()
    answer = api.post("/api/v1/portal/data/erasure-request", headers=jwt_headers(api, family.email))
    assert answer.status_code == 202 and "transmise" in answer.get_json()["message"]
    with app.app_context():
        mails = db.session.query(MailLog).filter_by(kind="privacy_erasure_request").all()
        assert len(mails) == 2 and mails[0].to_address == app.config["STAFF_DIGEST_EMAIL"]
        assert f"/dossiers-famille/{family.id}" in mails[0].body_text
        assert db.session.query(AuditLog).filter_by(action="privacy.erasure_requested").count() == 2


def test_openapi_lists_the_privacy_routes(app, factory, login):
    client = login(app.test_client(), factory.staff().email)
    spec = client.get("/api/v1/_openapi").get_json()
    assert "/api/v1/portal/data/export" in spec["paths"] and "/api/v1/portal/data/erasure-request" in spec["paths"]
    assert "application/zip" in spec["paths"]["/api/v1/portal/data/export"]["get"]["responses"]["200"]["content"]


# --- erasure ----------------------------------------------------------------------------------

def test_erasure_leaves_no_personal_data_in_any_table(app, factory):
    from app.models import Household, db
    from app.services.household.documents import upload_dir

    family = zephyrin(app, factory)
    staff_id = staff_user(app, factory)
    before = personal_data_left(app, needles(family))
    assert {table for table, _c, _v in before} >= {"household", "guardian", "child", "document", "ab_user",
                                                     "authorized_pickup", "audit_log"}
    with app.app_context():
        keys = [d.storage_key for d in db.session.get(Household, family.id).documents]
        paths = [upload_dir() / k[:2] / k for k in keys]
    assert all(p.is_file() for p in paths)
    erase(app, family.id, staff_id)
    assert personal_data_left(app, needles(family)) == []
    assert not any(p.exists() for p in paths)
    with app.app_context():
        household = db.session.get(Household, family.id)
        assert household.erased_at is not None and household.owner_id is None
        assert household.name == f"Foyer effacé n° {family.id}"
        assert app.appbuilder.sm.find_user(email=family.email) is None
    # The account is gone: the old password opens nothing.
    response = app.test_client().post("/login/", data={"username": family.email, "password": "x"})
    assert response.status_code in (200, 302)
    with app.app_context():
        from app.models import AuditLog

        [entry] = db.session.query(AuditLog).filter_by(action="privacy.erased").all()
        assert entry.household_id == family.id and '"reason": "request"' in entry.after


def test_erasure_is_refused_with_money_outstanding_or_a_live_booking(app, factory):
    from app.models import Household, db
    from app.services.errors import Conflict
    from app.services.operations import privacy
    from app.services.payments import credits

    cat = factory.catalog()
    family = zephyrin(app, factory)
    staff_id = staff_user(app, factory)
    book_and_pay(app, family.id, family.child_ids[0], cat.week_ids[0])
    with app.app_context():
        with pytest.raises(Conflict) as caught:
            privacy.erase(family.id, None)
        assert caught.value.code == "live_booking" and "en cours" in caught.value.message
    move_weeks_to_past(app, cat.week_ids)
    with app.app_context():
        staff = app.appbuilder.sm.get_user_by_id(staff_id)
        credits.grant(family.id, 1250, "Geste commercial", actor=staff)
        db.session.commit()
        with pytest.raises(Conflict) as caught:
            privacy.erase(family.id, staff)
        assert caught.value.code == "credit_balance" and "12,50 €" in caught.value.message
        assert db.session.get(Household, family.id).erased_at is None
    assert personal_data_left(app, [LAST.lower()])  # nothing was touched


def test_erasure_keeps_the_books_and_only_the_invoices_keep_the_printed_names(app, factory):
    from app.models import CreditNote, Household, Invoice, Payment, Reservation, db

    cat = factory.catalog()
    family = zephyrin(app, factory)
    book_and_pay(app, family.id, family.child_ids[0], cat.week_ids[0])
    move_weeks_to_past(app, cat.week_ids)
    erase(app, family.id)
    left = personal_data_left(app, needles(family))
    assert left and {table for table, _c, _v in left} <= {"invoice", "invoice_line"}
    with app.app_context():
        assert db.session.query(Invoice).filter_by(household_id=family.id).count() == 1
        assert db.session.query(Payment).filter_by(household_id=family.id).count() == 1
        [line] = db.session.query(Reservation).filter_by(household_id=family.id).all()
        assert line.child.first_name == "Enfant" and line.child.birth_date.month == 1
        assert db.session.get(Household, family.id).erased_at is not None
        assert db.session.query(CreditNote).count() == 0


def test_a_shared_child_stays_with_the_other_household(app, factory):
    from app.models import Child, HouseholdChild, db

    family = zephyrin(app, factory)
    other = factory.household(last_name="Garde", children=[])
    factory.link_child(other.id, family.child_ids[0])
    erase(app, family.id)
    with app.app_context():
        child = db.session.get(Child, family.child_ids[0])
        assert child.first_name == CHILD  # the other household's child, untouched
        assert [link.household_id for link in db.session.query(HouseholdChild).filter_by(child_id=child.id)] \
            == [other.id]


def test_erasing_twice_says_so(app, factory):
    from app.services.errors import Conflict

    family = zephyrin(app, factory)
    erase(app, family.id)
    with pytest.raises(Conflict, match="déjà été effacées"):
        erase(app, family.id)


# --- retention --------------------------------------------------------------------------------

def _age(app, household_id, years):
    from app.models import Household, db

    past = datetime.now(timezone.utc) - timedelta(days=365 * years + 2)
    with app.app_context():
        db.session.execute(update(Household).where(Household.id == household_id)
                           .values(updated_at=past, created_at=past))
        from app.models import Document

        db.session.execute(update(Document).where(Document.household_id == household_id).values(uploaded_at=past))
        db.session.commit()


def test_retention_erases_what_is_due_and_lists_what_waits(app, factory, login):
    from app.models import Household, db
    from app.services.operations import privacy
    from app.services.payments import credits

    old = zephyrin(app, factory)
    recent = factory.household(last_name="Récent")
    owed = factory.household(last_name="Créancier")
    staff = factory.staff()
    with app.app_context():
        credits.grant(owed.id, 500, "Geste", actor=app.appbuilder.sm.get_user_by_id(staff.id))
        db.session.commit()
    for household_id in (old.id, owed.id):
        _age(app, household_id, 3)
    _age(app, recent.id, 2)
    with app.app_context():
        from app.models import CreditNote

        db.session.execute(update(CreditNote).values(created_at=datetime(2020, 1, 1, tzinfo=timezone.utc)))
        db.session.commit()
        due = privacy.due_for_retention()
        assert [(d.household_id, [b.code for b in d.blockers]) for d in due] == [
            (old.id, []), (owed.id, ["credit_balance"])]
        result = privacy.apply_retention()
        assert result["erased"] == [old.id] and result["blocked"] == [owed.id]
        assert db.session.get(Household, old.id).erased_at is not None
        assert db.session.get(Household, recent.id).erased_at is None
    assert personal_data_left(app, needles(old)) == []
    page = login(app.test_client(), staff.email).get("/dossiers-famille/conservation")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Foyer Créancier" in html and "avoirs" in html
    assert f'data-household="{old.id}"' not in html


def test_retention_follows_the_configured_years(app, factory):
    from app.services.operations import privacy

    family = factory.household()
    _age(app, family.id, 3)
    with app.app_context():
        app.config["HOUSEHOLD_RETENTION_YEARS"] = 5
        try:
            assert privacy.due_for_retention() == []
        finally:
            app.config.pop("HOUSEHOLD_RETENTION_YEARS")
        assert [d.household_id for d in privacy.due_for_retention()] == [family.id]


def test_a_recent_booking_keeps_an_old_file(app, factory):
    from app.services.operations import privacy

    cat = factory.catalog()
    family = factory.household()
    book_and_pay(app, family.id, family.child_ids[0], cat.week_ids[0])
    _age(app, family.id, 4)
    with app.app_context():
        assert privacy.due_for_retention() == []


def test_the_retention_job_schedules_itself_once_a_day(app):
    from app.jobs.privacy import ensure_retention_job, retention_job
    from app.services.tasks import get_queue

    now = datetime(2031, 3, 4, 10, 0, tzinfo=timezone.utc)
    with app.app_context():
        ensure_retention_job(app, now=now)
        ensure_retention_job(app, now=now)
        assert get_queue().scheduled_job_registry.get_job_ids() == ["retention-20310305"]
        retention_job()  # runs (nothing due) and schedules the next day from the real clock
        assert len(get_queue().scheduled_job_registry.get_job_ids()) == 2


# --- staff and public pages -------------------------------------------------------------------

def test_staff_erase_needs_the_typed_confirmation_and_shows_blockers(app, factory, login):
    from app.models import Household, db

    cat = factory.catalog()
    family = zephyrin(app, factory)
    busy = factory.household(last_name="Occupé")
    book_and_pay(app, busy.id, busy.child_ids[0], cat.week_ids[0])
    client = login(app.test_client(), factory.staff().email)
    html = client.get(f"/dossiers-famille/{busy.id}").get_data(as_text=True)
    assert 'data-code="live_booking"' in html and "erase-confirm" not in html
    refused = client.post(f"/dossiers-famille/{busy.id}/effacer", data={"confirm": "EFFACER"}, follow_redirects=True)
    assert "en cours" in refused.get_data(as_text=True)
    client.post(f"/dossiers-famille/{family.id}/effacer", data={"confirm": "oui"})
    with app.app_context():
        assert db.session.get(Household, family.id).erased_at is None
    export = client.get(f"/dossiers-famille/{family.id}/donnees")
    assert export.status_code == 200 and export.mimetype == "application/zip"
    done = client.post(f"/dossiers-famille/{family.id}/effacer", data={"confirm": "effacer"}, follow_redirects=True)
    assert "sont effacées" in done.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Household, family.id).erased_at is not None
    assert personal_data_left(app, needles(family)) == []


def test_parents_cannot_reach_staff_erasure(app, factory, login):
    family = zephyrin(app, factory)
    client = login(app.test_client(), family.email)
    assert client.post(f"/dossiers-famille/{family.id}/effacer", data={"confirm": "EFFACER"}).status_code in (302, 403)
    assert client.get(f"/dossiers-famille/{family.id}/donnees").status_code in (302, 403)
    assert personal_data_left(app, [LAST.lower()])


def test_the_public_privacy_page_is_in_the_footer(app, factory, login):
    anonymous = app.test_client()
    page = anonymous.get("/donnees-personnelles/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Données personnelles" in html
    for words in ("Responsable du traitement", "À quoi servent", "3 ans", "10 ans", "Vos droits", "CNIL"):
        assert words in html
    family = factory.household()
    home = login(app.test_client(), family.email).get("/famille/dossier/")
    assert 'href="/donnees-personnelles/"' in home.get_data(as_text=True)


def test_erasure_removes_every_row_that_belongs_to_the_household_alone(app, factory):
    """The calendar feed's secret address (and any table whose rows go with the household) is gone;
    bookings and links stay for the books and statistics."""
    from app.models import CalendarFeed, HouseholdChild, db

    family = zephyrin(app, factory)
    with app.app_context():
        db.session.add(CalendarFeed(household_id=family.id, token="x" * 43))
        db.session.commit()
    erase(app, family.id)
    with app.app_context():
        assert db.session.query(CalendarFeed).filter_by(household_id=family.id).count() == 0
        assert db.session.query(HouseholdChild).filter_by(household_id=family.id).count() == 1
