"""Journey: a period opened by wishes, on a phone (375 px). Two families rank their weeks (the page
says the time of submission does not matter); the window closes; staff run a dry run and publish on
their screen; each family reads its explanation (the resident family's points and draw rank, the
other's « complet au tour 1 » and its place on the waiting list) and the given week is paid through
the ordinary sandbox checkout."""
from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from tests.e2e import helpers
from tests.support import factories


def _campaign(app, catalogue) -> None:
    from app.models import Period, db, utcnow
    from app.services.booking import wishes

    with app.app_context():
        period = db.session.get(Period, catalogue.period_id)
        now = utcnow()
        period.opening_mode = "wishes"
        period.wishes_open_at = now + timedelta(days=1)
        period.wishes_close_at = now + timedelta(days=3)
        period.results_at = now + timedelta(days=4)
        db.session.commit()
        wishes.save_rules(period.id, {"resident_points": 10, "resident_communes": "Besse-sur-Issole\nLe Luc",
                                      "working_points": 20}, actor=None)
        period.wishes_open_at = now - timedelta(hours=1)  # the window opens: rules frozen from now on
        db.session.commit()


def _close(app, period_id: int) -> None:
    from app.models import Period, db, utcnow

    with app.app_context():
        db.session.get(Period, period_id).wishes_close_at = utcnow() - timedelta(minutes=1)
        db.session.commit()


def _rank(page, week_id: int, rank: str, transport: str) -> None:
    card = page.locator(f"fieldset.week[data-week='{week_id}']")
    card.locator(f"select[name='rank-{week_id}']").select_option(rank)
    card.locator(f"select[name='transport-{week_id}']").select_option(transport)


def test_wishes_dry_run_publish_explanation_and_pay(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(capacities=(1, 2), seats=3, name="ALSH Les Cigales")
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Sud", ("Mairie", "Collège", "Lavoir"),
                           period="Vacances d'hiver")
    _campaign(app, catalogue)
    week1, week2 = catalogue.week_ids
    resident = factory.household(email="nadia.benali@exemple.test", last_name="Benali", children=[("Inès", 7)])
    outsider = factory.household(email="paul.durand@exemple.test", last_name="Durand", children=[("Max", 8)])
    with app.app_context():
        from app.models import Household, db

        db.session.get(Household, outsider.id).city = "Toulon"
        db.session.commit()

    # The resident family ranks week 1 then week 2 (bus), from « Inscrire ».
    page = new_page()
    helpers.login(page, server.url, resident.email)
    page.goto(f"{server.url}/famille/inscrire/{resident.child_ids[0]}")
    wish_card = page.locator(f"section.wishes-period[data-period='{catalogue.period_id}']")
    expect(wish_card).to_contain_text("sans course")
    shots(page, "periode sur voeux")
    wish_card.get_by_role("link", name="Vœux de Inès pour cette période").click()
    expect(page.locator("#how")).to_contain_text("L'heure de dépôt ne compte pas.")
    shots(page, "page des voeux")
    _rank(page, week1, "1", "onsite")
    _rank(page, week2, "2", f"stop-{catalogue.stop_ids[1]}")
    chosen = page.locator(f"#chosen-{week2}")  # the select is cut off at 375 px: the stop and time in full
    expect(chosen).to_contain_text("arrêt")
    expect(chosen).to_contain_text("montée à")
    assert chosen.evaluate("e => e.getBoundingClientRect().right <= window.innerWidth && e.scrollWidth <= e.clientWidth")
    page.get_by_role("button", name="Enregistrer mes vœux").click()
    expect(page.locator(".flash-success")).to_contain_text("Vœux de Inès enregistrés")
    expect(page.locator(f"select[name='rank-{week2}']")).to_have_value("2")
    shots(page, "voeux enregistres")
    page.goto(f"{server.url}/regles-attribution/{catalogue.period_id}")
    expect(page.locator("#criteria")).to_contain_text("Besse-sur-Issole, Le Luc")
    expect(page.locator("body")).to_contain_text("figées")
    shots(page, "regles d attribution")

    # The other family (Toulon: no point) wants week 1 only.
    other = new_page()
    helpers.login(other, server.url, outsider.email)
    other.goto(f"{server.url}/famille/voeux/")
    other.get_by_role("link", name="Classer les vœux de Max").click()
    _rank(other, week1, "1", "onsite")
    other.get_by_role("button", name="Enregistrer mes vœux").click()
    expect(other.locator(".flash-success")).to_contain_text("Vœux de Max enregistrés")

    # The window closes; staff try the allocation, then publish it.
    _close(app, catalogue.period_id)
    staff = factory.staff("marc.agent@pole-jeunesse.test")
    desk = new_page(viewport={"width": 1280, "height": 800})
    helpers.login(desk, server.url, staff.email)
    desk.goto(f"{server.url}/attribution/")
    desk.get_by_role("link", name=re.compile("Vacances d'hiver")).click()
    desk.fill("#a-value", "Loto du 3 janvier : 7 12 25 33 41")
    desk.get_by_role("button", name="Faire un essai (rien n'est enregistré)").click()
    expect(desk.locator("#dry-run")).to_contain_text("1 famille sans aucune place")
    shots(desk, "agent essai de l attribution", phone_layout=False)
    desk.locator("input[name=confirm]").check()
    desk.get_by_role("button", name="Publier l'attribution").click()
    expect(desk.locator("#published")).to_contain_text("2 semaines attribuées")
    shots(desk, "agent attribution publiee", phone_layout=False)

    # The resident family: its mails, its explanation, and the given week paid.
    kinds = [kind for kind, _subject, _body in helpers.mails_to(app, resident.email)]
    assert kinds.count("allocation_offer") == 2 and "allocation_result" in kinds
    page.goto(f"{server.url}/famille/attribution/{catalogue.period_id}")
    expect(page.locator("#why")).to_contain_text("10 points")
    expect(page.locator("#why")).to_contain_text("sur 2")
    expect(page.locator(".given[data-status='offered']")).to_have_count(2)
    shots(page, "resultat famille prioritaire")
    page.get_by_role("button", name=re.compile(r"^Payer Semaine du .* pour Inès")).first.click()
    expect(page).to_have_url(re.compile(r"/payments/sandbox/"))
    page.get_by_role("button", name=re.compile(r"^Payer ")).click()
    expect(page.locator("#payment-confirmed")).to_contain_text("Vos inscriptions sont confirmées")
    page.goto(f"{server.url}/famille/attribution/{catalogue.period_id}")
    expect(page.locator(".given[data-status='accepted']")).to_have_count(1)
    expect(page.locator(".given[data-status='accepted']")).to_contain_text("Payée : inscription confirmée")
    shots(page, "semaine attribuee payee")
    statuses = sorted(status for _, _, status, _, _ in helpers.reservations_of(app, resident.id))
    assert "confirmed" in statuses

    # The other family: why not, and where it stands on the waiting list.
    other.goto(f"{server.url}/famille/attribution/{catalogue.period_id}")
    refused = other.locator(".refused")
    expect(refused).to_contain_text("Complet au tour 1 ; 1ʳᵉ sur la liste d'attente.")
    expect(other.locator("#given-title + .card")).to_contain_text("Aucune des semaines demandées")
    shots(other, "resultat famille sur liste d attente")
