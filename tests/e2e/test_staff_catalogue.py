"""A staff member logs in and manages the catalogue, in French, in a real browser (CSRF on)."""
from __future__ import annotations

from tests.support import factories


def login(page, base_url, email, password=factories.PASSWORD):
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("input[type=submit], button[type=submit]")


def test_admin_manages_the_catalogue_in_french(live_server_factory, new_page, shots):
    server = live_server_factory()
    admin = factories.Factory(server.app).admin("admin@e2e.test")
    page = new_page()
    page.goto(f"{server.url}/login/")
    assert "Connexion" in page.content()
    shots(page, "login")
    login(page, server.url, admin.email)

    page.goto(f"{server.url}/establishmentview/add")
    page.fill("input[name=name]", "ALSH Les Cigales")
    page.fill("input[name=kind]", "alsh")
    page.fill("input[name=commune]", "Carnoules")
    page.fill("input[name=age_min]", "6")
    page.fill("input[name=age_max]", "11")
    shots(page, "add establishment")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
    assert "Élément ajouté" in page.content()
    page.goto(f"{server.url}/establishmentview/list/")
    assert "ALSH Les Cigales" in page.content()
    shots(page, "establishment list")

    page.goto(f"{server.url}/periodview/add")
    page.select_option("select[name=establishment]", label="ALSH Les Cigales")
    page.fill("input[name=name]", "Vacances de printemps")
    page.fill("input[name=starts_on]", "2027-04-12")
    page.fill("input[name=ends_on]", "2027-04-23")
    page.fill("input[name=opens_at]", "2027-03-01T08:00")
    page.fill("input[name=closes_at]", "2027-04-01T20:00")
    page.fill("input[name=bus_price_cents]", "500")
    shots(page, "add period")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
    errors = page.locator(".has-error, .alert-danger").all_inner_texts()
    assert "Élément ajouté" in page.content(), errors
    page.goto(f"{server.url}/periodview/list/")
    content = page.content()
    assert "Vacances de printemps" in content
    # Typed as Paris time, shown back as Paris time (stored in UTC).
    assert "1 mars 2027 à 08:00" in content
    shots(page, "period list")
