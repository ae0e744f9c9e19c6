"""The axe-core check of the journeys really runs (the page's strict CSP does not stop it) and fails on
a serious or critical violation; the accessibility statement publishes what it measured."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.views.accessibility import AUDIT
from tests.e2e.conftest import assert_axe_clean, axe_violations


def test_axe_runs_under_the_csp_and_catches_violations(live_server_factory, new_page, shots):
    server = live_server_factory()
    page = new_page()
    page.goto(f"{server.url}/accessibilite/")
    expect(page.get_by_role("heading", name="Déclaration d'accessibilité")).to_be_visible()
    shots(page, "declaration d'accessibilite")  # axe runs here, at both sizes
    assert page.evaluate("() => typeof window.axe.version") == "string"
    if AUDIT["serious_or_critical"] is not None:
        expect(page.locator("#axe-result")).to_contain_text(f"{AUDIT['serious_or_critical']}")

    # Counter-proof: an image without text alternative and an unnamed button are caught.
    page.evaluate("""() => document.querySelector('main').insertAdjacentHTML('beforeend',
        '<img src="/static/favicon.svg"><button id="vide"></button>')""")
    found = {v["id"] for v in axe_violations(page)}
    assert {"image-alt", "button-name"} <= found, found
    with pytest.raises(AssertionError, match="axe-core: serious or critical"):
        assert_axe_clean(page, "contre-épreuve")


STAFF_DAILY_PAGES = (
    ("file des dossiers", "/revue-dossiers/"),
    ("revue d'un dossier", "/revue-dossiers/dossier/{household}"),
    ("tableau de bord", "/tableau-de-bord/"),
    ("liste d'appel", "/listes/appel?week_id={week}"),
    ("liste sur place", "/listes/sur-place?week_id={week}"),
    ("liste du bus", "/listes/bus?week_id={week}&circuit_id={circuit}"),
    ("paiements", "/paiements/"),
    ("presences", "/presences/"),
    ("presences par enfant", "/presences/enfants"),
    ("listes du car", "/presences/car?circuit_id={circuit}"),
    ("animateurs", "/animateurs/"),
    ("un paiement", "/paiements/{payment}"),
    ("guichet recherche", "/guichet/?q=Lefebvre"),
    ("guichet foyer", "/guichet/foyer/{booked}"),
    ("listes d'attente", "/listes-attente/"),
    ("annulations", "/annulations/"),
    ("journal des mails", "/journal/"),
    ("foyers", "/householdview/list/"),
)
TABLET = {"width": 1024, "height": 768}


def test_staff_daily_pages_pass_axe_and_fit_a_tablet(live_server_factory, new_page, shots):
    """The desk's daily screens: zero serious or critical axe-core violation at phone and desktop
    sizes, and no horizontal scrolling on a 1024 px tablet."""
    from tests import dossier_helpers
    from tests.e2e import helpers
    from tests.support import factories

    server = live_server_factory()
    factory = factories.Factory(server.app)
    catalogue = factory.catalog(capacities=(10, 10), seats=4, name="ALSH Les Cigales")
    family = factory.household(email="famille.revue@exemple.test", status="draft", children=[("Emma", 9)])
    dossier_helpers.fill_household(server.app, family.id)
    dossier_helpers.set_status(server.app, family.id, "submitted")
    # Lists with rows: a family who booked and paid, by bus and on site (long names, long stops).
    from app.models import Payment, db
    from tests.credit_helpers import book_and_pay

    helpers.name_catalogue(server.app, catalogue, "Accueil de loisirs Les Cigales de Carnoules", "Circuit Nord",
                           ("Église Saint-Martin-de-la-Vallée", "Stade municipal Jean-Bouin", "Gare routière"),
                           period="Vacances de Noël")
    booked = factory.household(email="famille.lefebvre@exemple.test", last_name="Lefebvre-Duchâteau",
                               children=[("Marie-Charlotte", 9), ("Jean-Baptiste", 7)])
    book_and_pay(server.app, booked.id, booked.child_ids[0], catalogue.week_ids[0], stop_id=catalogue.stop_ids[0])
    book_and_pay(server.app, booked.id, booked.child_ids[1], catalogue.week_ids[0])
    with server.app.app_context():
        payment = db.session.query(Payment.id).filter_by(household_id=booked.id).first()[0]
    staff = factory.staff("agent.quotidien@e2e.test")
    desk = new_page(viewport=shots.desktop)
    helpers.login(desk, server.url, staff.email)
    values = {"household": family.id, "week": catalogue.week_ids[0], "circuit": catalogue.circuit_id,
              "booked": booked.id, "payment": payment}
    for step, path in STAFF_DAILY_PAGES:
        response = desk.goto(server.url + path.format(**values))
        assert response.status == 200, f"{path}: {response.status}"
        shots(desk, f"agent {step}", phone_layout=False)  # axe-core at both sizes
        desk.set_viewport_size(TABLET)
        overflow = desk.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{path} scrolls sideways on a 1024 px tablet ({overflow}px too wide)"
        desk.set_viewport_size(shots.desktop)
