"""Staff's side of attendance (issue 18), on the worked example of tests/attendance_data.py: a
justified absence becomes an avoir where the period's rules say so, the establishment's hours,
which animator covers what, the month per child (screen + CSV) and the boarding list CSV."""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests import attendance_data as data
from tests.support.db import call

TUESDAY = data.MONDAY + timedelta(days=1)


@pytest.fixture
def s(app, factory):
    return data.build(app, factory)


def _sync(app, ticks, user_id):
    from app.services.operations.tick_sync import sync

    return [(r.outcome, r.code) for r in call(app, sync, ticks, user_id=user_id, today=data.MONDAY)]


def _attendance_id(app, child_id, day):
    from sqlalchemy import select

    from app.models import Attendance, db

    with app.app_context():
        return db.session.execute(select(Attendance.id).where(Attendance.child_id == child_id,
                                                              Attendance.day == day)).scalar_one()


def _balance(app, household_id):
    from app.services.payments.credits import book_balance

    return call(app, book_balance, household_id)


def _token(text):
    return text.split('name="csrf_token" value="')[1].split('"')[0]


def _household_of(app, reservation_id):
    from app.models import Reservation, db

    with app.app_context():
        return db.session.get(Reservation, reservation_id).household_id


# --- a justified absence becomes an avoir ------------------------------------------------------

def test_a_justified_absence_gives_the_days_share_of_the_week_once(app, s, factory):
    from app.services.errors import Conflict, ValidationFailed
    from app.services.operations.absence_credit import credit_justified_absence, justified_absences

    assert _sync(app, [data.tick(s, s.tom, data.MONDAY, "absent", client_id="a1", absence_reason="justified"),
                       data.tick(s, s.ines, data.MONDAY, "absent", client_id="a2", absence_reason="unjustified")],
                 s.animator.id) == [("applied", ""), ("applied", "")]
    tom_day = _attendance_id(app, s.tom, data.MONDAY)
    # The week of 11 May has four open days (Thursday is Ascension): 60,00 € / 4 = 15,00 €.
    listed = call(app, justified_absences, s.cat.establishment_id, data.MONDAY, data.MONDAY + timedelta(days=6))
    assert [(a.child_id, a.amount_cents, a.eligible) for a in listed] == [(s.tom, 1500, True)]
    staff = factory.staff()
    household = _household_of(app, s.r_tom)
    with app.app_context():
        actor = app.appbuilder.sm.get_user_by_id(staff.id)
        with pytest.raises(ValidationFailed):
            credit_justified_absence(tom_day, certificate_received=False, actor=actor)
        note = credit_justified_absence(tom_day, certificate_received=True, actor=actor)
        assert (note.amount_cents, note.kind, note.reservation_id, note.household_id) == (
            1500, "cancellation", s.r_tom, household)
        assert "Absence justifiée (certificat médical) de Tom" in note.reason
        with pytest.raises(Conflict) as twice:
            credit_justified_absence(tom_day, certificate_received=True, actor=actor)
        assert twice.value.code == "already_credited"
        with pytest.raises(Conflict) as unjustified:
            credit_justified_absence(_attendance_id(app, s.ines, data.MONDAY), certificate_received=True,
                                     actor=actor)
        assert unjustified.value.code == "not_creditable"
    assert _balance(app, household) == 1500
    from tests.dossier_helpers import mails

    sent = mails(app, "absence_credit")
    assert len(sent) == 1 and "Avoir pour l'absence de Tom" in sent[0][2]
    assert "Tom Bernard" in sent[0][3] and "11 mai 2026" in sent[0][3] and "15,00" in sent[0][3]
    assert "/famille/avoirs/" in sent[0][3]
    listed = call(app, justified_absences, s.cat.establishment_id, data.MONDAY, data.MONDAY + timedelta(days=6))
    assert listed[0].granted and not listed[0].eligible and listed[0].credit_note_number.startswith("AV-")
    # A later tick saying Tom was there after all: the avoir stays listed, with a warning for staff.
    _sync(app, [data.tick(s, s.tom, data.MONDAY, client_id="a3", at="2026-05-11T18:00:00+02:00")], s.animator.id)
    listed = call(app, justified_absences, s.cat.establishment_id, data.MONDAY, data.MONDAY + timedelta(days=6))
    assert [(a.child_id, a.granted) for a in listed] == [(s.tom, True)] and "pointé présent" in listed[0].why_not


