"""« Mon agenda » on a phone (issue 20): from « Mes inscriptions » the parent creates the private
calendar link, the feed holds the confirmed week with its bus stop and times, and a renewed link
replaces the old one. Every page passes the layout and axe-core checks of `shots`."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.credit_helpers import book_and_pay
from tests.e2e import helpers
from tests.support import factories


def test_parent_subscribes_to_the_calendar_of_confirmed_weeks(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(capacities=(10, 10), seats=4, name="ALSH Les Cigales")
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Nord",
                           ("Église Saint-Martin", "Stade municipal", "Gare routière"), period="Vacances de Noël")
    family = factory.household(email="agenda@exemple.test", last_name="Roux", children=[("Emma", 9)])
    book_and_pay(app, family.id, family.child_ids[0], catalogue.week_ids[0], stop_id=catalogue.stop_ids[1])

    page = new_page()
    helpers.login(page, server.url, family.email)
    page.goto(f"{server.url}/famille/inscriptions/")
    page.get_by_role("link", name="Voir mes semaines dans l'agenda de mon téléphone").click()
    expect(page.get_by_role("heading", name="Mon agenda", level=1)).to_be_visible()
    shots(page, "agenda sans lien")
    page.get_by_role("button", name="Créer mon lien d'agenda").click()
    expect(page.locator(".flash-success")).to_contain_text("Votre lien d'agenda est prêt")
    url = page.get_by_label("Ou copiez ce lien").input_value()
    expect(page.get_by_role("link", name="Ajouter à mon agenda")).to_have_attribute("href", "webcal://" + url.split("://")[1])
    shots(page, "agenda avec son lien")

    feed = page.request.get(url)
    assert feed.ok and feed.headers["content-type"].startswith("text/calendar")
    text = feed.text().replace("\r\n ", "")  # unfold long ICS lines
    assert "SUMMARY:Emma — ALSH Les Cigales" in text and "Stade municipal" in text and "montée à" in text

    page.get_by_role("button", name="Créer un nouveau lien").click()
    expect(page.locator(".flash-success")).to_contain_text("l'ancien ne fonctionne plus")
    assert page.get_by_label("Ou copiez ce lien").input_value() != url
    assert page.request.get(url).status == 404
    shots(page, "agenda lien renouvele")
