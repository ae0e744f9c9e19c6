"""Journey 4: a family books the bus for two children from two different stops and pays; staff open
the bus list of the week, and each child is listed under the stop the parent chose (and under no
other), in route order, with the contact the driver needs; the printable list says the same."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e import helpers
from tests.support import factories

STOPS = ("Église Saint-Martin", "Stade municipal", "Gare routière")


def test_staff_open_the_bus_list_and_the_child_is_at_the_right_stop(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(capacities=(10, 10), seats=6, name="ALSH Les Cigales")
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Nord", STOPS, period="Vacances de Noël")
    family = factory.household(email="sophie.durand@exemple.test", last_name="Durand",
                               children=[("Léa", 8), ("Tom", 10)])
    staff = factory.staff("marc.agent@pole-jeunesse.test")
    week1, week2 = catalogue.week_ids
    eglise, _, gare = catalogue.stop_ids

    # The parent books week 1: Léa from the station, Tom from the church; and pays.
    page = new_page()
    helpers.login(page, server.url, family.email)
    page.goto(f"{server.url}/famille/inscrire")
    helpers.choose_weeks(page, "Léa Durand", "Vacances de Noël", {week1: f"stop-{gare}"})
    helpers.add_to_basket(page, 1)
    helpers.choose_weeks(page, "Tom Durand", "Vacances de Noël", {week1: f"stop-{eglise}"})
    helpers.add_to_basket(page, 1)
    page.goto(f"{server.url}/famille/panier")
    helpers.pay_in_sandbox(page)
    page.goto(f"{server.url}/famille/inscriptions")
    expect(page.locator("section.reservation")).to_have_count(2)
    shots(page, "parent mes inscriptions en bus")
    # At 375 px the stop select shows only the start of its text: the chosen stop and both times are
    # written in full under it, and follow a new choice.
    assert page.viewport_size["width"] == 375
    chosen = page.locator("section.reservation .chosen-stop")
    expect(chosen).to_have_count(2)
    expect(chosen.filter(has_text="Arrêt Gare routière : montée à")).to_contain_text("retour à")
    for i in range(2):
        fits = chosen.nth(i).evaluate("e => e.getBoundingClientRect().right <= window.innerWidth"
                                      " && e.scrollWidth <= e.clientWidth")
        assert fits, "the stop and its times must be readable in full on a phone"
    select = page.locator("section.reservation select").first
    select.select_option(f"stop-{catalogue.stop_ids[1]}")
    expect(chosen.first).to_contain_text("Arrêt Stade municipal : montée à")

    # Staff choose the week and the circuit on the bus-list screen.
    desk = new_page(viewport=shots.desktop)
    helpers.login(desk, server.url, staff.email)
    desk.goto(f"{server.url}/listes/bus")
    desk.get_by_label("Semaine").select_option(str(week1))
    desk.get_by_label("Circuit").select_option(str(catalogue.circuit_id))
    desk.get_by_role("button", name="Afficher").click()
    group = desk.locator("section.ops-group")
    expect(group).to_have_count(1)
    expect(group.locator("h2")).to_contain_text("Circuit Nord — Semaine du")
    expect(group).to_contain_text("2 enfants pour 6 places assises")
    shots(desk, "agent liste de bus de la semaine", phone_layout=False)

    # Stops in route order, each child under the stop chosen by the parent and nowhere else.
    headings = group.locator("h3")
    expect(headings).to_have_count(3)
    for position, name in enumerate(STOPS):
        expect(headings.nth(position)).to_contain_text(f"{position + 1}. {name}")
    at_stop = {name: _children_at(group, name) for name in STOPS}
    # Staff lists write the family name first, in capitals, as on a register.
    assert at_stop == {"Église Saint-Martin": ["DURAND Tom"], "Stade municipal": [], "Gare routière": ["DURAND Léa"]}
    lea_row = group.locator("tr", has_text="DURAND Léa")
    expect(lea_row).to_contain_text("8 ans")
    expect(lea_row).to_contain_text("0612345678")  # the guardian the driver calls

    # Week 2 has nobody on the bus: the list says so rather than showing week 1's children.
    desk.get_by_label("Semaine").select_option(str(week2))
    desk.get_by_role("button", name="Afficher").click()
    expect(desk.locator("section.ops-group")).not_to_contain_text("DURAND")
    expect(desk.locator("section.ops-group").first).to_contain_text("0 enfant")

    # The printable version, one stop per page, puts Léa at the station too.
    desk.goto(f"{server.url}/listes/bus/imprimer?week_id={week1}&circuit_id={catalogue.circuit_id}&par_arret=1")
    expect(desk.locator("body")).to_contain_text("Gare routière")
    printed = desk.locator("body").inner_text()
    assert printed.index("DURAND Léa") > printed.index("Gare routière") > printed.index("DURAND Tom")
    shots(desk, "agent liste de bus imprimable", phone_layout=False)


def _children_at(group, stop_name: str) -> list[str]:
    """The children listed under one stop heading (the table that follows it, if any)."""
    heading = group.locator("h3", has_text=stop_name)
    following = heading.locator("xpath=following-sibling::*[1]")
    if following.evaluate("el => el.tagName") != "TABLE":
        return []
    return [name.strip() for name in following.locator("tbody tr td:first-child").all_inner_texts()]