@pytest.mark.parametrize("rules", [dict(outcome="refund", late_with_justification=True),
                                   dict(outcome="credit", late_with_justification=False)])
def test_no_avoir_where_the_periods_rules_say_no(app, s, factory, rules):
    from app.models import CancellationRules, Week, db
    from app.services.errors import Conflict
    from app.services.operations.absence_credit import credit_justified_absence

    with app.app_context():
        period_id = db.session.get(Week, s.cat.week_ids[0]).period_id
        db.session.add(CancellationRules(period_id=period_id, free_days_before=7, **rules))
        db.session.commit()
    _sync(app, [data.tick(s, s.tom, data.MONDAY, "absent", client_id="r1", absence_reason="justified")],
          s.animator.id)
    with app.app_context(), pytest.raises(Conflict) as refused:
        credit_justified_absence(_attendance_id(app, s.tom, data.MONDAY), certificate_received=True)
    assert "ne prévoient pas d'avoir" in refused.value.message
    assert _balance(app, _household_of(app, s.r_tom)) == 0


def test_staff_grant_the_avoir_from_the_attendance_screen(app, s, factory, make_client, login):
    _sync(app, [data.tick(s, s.tom, data.MONDAY, "absent", client_id="p1", absence_reason="justified")],
          s.animator.id)
    client = login(make_client(), factory.staff().email)
    url = f"/presences/?establishment_id={s.cat.establishment_id}&mois=2026-05"
    text = client.get(url).get_data(as_text=True)
    assert "Absences justifiées et avoirs" in text and "Accorder l'avoir" in text and "15,00" in text
    row = _attendance_id(app, s.tom, data.MONDAY)
    target = f"/presences/avoir/{row}?establishment_id={s.cat.establishment_id}&mois=2026-05"
    refused = client.post(target, data={"csrf_token": _token(text)}, follow_redirects=True)
    assert "certificat médical reçu" in refused.get_data(as_text=True)
    assert _balance(app, _household_of(app, s.r_tom)) == 0
    done = client.post(target, data={"csrf_token": _token(text), "certificat": "1"}, follow_redirects=True)
    assert done.status_code == 200 and "accordé au foyer" in done.get_data(as_text=True)
    assert _balance(app, _household_of(app, s.r_tom)) == 1500
    unknown = client.post("/presences/avoir/999999", data={"csrf_token": _token(text), "certificat": "1"},
                          follow_redirects=True)
    assert unknown.status_code == 200 and "Ce pointage n" in unknown.get_data(as_text=True)
    again = client.post(target, data={"csrf_token": _token(text), "certificat": "1"}, follow_redirects=True)
    assert "été accordé pour cette absence" in again.get_data(as_text=True)
    assert _balance(app, _household_of(app, s.r_tom)) == 1500


# --- hours, assignments ----------------------------------------------------------------------------

def test_staff_set_the_establishments_hours_and_the_realised_hours_follow(app, s, factory, make_client, login):
    from app.services.operations.caf_export import caf_export

    _sync(app, [data.tick(s, s.tom, data.MONDAY, client_id="h1")], s.animator.id)
    client = login(make_client(), factory.staff().email)
    url = f"/presences/?establishment_id={s.cat.establishment_id}&mois=2026-05"
    token = _token(client.get(url).get_data(as_text=True))
    target = f"/presences/horaires?establishment_id={s.cat.establishment_id}&mois=2026-05"
    bad = client.post(target, data={"csrf_token": token, "establishment_id": s.cat.establishment_id,
                                    "ouverture": "17:00", "fermeture": "09:00"}, follow_redirects=True)
    assert bad.status_code == 200 and "fermeture doit être après" in bad.get_data(as_text=True)
    garbage = client.post(target, data={"csrf_token": token, "establishment_id": s.cat.establishment_id,
                                        "ouverture": "neuf heures", "fermeture": ""}, follow_redirects=True)
    assert garbage.status_code == 200 and "heure invalide" in garbage.get_data(as_text=True)
    assert call(app, caf_export, s.cat.establishment_id, 2026, 5).total_minutes == 540
    client.post(target, data={"csrf_token": token, "establishment_id": s.cat.establishment_id,
                              "ouverture": "09:00", "fermeture": "17:00"})
    assert call(app, caf_export, s.cat.establishment_id, 2026, 5).total_minutes == 480
    assert "09:00 – 17:00" in client.get(url).get_data(as_text=True)


