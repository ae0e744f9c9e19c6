"""Gaps in issue 18's tests found by an audit: « Descendu » on the evening bus, an animator's reach
to documents and money, the staff's open-day override over HTTP, a child turning 6 within the
month in the CAF export, and the household's scheme through the parent API."""
from __future__ import annotations

import pytest

from tests import attendance_data as data
from tests.support.db import call


@pytest.fixture
def s(app, factory):
    return data.build(app, factory)


def _sync(app, ticks, user_id):
    from app.services.operations.tick_sync import sync

    return [(r.client_id, r.outcome, r.code) for r in call(app, sync, ticks, user_id=user_id, today=data.MONDAY)]


# --- « Descendu » on the evening leg -----------------------------------------------------------------

def test_got_off_on_the_evening_leg_sent_twice_is_applied_once_and_read_back(app, s, factory, make_client, login):
    from app.models import AttendanceTick, AuditLog, Boarding
    from app.services.operations.boarding import boarding_sheet
    from tests.booking_helpers import count_rows

    first = s.cat.stop_ids[0]
    base = dict(kind="boarding", circuit_id=s.cat.circuit_id, stop_id=first, child_id=s.ines,
                day=data.MONDAY.isoformat(), leg="evening")
    boarded = dict(base, client_id="e1", boarded=True, got_off=False, ticked_at="2026-05-11T17:31:00+02:00")
    got_off = dict(base, client_id="e2", boarded=True, got_off=True, ticked_at="2026-05-11T18:05:00+02:00")
    assert _sync(app, [boarded, got_off], s.driver.id) == [("e1", "applied", ""), ("e2", "applied", "")]
    # The phone lost the answer and sends the same queue again: nothing more is applied.
    assert _sync(app, [boarded, got_off], s.driver.id) == [("e1", "duplicate", ""), ("e2", "duplicate", "")]
    assert count_rows(app, AttendanceTick, kind="boarding") == 2
    assert count_rows(app, Boarding) == 1
    assert count_rows(app, AuditLog, action="boarding.ticked") == 2
    # The driver's evening sheet: Inès boarded and got off; the morning leg is untouched.
    evening = call(app, boarding_sheet, s.cat.circuit_id, data.MONDAY, "evening", user_id=s.driver.id,
                   today=data.MONDAY)
    ines = next(c for st in evening.stops for c in st.children if c.child_id == s.ines)
    zoe = next(c for st in evening.stops for c in st.children if c.child_id == s.zoe)
    assert (ines.boarded, ines.got_off) == (True, True)
    assert (zoe.boarded, zoe.got_off) == (False, False)
    morning = call(app, boarding_sheet, s.cat.circuit_id, data.MONDAY, "morning", user_id=s.driver.id,
                   today=data.MONDAY)
    assert not any(c.boarded or c.got_off for st in morning.stops for c in st.children)
    # The staff's boarding CSV for the evening says « oui » in both columns for Inès.
    client = login(make_client(), factory.staff().email)
    body = client.get(f"/presences/car?circuit_id={s.cat.circuit_id}&jour={data.MONDAY.isoformat()}"
                      "&trajet=evening&format=csv").get_data().decode("utf-8-sig").splitlines()
    assert body[0].endswith(";Monté;Descendu")
    assert next(line for line in body if "MARTIN" in line).endswith(";oui;oui")
    assert next(line for line in body if "PETIT" in line).endswith(";non;non")
    morning_csv = client.get(f"/presences/car?circuit_id={s.cat.circuit_id}&jour={data.MONDAY.isoformat()}"
                             "&trajet=morning&format=csv").get_data().decode("utf-8-sig").splitlines()
    assert next(line for line in morning_csv if "MARTIN" in line).endswith(";non;non")


# --- an animator reaches no document and no money ----------------------------------------------------

