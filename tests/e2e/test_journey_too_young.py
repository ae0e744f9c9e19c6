"""Journey 3: a child too young for an establishment. The establishment is not hidden (the old
portal's FAQ 2): it is listed under "other establishments" with the reason — the age range, the
day the age is counted on and the child's age then — and its weeks cannot be added, even by URL.

Also checks, on these pages, what a keyboard user meets: the skip link and a visible focus ring."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e import helpers
from tests.support import factories


def test_a_child_too_young_sees_the_establishment_with_its_reason(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    small = factory.catalog(age_min=3, age_max=5, name="ALSH Les Pitchouns")
    helpers.name_catalogue(app, small, "ALSH Les Pitchouns", "Circuit Est", ("Place du marché", "Crèche", "Moulin"),
                           period="Vacances de Noël (3-5 ans)")
    big = factory.catalog(age_min=6, age_max=11, name="ALSH Les Cigales")
    helpers.name_catalogue(app, big, "ALSH Les Cigales", "Circuit Nord", ("Église", "Stade", "Gare"),
                           period="Vacances de Noël (6-11 ans)")
    family = factory.household(email="julie.roux@exemple.test", last_name="Roux", children=[("Jade", 4)],
                               age_on=small.starts_on)

    page = new_page()
    helpers.login(page, server.url, family.email)
    page.goto(f"{server.url}/famille/inscrire")
    page.get_by_role("link", name="Jade Roux").click()

    # The establishment that fits is offered; the other one is listed with its reason.
    expect(page.locator("section.establishment")).to_have_count(1)
    expect(page.locator("section.establishment")).to_contain_text("ALSH Les Pitchouns")
    others = page.locator("details")
    expect(others.locator("summary")).to_contain_text("Autres accueils (1) : pourquoi ils ne sont pas proposés")
    others.locator("summary").click()
    refused = page.locator(f"li.not-open[data-establishment='{big.establishment_id}']")
    expect(refused).to_be_visible()
    expect(refused).to_contain_text("ALSH Les Cigales")
    expect(refused.locator("[data-reason]")).to_have_attribute("data-reason", "age")
    start = small.starts_on
    expect(refused).to_contain_text("Réservé aux enfants de 6 à 11 ans (âge au premier jour de la période, le "
                                    f"{start.day} ")
    expect(refused).to_contain_text("Jade aura 4 ans.")
    shots(page, "accueils avec la raison")

    # Even by a typed URL, the weeks of that establishment say why and offer nothing to add.
    page.goto(f"{server.url}/famille/inscrire/{family.child_ids[0]}/periode/{big.period_id}")
    expect(page.locator("[data-reason='age']").first).to_contain_text("Réservé aux enfants de 6 à 11 ans")
    expect(page.get_by_role("button", name="Ajouter à mon panier")).to_have_count(0)
    expect(page.locator("input[name=week]")).to_have_count(0)
    shots(page, "semaines refusees pour l'age")

    # Keyboard: the first Tab reaches the skip link, which leads to the content; focus is visible.
    page.goto(f"{server.url}/famille/inscrire/{family.child_ids[0]}")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Aller au contenu")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["x"] >= 0, "the skip link must appear on screen when focused"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate("""() => { const el = document.activeElement, s = getComputedStyle(el);
        return {inMain: !!el.closest('main'), text: el.textContent.trim(), outline: s.outlineStyle,
                width: parseFloat(s.outlineWidth), shadow: s.boxShadow}; }""")
    assert focused["inMain"], f"after the skip link, Tab goes into the page content, not {focused}"
    assert focused["outline"] != "none" and focused["width"] >= 2, f"focus must be visible: {focused}"
    shots(page, "focus clavier visible")
