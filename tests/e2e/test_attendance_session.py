"""Journey (issue 18): the animator's phone when the server will not take the ticks. A session
that expired (401, or the page's CSRF token no longer valid) asks to log in again with a link to
the login page; a refused batch (400) shows the server's reason. The queue stays on the phone in
both cases, and once logged in again the ticks are sent."""
from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.e2e import helpers
from tests.e2e.test_journey_attendance_offline import _row, _states, _this_week
from tests.support.factories import PASSWORD

SYNC = "**/api/v1/animator/sync"
EXPIRED = "Votre session a expiré : reconnectez-vous pour envoyer les pointages."


def _answer(status, body):
    return lambda route: route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def test_an_expired_session_or_a_refused_batch_is_said_and_the_queue_kept(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    s = _this_week(app)
    page = new_page()
    helpers.login(page, server.url, s.animator.email)
    sheet = f"/animateur/presences/{s.cat.establishment_id}/{s.day.isoformat()}"
    page.goto(server.url + sheet)
    state = page.locator("[data-pending-count]")
    expect(state).to_have_text("Tous les pointages sont envoyés.")

    # The server answers 401: the phone says the session expired, with a link to log in again.
    page.route(SYNC, _answer(401, {"msg": "Unauthorized"}))
    _row(page, "MARTIN Inès").get_by_role("button", name="Présent").click()
    expect(state).to_contain_text("1 pointage non envoyé")
    expect(state).to_contain_text(EXPIRED)
    expect(state).not_to_contain_text("envoi en cours")
    relog = state.get_by_role("link", name="Se reconnecter")
    expect(relog).to_have_attribute("href", "/login/?next=" + sheet.replace("/", "%2F"))
    expect(_row(page, "MARTIN Inès").locator("[data-pending]")).to_be_visible()
    shots(page, "session expiree")

    # A batch refused (400): the server's reason, no login link, the queue still there.
    page.unroute(SYNC)
    page.route(SYNC, _answer(400, {"code": "invalid", "message": "Pointage illisible : rechargez la page."}))
    _row(page, "BERNARD Tom").get_by_role("button", name="Absent").click()
    expect(state).to_contain_text("2 pointages non envoyés. Pointage illisible : rechargez la page.")
    expect(state.get_by_role("link")).to_have_count(0)
    assert _states(app, s.day) == {}

    # The real thing: the session cookie is gone, the server refuses the page's CSRF token (400 csrf).
    page.unroute(SYNC)
    page.context.clear_cookies()
    _row(page, "MARTIN Inès").get_by_role("button", name="Présent").click()
    expect(state).to_contain_text("3 pointages non envoyés")
    expect(state).to_contain_text(EXPIRED)
    assert _states(app, s.day) == {}

    # Logging in again through the link comes back to the sheet, and the kept queue is sent.
    state.get_by_role("link", name="Se reconnecter").click()
    page.fill("input[name=username]", s.animator.email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit], input[type=submit]")
    expect(state).to_have_text("Tous les pointages sont envoyés.")
    assert page.url.endswith(sheet)
    assert _states(app, s.day) == {"Inès": "present", "Tom": "absent"}
    shots(page, "reconnecte pointages envoyes")