def _paid_family_with_documents(app, factory):
    """A household with its file's documents, a paid booking cancelled: an invoice and a credit note."""
    from sqlalchemy import select

    from app.models import Basket, CreditNote, Document, Invoice, db
    from app.services.payments.cancellations import cancel_by_parent
    from tests.credit_helpers import book_and_pay
    from tests.dossier_helpers import fill_household

    cat = factory.catalog(capacities=(10,))
    fam = factory.household(last_name="Morel", children=[("Hugo", 8)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    call(app, cancel_by_parent, fam.id, line)
    fill_household(app, fam.id)
    with app.app_context():
        invoice = db.session.execute(select(Invoice).where(Invoice.household_id == fam.id)).scalar_one()
        note = db.session.execute(select(CreditNote).where(CreditNote.household_id == fam.id)).scalar_one()
        document_ids = list(db.session.execute(select(Document.id).where(Document.household_id == fam.id)).scalars())
        basket_id = db.session.execute(select(Basket.id).where(Basket.household_id == fam.id)).scalars().first()
        return dict(household_id=fam.id, invoice_id=invoice.id, note_id=note.id, payment_id=invoice.payment_id,
                    document_ids=document_ids, basket_id=basket_id, year=invoice.issued_at.year)


def _refused(response, login_path="/login"):
    """403 / 404, or a redirect to the login page that serves nothing: never a file, never a page of money."""
    body = response.get_data()
    assert b"%PDF" not in body and b"PNG" not in body and b"JFIF" not in body, response.request.path
    if response.status_code in (301, 302, 303):
        assert login_path in response.headers["Location"], (response.request.path, response.headers["Location"])
        return
    assert response.status_code in (401, 403, 404), (response.request.path, response.status_code)


def test_an_animator_reaches_no_document_invoice_credit_note_or_payment(app, s, factory, make_client, login):
    from tests.support.clients import jwt_headers

    fam = _paid_family_with_documents(app, factory)
    assert fam["document_ids"] and fam["basket_id"]
    animator = login(make_client(), s.animator.email)
    assert animator.get("/animateur/").status_code in (200, 302)  # the animator's own pages still answer
    invoice, note, payment, year = fam["invoice_id"], fam["note_id"], fam["payment_id"], fam["year"]
    pages = [
        # staff: the file's documents, the books, the payments
        *[f"/revue-dossiers/document/{d}" for d in fam["document_ids"]],
        *[f"/revue-dossiers/document/{d}?telecharger=1" for d in fam["document_ids"]],
        f"/revue-dossiers/dossier/{fam['household_id']}",
        f"/comptabilite/factures/{invoice}/pdf", f"/comptabilite/avoirs/{note}/pdf", "/comptabilite/",
        "/comptabilite/export.csv", "/comptabilite/attestations",
        f"/comptabilite/attestations/{year}/foyer/{fam['household_id']}/pdf", f"/comptabilite/attestations/{year}.zip",
        "/paiements/", f"/paiements/{payment}",
        # parent: the same through the family area
        *[f"/famille/dossier/pieces/{d}" for d in fam["document_ids"]],
        "/famille/factures", f"/famille/factures/{invoice}/pdf", f"/famille/avoirs/{note}/pdf",
        f"/famille/attestation-fiscale/{year}/pdf", "/famille/recus", f"/famille/recu/{fam['basket_id']}",
        "/famille/paiement/retour",
    ]
    for path in pages:
        _refused(animator.get(path))
    api = [*[f"/api/v1/portal/dossier/documents/{d}" for d in fam["document_ids"]],
           f"/api/v1/portal/invoices/{invoice}/pdf", f"/api/v1/portal/credit-notes/{note}/pdf",
           "/api/v1/portal/invoices", f"/api/v1/portal/tax-attestations/{year}/pdf"]
    for path in api:
        _refused(animator.get(path))
    headers = jwt_headers(make_client(), s.animator.email)
    token_client = make_client()
    for path in api:
        _refused(token_client.get(path, headers=headers))
    # The household's own parent does get them: the paths above are the real ones.
    parent = login(make_client(), factory_email(app, fam["household_id"]))
    assert parent.get(f"/famille/factures/{invoice}/pdf").get_data().startswith(b"%PDF")
    assert parent.get(f"/famille/dossier/pieces/{fam['document_ids'][0]}").status_code == 200
    staff = login(make_client(), factory.staff().email)
    assert staff.get(f"/revue-dossiers/document/{fam['document_ids'][0]}").status_code == 200
    assert staff.get(f"/comptabilite/avoirs/{note}/pdf").get_data().startswith(b"%PDF")


def factory_email(app, household_id):
    from app.models import Household, db

    with app.app_context():
        return db.session.get(Household, household_id).email


# --- staff open or close a day over HTTP (POST /presences/jour) -------------------------------------

def _token(text):
    return text.split('name="csrf_token" value="')[1].split('"')[0]


def _override(app, establishment_id, day):
    from sqlalchemy import select

    from app.models import OpenDayOverride, db

    with app.app_context():
        row = db.session.execute(select(OpenDayOverride).where(
            OpenDayOverride.establishment_id == establishment_id, OpenDayOverride.day == day)).scalar_one_or_none()
        return None if row is None else (row.is_open, row.opens_at, row.closes_at)


def test_staff_open_the_holiday_and_close_a_day_through_the_screen(app, s, factory, make_client, login):
    from datetime import time, timedelta

    from app.models import AuditLog
    from tests.booking_helpers import count_rows

    establishment = s.cat.establishment_id
    friday = data.MONDAY + timedelta(days=4)
    screen = f"/presences/?establishment_id={establishment}&mois=2026-05"
    target = f"/presences/jour?establishment_id={establishment}&mois=2026-05"
    staff = login(make_client(), factory.staff().email)
    page = staff.get(screen).get_data(as_text=True)
    assert "jeudi 14 mai 2026 : fermé (Ascension)" in page
    token = _token(page)
    # Ascension opened 09:00–12:00: the page says so, and the animator's tick on it is taken.
    opened = staff.post(target, data={"csrf_token": token, "establishment_id": establishment,
                                      "jour": data.ASCENSION.isoformat(), "ouvert": "1", "ouverture": "09:00",
                                      "fermeture": "12:00"})
    assert opened.status_code == 302 and opened.headers["Location"].endswith(
        f"/presences/?establishment_id={establishment}&mois=2026-05")
    assert _override(app, establishment, data.ASCENSION) == (True, time(9), time(12))
    page = staff.get(screen).get_data(as_text=True)
    assert "Calendrier mis à jour." in page
    assert "jeudi 14 mai 2026 : ouvert 09:00 – 12:00 (Ascension) — modifié" in page
    assert _sync(app, [data.tick(s, s.tom, data.ASCENSION, client_id="j1")], s.animator.id) == [("j1", "applied", "")]
    # Friday closed (a day form in French, dd/mm/yyyy, is read too): the tick on it is refused.
    closed = staff.post(target, data={"csrf_token": token, "establishment_id": establishment,
                                      "jour": friday.strftime("%d/%m/%Y"), "ouvert": "0"})
    assert closed.status_code == 302 and _override(app, establishment, friday) == (False, None, None)
    assert "vendredi 15 mai 2026 : fermé — modifié" in staff.get(screen).get_data(as_text=True)
    assert _sync(app, [data.tick(s, s.tom, friday, client_id="j2")], s.animator.id) == [
        ("j2", "refused", "closed_day")]
    assert count_rows(app, AuditLog, action="establishment.day_set") == 2
    # Bad input: a French message, nothing changed, never a 500.
    for bad, message in [({"jour": "", "ouvert": "1"}, "Choisissez un établissement et un jour."),
                         ({"jour": "2026-05-12", "ouvert": "1", "ouverture": "17:00", "fermeture": "09:00"},
                          "fermeture doit être après"),
                         ({"jour": "2026-05-12", "ouvert": "1", "ouverture": "midi"}, "heure invalide")]:
        answer = staff.post(target, data={"csrf_token": token, "establishment_id": establishment, **bad},
                            follow_redirects=True)
        assert answer.status_code == 200 and message in answer.get_data(as_text=True), bad
    assert _override(app, establishment, data.MONDAY + timedelta(days=1)) is None
    # From an animator: refused, nothing changed (the form carries the CSRF token: `token` above;
    # the unit-test app runs without CSRF checks, tests/support/apps.py).
    animator = login(make_client(), s.animator.email)
    assert animator.post(target, data={"csrf_token": token, "establishment_id": establishment,
                                       "jour": "2026-05-12", "ouvert": "0"}).status_code == 403
    assert _override(app, establishment, data.MONDAY + timedelta(days=1)) is None
    # Back to what the calendar says: the exception goes.
    staff.post(target, data={"csrf_token": token, "establishment_id": establishment,
                             "jour": friday.isoformat(), "ouvert": "1"})
    assert _override(app, establishment, friday) is None


# --- the CAF export: a child turning 6 within the month ----------------------------------------------

def test_a_child_turning_six_mid_month_is_counted_in_the_band_of_each_day(app, s):
    from datetime import date, timedelta

    from app.models import Child, db
    from app.services.operations.caf_export import caf_csv, caf_export

    with app.app_context():  # Inès turns 6 on Wednesday 13 May 2026
        db.session.get(Child, s.ines).birth_date = date(2020, 5, 13)
        db.session.commit()
    tuesday, wednesday, friday = (data.MONDAY + timedelta(days=n) for n in (1, 2, 4))
    assert _sync(app, [data.tick(s, s.ines, data.MONDAY, client_id="b1"),
                       data.tick(s, s.ines, tuesday, client_id="b2", left_at="12:00"),
                       data.tick(s, s.ines, wednesday, client_id="b3"),
                       data.tick(s, s.ines, friday, client_id="b4", arrived_at="09:30")], s.animator.id) == [
        ("b1", "applied", ""), ("b2", "applied", ""), ("b3", "applied", ""), ("b4", "applied", "")]
    export = call(app, caf_export, s.cat.establishment_id, 2026, 5)
    # Monday (540) and Tuesday (210) under 6; Wednesday, her birthday, (540) and Friday (480) at 6.
    assert [(line.scheme, line.band, line.children, line.child_days, line.minutes) for line in export.by_age] == [
        ("CAF", "6 ans et plus", 1, 2, 1020), ("CAF", "Moins de 6 ans", 1, 2, 750)]
    assert [(line.band, line.child_days, line.minutes) for line in export.by_qf] == [("QF 0 – 700", 4, 1770)]
    lines = call(app, caf_csv, export).decode("utf-8-sig").split("\r\n")
    assert "ALSH Les Pins;05/2026;CAF;Âge;6 ans et plus;1;2;17" in lines
    assert "ALSH Les Pins;05/2026;CAF;Âge;Moins de 6 ans;1;2;12,5" in lines


# --- the household's scheme through the parent API ---------------------------------------------------

def test_the_households_scheme_is_read_and_written_through_the_parent_api(app, factory, make_client):
    from app.models import Household, db
    from tests.support.clients import jwt_headers

    API = "/api/v1/portal"
    family = factory.household(status="draft")
    other = factory.household(status="draft")
    client = make_client()
    headers = jwt_headers(client, family.email)
    form = {"email": family.email, "phone": "0611223344", "address_line": "2 rue Neuve", "postcode": "83340",
            "city": "Le Luc", "caf_number": "1234567", "declared_quotient": "800"}
    assert client.get(f"{API}/dossier", headers=headers).get_json()["household"]["benefit_scheme"] in (None, "")
    saved = client.put(f"{API}/dossier/household", headers=headers, json={**form, "benefit_scheme": "msa"})
    assert saved.status_code == 200, saved.get_json()
    assert client.get(f"{API}/dossier", headers=headers).get_json()["household"]["benefit_scheme"] == "msa"
    refused = client.put(f"{API}/dossier/household", headers=headers, json={**form, "benefit_scheme": "lune"})
    assert refused.status_code == 400
    assert refused.get_json()["details"]["errors"]["benefit_scheme"] == "Choix non valide."
    with app.app_context():
        assert db.session.get(Household, family.id).benefit_scheme == "msa"
        assert db.session.get(Household, other.id).benefit_scheme is None
    assert client.put(f"{API}/dossier/household", headers=headers,
                      json={**form, "benefit_scheme": "caf"}).status_code == 200
    with app.app_context():
        assert db.session.get(Household, family.id).benefit_scheme == "caf"
    # A client that does not send the field (written before it existed) keeps it, as the page does.
    assert client.put(f"{API}/dossier/household", headers=headers, json=form).status_code == 200
    with app.app_context():
        assert db.session.get(Household, family.id).benefit_scheme == "caf"
    # The other household reads its own file, not this one's scheme.
    other_headers = jwt_headers(client, other.email)
    assert client.get(f"{API}/dossier", headers=other_headers).get_json()["household"]["benefit_scheme"] in (None, "")
    # The OpenAPI document describes the field.
    spec = client.get("/api/v1/_openapi", headers=jwt_headers(client, factory.admin().email)).get_json()
    assert "benefit_scheme" in spec["components"]["schemas"]["PortalHouseholdForm"]["properties"]
