"""Issue 20's parent-side points, seen on a 375 px phone in a real browser (each page also passes the
layout and axe-core checks of `shots`): the week's price where the week is chosen, the chosen stop's
pick-up time in full under its select, the countdown that never leaves its « s » alone on a line,
« déjà inscrit par l'autre foyer », the file's next step on the documents page, « Compléter » that
preselects the document type, one sentence for an empty password, the Pôle's contact in the footer."""
from __future__ import annotations

from playwright.sync_api import expect

from tests import dossier_helpers
from tests.credit_helpers import add
from tests.e2e import helpers
from tests.support import factories

EURO = "\u00a0€"


def _inside_the_phone(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375 + 1, f"{selector} sticks out: {box}"


def test_booking_on_a_phone_prices_stop_times_countdown_and_the_other_household(live_server_factory, new_page,
                                                                                 shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(capacities=(10, 10), seats=4, bus_price_cents=500)
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Nord",
                           ("Église Saint-Martin-de-la-Vallée", "Stade municipal", "Gare routière"))
    family = factory.household(email="telephone@exemple.test", last_name="Petit", quotient=650,
                               children=[("Emma", 9)])
    other = factory.household(last_name="Autrefoyer")
    factory.link_child(other.id, family.child_ids[0])
    week1, week2 = catalogue.week_ids
    add(app, other.id, family.child_ids[0], week2)  # the other household of a separated family booked week 2

    page = new_page()
    helpers.login(page, server.url, family.email)
    page.goto(f"{server.url}/famille/inscrire")
    page.get_by_role("link", name="Emma Petit", exact=True).click()
    page.get_by_role("link", name="Vacances de Noël", exact=True).click()
    # The price for this household (QF 650 → 45 €, 50 € with the bus) where the week is chosen.
    expect(page.locator("#prices")).to_contain_text(f"45,00{EURO}")
    expect(page.locator(".week-price").first).to_contain_text(f"50,00{EURO} avec le bus")
    # Week 2 is booked by the other household: said so, without naming it.
    expect(page.locator("main")).to_contain_text("déjà inscrit pour cette semaine par l'autre foyer")
    expect(page.locator("main")).not_to_contain_text("Autrefoyer")
    # The chosen stop's pick-up time in full under the select, the select inside the phone's width.
    page.locator(f"#week-{week1}").check()
    page.locator(f"#transport-{week1}").select_option(f"stop-{catalogue.stop_ids[0]}")
    expect(page.locator(f"#chosen-{week1}")).to_contain_text("Église Saint-Martin-de-la-Vallée")
    expect(page.locator(f"#chosen-{week1}")).to_contain_text("montée")
    _inside_the_phone(page, f"#transport-{week1}")
    _inside_the_phone(page, f"#chosen-{week1}")
    shots(page, "semaine avec prix et horaires")
    helpers.add_to_basket(page, 1)
    page.goto(f"{server.url}/famille/panier")
    countdown = page.locator("#countdown")
    expect(countdown).to_contain_text("\u00a0s")
    # The countdown's last « s » stays on the line of its number (non-breaking spaces).
    lines = page.evaluate("""() => { const el = document.getElementById('countdown');
        const text = el.firstChild; const range = document.createRange();
        range.setStart(text, text.length - 1); range.setEnd(text, text.length);
        const last = range.getBoundingClientRect();
        range.setStart(text, text.length - 5); range.setEnd(text, text.length - 4);
        return [last.top, range.getBoundingClientRect().top]; }""")
    assert abs(lines[0] - lines[1]) < 2, f"the countdown's « s » wrapped alone: {lines}"
    shots(page, "panier avec compte a rebours")
    # Real plurals: « 1 semaine », never « 1 semaine(s) ».
    page.goto(f"{server.url}/famille/inscrire")
    expect(page.locator("main")).to_contain_text("Votre panier : 1 semaine,")
    expect(page.locator("main")).not_to_contain_text("semaine(s)")
    expect(page.locator(".site-footer .footer-contact")).to_contain_text("Tél.")


def test_the_file_on_a_phone_next_step_complete_and_empty_password(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    family = factory.household(email="dossier.telephone@exemple.test", status="draft", children=[("Hugo", 7)])

    page = new_page()
    # One sentence for an empty password, under its field.
    page.goto(f"{server.url}/compte/creer")
    page.get_by_label("Adresse e-mail").fill("nina.durand@exemple.test")
    page.get_by_role("button", name="Créer mon compte").click()
    error = page.locator("#f-password-error")
    expect(error).to_be_visible()
    assert error.inner_text().count(".") == 1, error.inner_text()
    shots(page, "mot de passe vide")

    helpers.login(page, server.url, family.email)
    # « Compléter » on a missing document opens the upload form with its type already chosen.
    page.goto(f"{server.url}/famille/dossier/")
    page.locator("a[href*='kind=insurance']").first.click()
    expect(page.locator("select[name=kind]")).to_have_value("insurance")
    shots(page, "completer une piece")

    # Once the last document is in, the documents page itself says to send the file, button included.
    dossier_helpers.fill_household(app, family.id)
    page.goto(f"{server.url}/famille/dossier/pieces")
    step = page.locator("#etape-suivante")
    expect(step).to_contain_text("Envoyez maintenant votre dossier")
    expect(step.get_by_role("button", name="Envoyer mon dossier")).to_be_visible()
    shots(page, "pieces completes etape suivante")
    step.get_by_role("button", name="Envoyer mon dossier").click()
    expect(page.locator(".flash-success")).to_contain_text("Votre dossier a été envoyé")