def test_staff_assign_an_animator_and_the_phone_sees_it(app, s, factory, make_client, login):
    from app.services.operations.attendance import animator_scope

    client = login(make_client(), factory.staff().email)
    page = client.get("/animateurs/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Anouk Animatrice" in text and "Dany Chauffeur" in text
    token = _token(text)
    client.post("/animateurs/affecter", data={"csrf_token": token, "user_id": s.animator.id,
                                              "cible": f"etablissement-{s.other.establishment_id}"})
    assert s.other.establishment_id in call(app, animator_scope, s.animator.id).establishment_ids
    twice = client.post("/animateurs/affecter", data={"csrf_token": token, "user_id": s.animator.id,
                                                      "cible": f"etablissement-{s.other.establishment_id}"},
                        follow_redirects=True)
    assert "couvre déjà" in twice.get_data(as_text=True)
    parent = factory.user()  # a parent's login
    not_animator = client.post("/animateurs/affecter", data={"csrf_token": token, "user_id": parent.id,
                                                             "cible": f"circuit-{s.cat.circuit_id}"},
                               follow_redirects=True)
    assert "pas le rôle Animateur" in not_animator.get_data(as_text=True)
    junk = client.post("/animateurs/affecter", data={"csrf_token": token, "user_id": "x", "cible": "lune-1"},
                       follow_redirects=True)
    assert junk.status_code == 200 and "Choisissez un animateur" in junk.get_data(as_text=True)
    # The animator's phone now lists the other establishment; removing the assignment takes it away.
    animator = login(make_client(), s.animator.email)
    assert "ALSH Autre" in animator.get("/animateur/").get_data(as_text=True)
    from sqlalchemy import select

    from app.models import AnimatorAssignment, db

    with app.app_context():
        row_id = db.session.execute(select(AnimatorAssignment.id).where(
            AnimatorAssignment.establishment_id == s.other.establishment_id)).scalar_one()
    client.post(f"/animateurs/retirer/{row_id}", data={"csrf_token": token})
    assert s.other.establishment_id not in call(app, animator_scope, s.animator.id).establishment_ids
    assert "ALSH Autre" not in animator.get("/animateur/").get_data(as_text=True)
    # Not the animators' screen, nor the parents'.
    assert animator.get("/animateurs/").status_code == 403


# --- the month per child, the boarding list --------------------------------------------------------

def test_the_month_per_child_screen_and_csv(app, s, factory, make_client, login):
    from app.services.operations.attendance_summary import child_month_summary

    _sync(app, [data.tick(s, s.tom, data.MONDAY, client_id="m1", arrived_at="09:30"),
                data.tick(s, s.tom, TUESDAY, "absent", client_id="m2", absence_reason="justified"),
                data.tick(s, s.ines, data.MONDAY, "absent", client_id="m3", absence_reason="unjustified")],
          s.animator.id)
    lines = {c.child_id: c for c in call(app, child_month_summary, s.cat.establishment_id, 2026, 5)}
    assert set(lines) == {s.tom, s.ines, s.zoe}  # the other establishment's child is not here
    tom = lines[s.tom]
    assert (tom.booked_days, tom.present, tom.absent_justified, tom.absent_unjustified, tom.not_ticked,
            tom.minutes) == (4, 1, 1, 0, 2, 480)
    assert (lines[s.ines].absent_unjustified, lines[s.ines].minutes, lines[s.zoe].not_ticked) == (1, 0, 4)
    client = login(make_client(), factory.staff().email)
    page = client.get(f"/presences/enfants?establishment_id={s.cat.establishment_id}&mois=2026-05")
    assert page.status_code == 200 and "BERNARD Tom" in page.get_data(as_text=True)
    csv = client.get(f"/presences/enfants?establishment_id={s.cat.establishment_id}&mois=2026-05&format=csv")
    body = csv.get_data().decode("utf-8-sig")
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert "ALSH Les Pins;05/2026;BERNARD;Tom;4;1;1;0;2;8" in body
    assert "Max" not in body
    # The same over the whole period (its name in the file); another establishment's period is ignored.
    from app.models import Period, Week, db

    with app.app_context():
        period = db.session.get(Period, db.session.get(Week, s.cat.week_ids[0]).period_id)
        period_id, period_name = period.id, period.name
        other_period = db.session.get(Week, s.other.week_ids[0]).period_id
    whole = client.get(f"/presences/enfants?establishment_id={s.cat.establishment_id}&periode_id={period_id}"
                       "&format=csv").get_data().decode("utf-8-sig")
    assert f"ALSH Les Pins;{period_name};BERNARD;Tom;4;1;1;0;2;8" in whole
    foreign = client.get(f"/presences/enfants?establishment_id={s.cat.establishment_id}&mois=2026-05"
                         f"&periode_id={other_period}&format=csv").get_data().decode("utf-8-sig")
    assert "ALSH Les Pins;05/2026;BERNARD" in foreign
    # Bad parameters fall back to a page, never a 500.
    assert client.get("/presences/enfants?establishment_id=abc&mois=2026-13&periode_id=x").status_code == 200


def test_the_boarding_list_csv_in_route_order_with_the_ticks(app, s, factory, make_client, login):
    first = s.cat.stop_ids[0]
    _sync(app, [dict(kind="boarding", client_id="c1", circuit_id=s.cat.circuit_id, stop_id=first, child_id=s.ines,
                     day=data.MONDAY.isoformat(), leg="morning", boarded=True,
                     ticked_at="2026-05-11T07:31:00+02:00")], s.driver.id)
    client = login(make_client(), factory.staff().email)
    query = f"circuit_id={s.cat.circuit_id}&jour={data.MONDAY.isoformat()}&trajet=morning"
    page = client.get(f"/presences/car?{query}")
    assert page.status_code == 200 and "MARTIN Inès" in page.get_data(as_text=True)
    body = client.get(f"/presences/car?{query}&format=csv").get_data().decode("utf-8-sig").splitlines()
    assert body[0].startswith("Circuit;Jour;Trajet;Ordre;Arrêt;Heure;Nom;Prénom")
    ines = next(line for line in body if "MARTIN" in line)
    zoe = next(line for line in body if "PETIT" in line)
    assert body.index(ines) < body.index(zoe)
    assert ines.endswith(";oui;non") and zoe.endswith(";non;non") and ";1;" in ines and ";2;" in zoe
    assert client.get("/presences/car?circuit_id=999999&jour=zzz&trajet=lune").status_code == 200
    evening = client.get(f"/presences/car?circuit_id={s.cat.circuit_id}&jour={data.MONDAY.isoformat()}"
                         "&trajet=evening&format=csv").get_data().decode("utf-8-sig").splitlines()
    assert next(i for i, line in enumerate(evening) if "PETIT" in line) < next(
        i for i, line in enumerate(evening) if "MARTIN" in line)


# --- the household's scheme (CAF / MSA / other) -------------------------------------------------------

def test_the_scheme_is_set_on_the_parent_and_the_staff_household_forms(app, factory, make_client, login):
    from app.models import Household, db

    family = factory.household(status="draft")
    form = {"email": family.email, "phone": "0611223344", "address_line": "2 rue Neuve", "postcode": "83340",
            "city": "Le Luc", "caf_number": "1234567", "declared_quotient": "800"}
    parent = login(make_client(), family.email)
    page = parent.get("/famille/dossier/foyer").get_data(as_text=True)
    assert 'name="benefit_scheme"' in page and "MSA (régime agricole)" in page
    bad = parent.post("/famille/dossier/foyer", data={**form, "benefit_scheme": "lune"})
    assert bad.status_code == 400 and 'id="f-benefit_scheme-error">Choix non valide.' in bad.get_data(as_text=True)
    assert parent.post("/famille/dossier/foyer", data={**form, "benefit_scheme": "msa"}).status_code == 302
    with app.app_context():
        assert db.session.get(Household, family.id).benefit_scheme == "msa"
    assert "Régime : MSA" in parent.get("/famille/dossier/").get_data(as_text=True)
    # A form that does not send the field (an older page) keeps it.
    assert parent.post("/famille/dossier/foyer", data={**form, "phone": "0611223355"}).status_code == 302
    with app.app_context():
        assert db.session.get(Household, family.id).benefit_scheme == "msa"
    staff = login(make_client(), factory.staff().email)
    review = staff.get(f"/revue-dossiers/dossier/{family.id}")
    assert review.status_code == 200 and "<td>MSA</td>" in review.get_data(as_text=True)
    staff_page = staff.get(f"/dossiers-famille/{family.id}/foyer").get_data(as_text=True)
    assert "Régime (CAF, MSA, autre)" in staff_page and 'value="msa" selected' in staff_page
    assert staff.post(f"/dossiers-famille/{family.id}/foyer",
                      data={**form, "benefit_scheme": "caf"}).status_code == 302
    with app.app_context():
        assert db.session.get(Household, family.id).benefit_scheme == "caf"


def test_the_caf_screen_names_the_households_counted_without_a_scheme(app, s, factory, make_client, login):
    _sync(app, [data.tick(s, s.zoe, data.MONDAY, client_id="z1"), data.tick(s, s.tom, data.MONDAY, client_id="z2")],
          s.animator.id)
    client = login(make_client(), factory.staff().email)
    text = client.get(f"/presences/?establishment_id={s.cat.establishment_id}&mois=2026-05").get_data(as_text=True)
    assert "non renseigné pour 1 foyer compté" in text
    assert f"/dossiers-famille/{_household_of(app, s.r_zoe)}/foyer" in text
    assert f"/dossiers-famille/{_household_of(app, s.r_tom)}/foyer" not in text  # Tom's is on the MSA


def test_the_staff_day_list_flags_an_unlisted_pick_up_and_the_absence_reason(app, s, factory, make_client, login):
    _sync(app, [data.tick(s, s.tom, data.MONDAY, client_id="u1", picked_up_by="Oncle Inconnu"),
                data.tick(s, s.ines, data.MONDAY, "absent", client_id="u2", absence_reason="justified")],
          s.animator.id)
    client = login(make_client(), factory.staff().email)
    text = client.get(f"/presences/?establishment_id={s.cat.establishment_id}&mois=2026-05").get_data(as_text=True)
    assert "Récupéré par une personne non autorisée : Oncle Inconnu" in text
    assert "Absent (justifié, certificat)" in text


def test_a_week_cancelled_after_an_absence_avoir_gives_back_only_the_rest(app, s, factory):
    """The day already given back as an avoir is not given back again when staff cancel the week."""
    from app.services.operations.absence_credit import credit_justified_absence
    from app.services.payments.cancellations import cancel_for_family

    _sync(app, [data.tick(s, s.tom, data.MONDAY, "absent", client_id="b1", absence_reason="justified")],
          s.animator.id)
    staff = factory.staff()
    household = _household_of(app, s.r_tom)
    tom_day = _attendance_id(app, s.tom, data.MONDAY)
    with app.app_context():
        actor = app.appbuilder.sm.get_user_by_id(staff.id)
        credit_justified_absence(tom_day, certificate_received=True, actor=actor)
    assert _balance(app, household) == 1500
    with app.app_context():
        actor = app.appbuilder.sm.get_user_by_id(staff.id)
        result = cancel_for_family(s.r_tom, outcome="credit", reason="Départ de la commune", actor=actor)
        assert result.amount_cents == 4500
    assert _balance(app, household) == 6000  # the week's 60,00 €, once: 15,00 € + 45,00 €
