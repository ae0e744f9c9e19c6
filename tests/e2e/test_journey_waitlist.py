"""Journey: a full week, on a phone (375 px). The booking page's full week leads to its waiting list;
the parent joins it and sees the rank;
another family's hold lapses unpaid; the sweeper releases it and the place is offered at once to the
parent, with a mail; the mail's link leads to the offer with its deadline; « Payer cette place »
goes through the ordinary sandbox checkout; the week is confirmed in « Mes inscriptions »."""
from __future__ import annotations

import re
import time
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import update

from tests.e2e import helpers
from tests.support import factories


def _lapse_soon(app, household_id: int, seconds: int) -> None:
    """The other family's hold ends in a few seconds (its own expiry job is an hour away: the
    sweeper, every 2 s here, is what releases it, as when a job is lost)."""
    from app.models import Basket, Reservation, db, utcnow

    with app.app_context():
        at = utcnow() + timedelta(seconds=seconds)
        db.session.execute(update(Basket).where(Basket.household_id == household_id).values(expires_at=at))
        db.session.execute(update(Reservation).where(Reservation.household_id == household_id)
                           .values(hold_expires_at=at))
        db.session.commit()


def test_full_week_join_offer_mail_pay_confirmed(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(capacities=(1,), seats=3, name="ALSH Les Cigales")
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Sud", ("Mairie", "Collège", "Lavoir"),
                           period="Vacances de Noël")
    week = catalogue.week_ids[0]
    other = factory.household(last_name="Durand", children=[("Max", 8)])
    from app.services.booking import basket

    with app.app_context():
        basket.add_line(other.id, other.child_ids[0], week, {"mode": "onsite"})
    family = factory.household(email="nadia.benali@exemple.test", last_name="Benali", children=[("Inès", 7)])

    page = new_page()
    helpers.login(page, server.url, family.email)
    # The booking page: the full week says so and leads to its waiting list.
    page.goto(f"{server.url}/famille/inscrire/{family.child_ids[0]}/periode/{catalogue.period_id}")
    card = page.locator(f"fieldset.week[data-week='{week}']")
    expect(card).to_contain_text("Cette semaine est complète")
    shots(page, "semaine complete a l inscription")
    card.get_by_role("link", name="M'inscrire sur la liste d'attente").click()
    expect(page).to_have_url(re.compile(rf"/famille/liste-attente/\?enfant={family.child_ids[0]}&semaine={week}#wait-"))
    form = page.locator(f"form.join[data-week='{week}']")
    expect(form).to_have_class(re.compile(r"\bfocus\b"))
    expect(form).to_contain_text("Semaine complète")
    shots(page, "semaine complete")
    form.locator("select").select_option("onsite")
    form.get_by_role("button", name="M'inscrire sur la liste d'attente").click()
    expect(page.locator(".flash-success")).to_contain_text("1ʳᵉ sur la liste")
    expect(page.locator(".rank")).to_have_text("1ʳᵉ sur la liste")
    shots(page, "inscrite sur la liste")

    # Elsewhere, the other family does not pay: its hold lapses and the sweeper releases it.
    _lapse_soon(app, other.id, 3)
    deadline = time.monotonic() + 40
    mails = []
    while time.monotonic() < deadline and not mails:
        mails = helpers.mails_to(app, family.email, "waitlist_offer")
        time.sleep(0.5)  # waiting for the sweeper of the live server, not measuring anything
    assert mails, "no offer mail within 40 s"
    body = mails[0][2]
    assert "Inès" in body and "ALSH Les Cigales" in body
    link = re.search(r"https?://\S+/famille/liste-attente/\d+", body).group(0)

    # The mail's link: the offer, its deadline, one click to pay.
    page.goto(link)
    offer = page.locator("section.offer")
    expect(offer).to_contain_text("Une place pour Inès")
    expect(offer.locator(".deadline")).to_contain_text(re.compile(r"\d{4} à \d{2}:\d{2}"))
    shots(page, "place proposee")
    page.goto(f"{server.url}/famille/")
    expect(page.locator(".waitlist-block")).to_contain_text("Une place vous est proposée pour Inès")
    shots(page, "accueil avec la place proposee")
    page.get_by_role("button", name="Payer la place de Inès").click()
    expect(page).to_have_url(re.compile(r"/payments/sandbox/"))
    page.get_by_role("button", name=re.compile(r"^Payer ")).click()
    expect(page.locator("#payment-confirmed")).to_contain_text("Vos inscriptions sont confirmées")
    shots(page, "paiement confirme")

    page.goto(f"{server.url}/famille/inscriptions")
    expect(page.locator("section.reservation")).to_contain_text("Inès — Semaine du")
    expect(page.locator("section.reservation")).to_contain_text("Confirmée")
    page.goto(f"{server.url}/famille/liste-attente")
    expect(page.locator("[data-status='accepted']")).to_contain_text("inscription confirmée")
    shots(page, "liste d attente acceptee")
    statuses = {status for _, _, status, _, _ in helpers.reservations_of(app, family.id)}
    assert statuses == {"confirmed"}
