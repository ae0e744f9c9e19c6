"""Journey, on a phone (375 px): a confirmed week is cancelled before the free deadline from « Mes
inscriptions »; the page states what will happen before the parent confirms; the avoir is shown on
« Mes inscriptions », « Accueil » and « Mes avoirs »; the next basket (two weeks) says the credit
will be deducted and states the cancellation rules; the sandbox card pays only the rest; both weeks
are confirmed and the credit is spent."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.credit_helpers import add, book_and_pay, money
from tests.e2e import helpers
from tests.support import factories

EURO = "\u00a0€"


def test_cancel_then_credit_then_next_basket_paid_partly_by_credit(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(capacities=(8, 8), seats=3, name="ALSH Les Cigales")
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Sud", ("Mairie", "Collège", "Lavoir"),
                           period="Vacances de Noël")
    first_week, second_week = catalogue.week_ids
    family = factory.household(email="lucie.martin@exemple.test", last_name="Martin", children=[("Jules", 8)])
    line = book_and_pay(app, family.id, family.child_ids[0], first_week)

    page = new_page()
    helpers.login(page, server.url, family.email)
    page.goto(f"{server.url}/famille/inscriptions")
    reservation = page.locator(f"section.reservation[data-line='{line}']")
    expect(reservation).to_contain_text("Jules — Semaine du")
    shots(page, "mes inscriptions")

    reservation.get_by_role("link", name="Annuler cette semaine").click()
    quote = page.locator(".cancel-quote")
    expect(quote).to_contain_text(re.compile(r"Annulation gratuite jusqu'au \d+(er)? [^ ]+ : un avoir de 45,00"
                                             + EURO + " sera crédité sur votre compte"))
    shots(page, "ce qui se passera")
    page.get_by_role("button", name="Confirmer l'annulation").click()
    expect(page).to_have_url(re.compile(r"/famille/inscriptions"))
    expect(page.locator(".flash-success")).to_contain_text(f"Un avoir de 45,00{EURO} est crédité sur votre compte")
    expect(page.locator(".credit-block")).to_contain_text(f"45,00{EURO}")
    expect(page.locator(f"section.reservation[data-line='{line}']")).to_have_count(0)
    shots(page, "annulee avec avoir")

    page.goto(f"{server.url}/famille/")
    expect(page.locator(".credit-block")).to_contain_text(f"Vous avez un avoir de 45,00{EURO}")
    shots(page, "accueil avec avoir")
    page.locator(".credit-block").get_by_role("link", name="Voir mes avoirs").click()
    expect(page.locator(".credit-lines")).to_contain_text(re.compile(r"avoir n° AV-\d{4}-\d{6}"))
    shots(page, "mes avoirs")

    # The next basket: the same week again and the next one (90 €); the credit pays 45 €.
    add(app, family.id, family.child_ids[0], first_week)
    add(app, family.id, family.child_ids[0], second_week)
    page.goto(f"{server.url}/famille/panier")
    expect(page.locator("#total")).to_have_text(f"90,00{EURO}")
    expect(page.locator(".basket-credit")).to_contain_text(f"reste à payer 45,00{EURO}")
    expect(page.locator(".basket-terms li")).to_have_count(2)
    expect(page.locator(".basket-terms")).to_contain_text("Annulation gratuite jusqu'au")
    shots(page, "panier avec avoir deduit")
    page.get_by_role("button", name="Valider mon panier").click()
    expect(page).to_have_url(re.compile(r"/payments/sandbox/"))
    pay = page.get_by_role("button", name=re.compile(r"^Payer "))
    expect(pay).to_have_text(f"Payer 45,00{EURO} (test)")
    shots(page, "carte paie le reste")
    pay.click()
    expect(page.locator("#payment-confirmed")).to_contain_text("Vos inscriptions sont confirmées")
    shots(page, "paiement confirme")

    page.goto(f"{server.url}/famille/inscriptions")
    expect(page.locator("section.reservation")).to_have_count(2)
    expect(page.locator(".credit-block")).to_have_count(0)  # spent
    shots(page, "deux semaines confirmees")
    statuses = sorted(status for _, _, status, _, _ in helpers.reservations_of(app, family.id))
    assert statuses == ["cancelled", "confirmed", "confirmed"]
    m = money(app, family.id)
    assert m["balance"] == 0 and m["paid"] == 4500 + 4500 and m["confirmed"] == 9000
