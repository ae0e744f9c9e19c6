"""Journey: the waiting room of a first-come opening (issue 21). With the room on and one admission
every two seconds, a first parent goes straight to the booking page; the second lands on the French
queue page (position, estimated wait; phone layout and accessibility checked), which refreshes by
itself — a script file, the strict CSP holds — and lets them in when their turn comes. Staff see the
queue on their screen."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e import helpers
from tests.support import factories


def test_a_parent_waits_their_turn_then_gets_in(live_server_factory, new_page, shots):
    server = live_server_factory(WAITING_ROOM="on", WAITING_ROOM_RATE=0.5, WAITING_ROOM_BURST=1)
    app = server.app
    factory = factories.Factory(app)
    factory.catalog(name="ALSH Les Cigales")
    first = factory.household(email="paul.martin@exemple.test", last_name="Martin", children=[("Léo", 8)])
    second = factory.household(email="julie.roux@exemple.test", last_name="Roux", children=[("Jade", 8)])
    staff = factory.staff(email="agent@exemple.test")

    ahead = new_page()
    helpers.login(ahead, server.url, first.email)
    page = new_page()
    helpers.login(page, server.url, second.email)

    ahead.goto(f"{server.url}/famille/inscrire")
    expect(ahead.get_by_role("heading", name="Inscrire mon enfant")).to_be_visible()
    page.goto(f"{server.url}/famille/inscrire")
    expect(page.get_by_role("heading", name="Salle d'attente")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Vous êtes la prochaine famille à entrer.")
    expect(page.get_by_role("status")).to_contain_text("Attente estimée")
    shots(page, "salle d'attente")

    desk = new_page()
    helpers.login(desk, server.url, staff.email)
    desk.goto(f"{server.url}/salle-attente/")
    expect(desk.get_by_role("heading", name="Salle d'attente des inscriptions")).to_be_visible()
    expect(desk.locator(".wr-in-force")).to_have_text("en service maintenant")
    shots(desk, "ecran du personnel", phone_layout=False)

    # No click: the page refreshes itself and the parent is let in when their turn has come.
    expect(page.get_by_role("heading", name="Inscrire mon enfant")).to_be_visible(timeout=30000)
    expect(page.get_by_role("link", name="Jade Roux")).to_be_visible()
    shots(page, "entree apres l'attente")
