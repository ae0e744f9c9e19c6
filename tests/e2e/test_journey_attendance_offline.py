"""Journey (issue 18): an animator ticks attendance on a phone (375 px) with the network cut,
reloads the page offline (served by the service worker, the unsent ticks shown over it), comes
back online and the ticks reach the server; the driver's list refuses a child from another stop."""
from __future__ import annotations

from playwright.sync_api import expect

from tests import attendance_data as data
from tests.e2e import helpers
from tests.support import factories


def _this_week(app):
    from app.services.operations.attendance import paris_today
    from app.services.operations.open_days import week_monday, week_open_days

    built = None
    with app.app_context():
        monday = week_monday(paris_today())
    built = data.build(app, factories.Factory(app), monday=monday)
    with app.app_context():
        built.day = next(d.day for d in week_open_days(built.cat.establishment_id, monday) if d.is_open)
    return built


def _states(app, day):
    from sqlalchemy import select

    from app.models import Attendance, Child, db

    with app.app_context():
        return dict(db.session.execute(select(Child.first_name, Attendance.status).join(
            Attendance, Attendance.child_id == Child.id).where(Attendance.day == day)).all())


def _row(page, name):
    return page.locator(".tick-row").filter(has_text=name)


def test_attendance_ticked_offline_is_synced_when_the_network_returns(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    s = _this_week(app)
    page = new_page()
    helpers.login(page, server.url, s.animator.email)
    expect(page.locator("h1")).to_have_text("Ma semaine")
    page.get_by_role("link", name="Pointage du").first.click()
    page.goto(f"{server.url}/animateur/presences/{s.cat.establishment_id}/{s.day.isoformat()}")
    expect(_row(page, "MARTIN Inès")).to_be_visible()
    # The service worker controls the page and the page is in its cache before the network goes.
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("caches.match(location.pathname).then(r => !!r)")
    shots(page, "feuille de presence en ligne")

    # Chromium's offline emulation does not reach what the service worker lets through to the
    # network, so the sync API is also cut at the page's door while "offline".
    page.route("**/api/v1/animator/sync", lambda route: route.abort("internetdisconnected"))
    page.context.set_offline(True)
    _row(page, "MARTIN Inès").get_by_role("button", name="Présent").click()
    _row(page, "BERNARD Tom").get_by_role("button", name="Absent").click()
    expect(page.locator("[data-pending-count]")).to_contain_text("2 pointages non envoyés")
    expect(_row(page, "MARTIN Inès").locator("[data-pending]")).to_be_visible()
    shots(page, "deux pointages hors connexion")
    assert _states(app, s.day) == {}

    page.reload()  # offline: the service worker's copy, the queue replayed over it
    expect(_row(page, "MARTIN Inès").get_by_role("button", name="Présent")).to_have_attribute("aria-pressed", "true")
    expect(_row(page, "BERNARD Tom").get_by_role("button", name="Absent")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("[data-pending-count]")).to_contain_text("2 pointages non envoyés")
    assert _states(app, s.day) == {}

    page.unroute("**/api/v1/animator/sync")
    page.context.set_offline(False)
    expect(page.locator("[data-pending-count]")).to_have_text("Tous les pointages sont envoyés.")
    expect(_row(page, "MARTIN Inès").locator("[data-pending]")).to_be_hidden()
    assert _states(app, s.day) == {"Inès": "present", "Tom": "absent"}
    page.reload()
    expect(_row(page, "BERNARD Tom").get_by_role("button", name="Absent")).to_have_attribute("aria-pressed", "true")
    shots(page, "pointages envoyes")


def test_the_driver_cannot_board_a_child_from_another_stop(live_server_factory, new_page, shots):
    from sqlalchemy import select

    from app.models import Boarding, db

    server = live_server_factory()
    app = server.app
    s = _this_week(app)
    page = new_page()
    helpers.login(page, server.url, s.driver.email)
    page.goto(f"{server.url}/animateur/car/{s.cat.circuit_id}/{s.day.isoformat()}/morning")
    first_stop = page.locator(f"#arret-{s.cat.stop_ids[0]}")
    expect(first_stop.locator("h2")).to_contain_text("1.")
    first_stop.get_by_text("Un autre enfant se présente à cet arrêt").click()
    stranger = first_stop.locator(".not-on-stop").filter(has_text="PETIT Zoé")
    expect(stranger).to_contain_text("« non inscrit à cet arrêt »")
    expect(stranger).to_contain_text("Stade")
    expect(stranger.get_by_role("button", name="Monté")).to_be_disabled()
    shots(page, "liste du car enfant d un autre arret")
    _row(first_stop, "MARTIN Inès").get_by_role("button", name="Monté").click()
    expect(page.locator("[data-pending-count]")).to_have_text("Tous les pointages sont envoyés.")
    with app.app_context():
        rows = db.session.execute(select(Boarding.child_id, Boarding.boarded)).all()
    assert rows == [(s.ines, True)]
