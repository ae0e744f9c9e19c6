"""The animators' phone pages and staff's CAF screen (issue 18)."""
from __future__ import annotations

import pytest

from tests import attendance_data as data
from tests.test_attendance_api import s  # noqa: F401 (the worked example in the current week)


def test_animator_pages_under_the_strict_csp_and_scoped(app, s, make_client, login):  # noqa: F811
    client = login(make_client(), s.animator.email)
    assert client.get("/").headers["Location"].endswith("/animateur/")
    home = client.get("/animateur/")
    assert home.status_code == 200 and "ALSH Les Pins" in home.get_data(as_text=True)
    assert "ALSH Autre" not in home.get_data(as_text=True)
    page = client.get(f"/animateur/presences/{s.cat.establishment_id}/{s.day}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "MARTIN Inès" in text and "Claire Martin" in text
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    assert "<script>" not in text and "style=" not in text and "4500" not in text and "45,00" not in text
    assert client.get(f"/animateur/presences/{s.other.establishment_id}/{s.day}").status_code == 404
    assert client.get(f"/animateur/car/{s.cat.circuit_id}/{s.day}/morning").status_code == 404
    sw = client.get("/animateur/sw.js")
    assert sw.status_code == 200 and "serviceWorker" not in sw.get_data(as_text=True) and "caches" in sw.get_data(
        as_text=True)
    # Staff screens are not theirs.
    assert client.get("/presences/").status_code == 403


def test_the_driver_page_shows_a_child_of_another_stop_as_not_registered(app, s, make_client, login):  # noqa: F811
    client = login(make_client(), s.driver.email)
    text = client.get(f"/animateur/car/{s.cat.circuit_id}/{s.day}/morning").get_data(as_text=True)
    first_stop = text.split(f'id="arret-{s.cat.stop_ids[0]}"')[1].split("</section>")[0]
    assert "MARTIN Inès" in first_stop and 'data-toggle="boarded"' in first_stop
    other = first_stop.split("Un autre enfant se présente")[1]
    assert "PETIT Zoé" in other and "« non inscrit à cet arrêt »" in other and "Stade" in other and "disabled" in other


def test_staff_caf_screen_csv_and_correction(app, factory, make_client, login):
    built = data.build(app, factory)
    from tests.test_attendance import _sync

    _sync(app, [data.tick(built, built.ines, data.MONDAY, client_id="s1")], built.animator.id)
    client = login(make_client(), factory.staff().email)
    url = f"/presences/?establishment_id={built.cat.establishment_id}&mois=2026-05"
    text = client.get(url).get_data(as_text=True)
    assert "Moins de 6 ans" in text and "9,00" in text
    csv = client.get(f"/presences/csv?establishment_id={built.cat.establishment_id}&mois=2026-05")
    assert csv.status_code == 200 and "CAF;Âge;Moins de 6 ans;1;1;9" in csv.get_data().decode("utf-8-sig")
    from sqlalchemy import select

    from app.models import Attendance, db

    with app.app_context():
        row_id = db.session.execute(select(Attendance.id)).scalar_one()
    token = text.split('name="csrf_token" value="')[1].split('"')[0]
    refused = client.post(f"/presences/correction/{row_id}", data={"csrf_token": token, "duree": "4:00", "motif": ""})
    assert refused.status_code == 302
    client.post(f"/presences/correction/{row_id}", data={"csrf_token": token, "duree": "4h30", "motif": "Parti tôt"})
    assert "4,50" in client.get(url).get_data(as_text=True)


@pytest.mark.parametrize("who", ["parent", "staff"])
def test_animator_pages_are_the_animators_only(app, factory, make_client, login, who):
    user = factory.household() if who == "parent" else factory.staff()
    client = login(make_client(), user.email)
    assert client.get("/animateur/").status_code == 403


def test_the_demo_animator_sees_the_demo_alsh(app, login, make_client):
    from app.services.demo import DEMO_PASSWORD, seed_demo

    with app.app_context():
        seed_demo(app.appbuilder)
        seed_demo(app.appbuilder)  # idempotent: one assignment per establishment and circuit
    client = login(make_client(), "animateur@demo.test", DEMO_PASSWORD)
    text = client.get("/animateur/").get_data(as_text=True)
    assert "ALSH Les Petits Loups" in text and "Car : Circuit 1" in text and "ALSH Les Explorateurs" not in text
