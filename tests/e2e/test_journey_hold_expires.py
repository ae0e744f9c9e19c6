"""Journey 2: the parent leaves the basket page open and does not pay. The countdown reaches zero,
the page says that the places were released, reloads, and lists the weeks that were let go; the
places are back in the pool and the "basket expired" mail is logged.

The hold is shortened by configuration (BASKET_HOLD_MINUTES) and expires by itself: the embedded
worker runs the scheduled expiry job, and every availability query already ignores a lapsed hold."""
from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.e2e import helpers
from tests.support import factories

HOLD_SECONDS = 18


def test_hold_expires_while_the_basket_page_is_open(live_server_factory, new_page, shots):
    server = live_server_factory(BASKET_HOLD_MINUTES=HOLD_SECONDS / 60)
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(capacities=(3, 3), seats=3, name="ALSH Les Cigales")
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Sud", ("Mairie", "Collège", "Lavoir"),
                           period="Vacances de Noël")
    family = factory.household(email="nadia.benali@exemple.test", last_name="Benali", children=[("Inès", 7)])
    week1, week2 = catalogue.week_ids

    page = new_page()
    helpers.login(page, server.url, family.email)
    page.goto(f"{server.url}/famille/inscrire")
    helpers.choose_weeks(page, "Inès Benali", "Vacances de Noël",
                         {week1: f"stop-{catalogue.stop_ids[0]}", week2: "onsite"})
    expect(page.locator(f"fieldset[data-week='{week1}']")).to_contain_text("3 places restantes")
    helpers.add_to_basket(page, 2)

    page.goto(f"{server.url}/famille/panier")
    countdown = page.locator("#countdown")
    expect(countdown).to_contain_text(re.compile(r"Temps restant\s:\s0\smin\s\d+\ss"))
    expect(page.locator("tr.line")).to_have_count(2)
    shots(page, "panier avec compte a rebours")
    # While the hold runs, the week shows one place fewer for everybody.
    assert _places_left(app, family.id, family.child_ids[0], catalogue.period_id, week1) == 2

    # The parent keeps the page open: the countdown reaches zero and says what it means.
    expect(countdown).to_have_text("Le délai est écoulé : vos places ont été libérées.",
                                   timeout=(HOLD_SECONDS + 15) * 1000)
    expect(countdown).to_have_attribute("role", "alert")
    expect(page.get_by_role("button", name="Valider mon panier")).to_be_disabled()
    shots(page, "delai ecoule")

    # Then the page reloads itself and explains, week by week, what was released.
    lapsed = page.locator("#lapsed")
    expect(lapsed).to_be_visible(timeout=15000)
    expect(lapsed).to_contain_text("Votre panier a expiré le")
    expect(lapsed).to_contain_text("les places ont été libérées pour d'autres familles")
    expect(lapsed.locator("li")).to_have_count(2)
    expect(lapsed).to_contain_text("Inès — ALSH Les Cigales, Semaine du")
    expect(page.locator("tr.line")).to_have_count(0)
    shots(page, "panier expire explique")

    # The places are back, for this family and for everybody else.
    assert _places_left(app, family.id, family.child_ids[0], catalogue.period_id, week1) == 3
    page.get_by_role("link", name="Inscrire mon enfant").click()
    page.get_by_role("link", name="Inès Benali").click()
    page.get_by_role("link", name="Vacances de Noël").click()
    expect(page.locator(f"fieldset[data-week='{week1}']")).to_contain_text("3 places restantes")
    expect(page.locator(f"#week-{week1}")).not_to_be_checked()
    shots(page, "places de nouveau libres")

    # The expiry job marks the lines and mails the family (once), without anyone opening a page.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        statuses = {status for _, _, status, _, _ in helpers.reservations_of(app, family.id)}
        mails = helpers.mails_to(app, family.email, "basket_expired")
        if statuses == {"expired"} and mails:
            break
        time.sleep(0.5)  # the live server's own worker runs the job when the real (short) hold ends
    assert statuses == {"expired"}
    assert len(mails) == 1 and "Inès" in mails[0][2]


def _places_left(app, household_id: int, child_id: int, period_id: int, week_id: int) -> int:
    from app.services.booking import eligibility

    with app.app_context():
        offers = eligibility.offers(household_id, child_id)
        _, period = offers.period(period_id)
        week = next(w for w in period.weeks if w.week.id == week_id)
        left = week.places_left
    return left
