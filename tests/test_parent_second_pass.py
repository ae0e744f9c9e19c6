"""Issue 20, parent side through HTTP: prices where the week is chosen, the file's next step always
on screen, « Compléter » preselecting its type, real plurals, « déjà inscrit par l'autre foyer », one
sentence for an empty password, the Pôle Jeunesse's contact details, the accessibility statement."""
from __future__ import annotations

import re

from tests.booking_helpers import add
from tests.dossier_helpers import fill_household, mails


def _text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'")


def _weeks_page(client, family, catalog) -> str:
    return _text(client.get(f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}"))


# --- (1) prices on the weeks page ------------------------------------------------------------

def test_weeks_page_shows_this_households_price_with_and_without_bus(app, factory, login):
    catalog = factory.catalog(bus_price_cents=500)  # brackets 0–700: 45 €, 701–1200: 60 €, 1201+: 80 €
    low = factory.household(quotient=650)
    high = factory.household(quotient=1500)
    page = _weeks_page(login(app.test_client(), low.email), low, catalog)
    card = page.split('id="prices"')[1].split("</p>")[0]
    assert "QF 0+" in card and "45,00\u00a0€" in card and "50,00\u00a0€" in card and "5,00\u00a0€ de bus" in card
    assert page.count('class="week-price"') == 2
    page = _weeks_page(login(app.test_client(), high.email), high, catalog)
    card = page.split('id="prices"')[1].split("</p>")[0]
    assert "QF 1201+" in card and "80,00\u00a0€" in card and "85,00\u00a0€" in card


def test_the_price_shown_is_the_price_charged(app, factory, login):
    from app.models import Reservation, db

    catalog = factory.catalog(bus_price_cents=700)
    family = factory.household(quotient=900)
    client = login(app.test_client(), family.email)
    page = _weeks_page(client, family, catalog)
    assert "67,00\u00a0€ avec le bus" in page  # 60 € (701–1200) + 7 € of bus
    week = catalog.week_ids[0]
    client.post(f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}",
                data={"week": str(week), f"transport-{week}": f"stop-{catalog.stop_ids[0]}"})
    with app.app_context():
        line = db.session.query(Reservation).one()
        assert line.price_cents + line.bus_price_cents == 6700


def test_free_bus_says_bus_included_and_no_tariff_shows_no_price(app, factory, login):
    catalog = factory.catalog(bus_price_cents=0)
    bare = factory.catalog(tariffs=())
    family = factory.household()
    client = login(app.test_client(), family.email)
    assert "bus compris" in _weeks_page(client, family, catalog)
    assert 'id="prices"' not in _weeks_page(client, family, bare)


# --- (2) the file's next step -------------------------------------------------------------

def test_documents_page_after_the_last_document_says_send_now_with_the_button(app, factory, login):
    family = factory.household(status="draft")
    fill_household(app, family.id)
    client = login(app.test_client(), family.email)
    page = _text(client.get("/famille/dossier/pieces"))
    step = page.split('id="etape-suivante"')[1].split("</section>")[0]
    assert "Envoyez maintenant votre dossier" in step
    assert 'action="/famille/dossier/envoyer"' in step and "Envoyer mon dossier</button>" in step
    assert 'name="csrf_token"' in step
    client.post("/famille/dossier/envoyer")
    page = _text(client.get("/famille/dossier/pieces"))
    assert "Envoyez maintenant" not in page and "Votre dossier est envoyé" in page


def test_documents_page_of_an_unfinished_file_points_at_the_first_missing_item(app, factory, login):
    family = factory.household(status="draft")
    client = login(app.test_client(), family.email)
    page = _text(client.get("/famille/dossier/pieces"))
    step = page.split('id="etape-suivante"')[1].split("</p>")[0]
    assert re.search(r"Encore \d+ éléments à fournir", step) and "Envoyez maintenant" not in page


def test_complete_preselects_the_document_type_and_names_match(app, factory, login):
    from app.services.household.checklist import DOCUMENT_LABELS

    family = factory.household(status="draft")
    child = family.child_ids[0]
    client = login(app.test_client(), family.email)
    home = _text(client.get("/famille/dossier/"))
    assert f'href="/famille/dossier/pieces?kind=vaccinations&amp;child_id={child}#envoyer"' in home
    assert 'href="/famille/dossier/pieces?kind=insurance#envoyer"' in home
    page = _text(client.get(f"/famille/dossier/pieces?kind=vaccinations&child_id={child}"))
    assert '<option value="vaccinations" selected>' in page
    assert f'<option value="{child}" selected>' in page
    # The checklist and the type list name each document the same way (the type list offers the file's
    # documents; a cancellation's medical certificate is sent from the cancellation page instead).
    from app.models import DocumentKind

    for kind in DocumentKind.ALL:
        assert f">{DOCUMENT_LABELS[kind]}</option>" in page
    assert f">{DOCUMENT_LABELS[DocumentKind.MEDICAL_CERTIFICATE]}</option>" not in page


# --- (3) plurals ----------------------------------------------------------------------------

def test_one_week_added_is_singular(app, factory, login):
    catalog = factory.catalog()
    family = factory.household()
    client = login(app.test_client(), family.email)
    week = catalog.week_ids[0]
    response = client.post(f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}",
                           data={"week": str(week), f"transport-{week}": "onsite"}, follow_redirects=True)
    page = _text(response)
    assert "1 semaine ajoutée à votre panier" in page and "(s)" not in page


def test_no_template_or_view_writes_a_parenthesised_plural():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "app"
    offenders = [str(path.relative_to(root)) for pattern in ("templates/**/*.html", "templates/**/*.txt",
                                                             "views/**/*.py")
                 for path in root.glob(pattern) if re.search(r"\w\(s\)", path.read_text(encoding="utf-8"))]
    assert offenders == []


# --- (4) the separated parent -------------------------------------------------------------

def test_week_booked_by_the_other_household_says_so(app, factory, login):
    catalog = factory.catalog()
    family = factory.household()
    other = factory.household()
    child, week = family.child_ids[0], catalog.week_ids[0]
    factory.link_child(other.id, child)
    add(app, other.id, child, week)
    page = _weeks_page(login(app.test_client(), family.email), family, catalog)
    assert "déjà inscrit pour cette semaine par l'autre foyer" in page
    assert other.last_name not in page  # never which household (§3.6)
    # Booked by this household itself: the plain sentence.
    add(app, family.id, child, catalog.week_ids[1])
    page = _weeks_page(login(app.test_client(), family.email), family, catalog)
    assert "Cette semaine est déjà dans votre panier" in page


# --- (5) empty password -------------------------------------------------------------------

def test_an_empty_password_shows_one_sentence(app, client):
    response = client.post("/compte/creer", data={"first_name": "Nina", "last_name": "Durand",
                                                   "email": "nina@example.test", "password": "",
                                                   "conf_password": ""})
    page = _text(response)
    assert response.status_code == 400
    error = re.search(r'class="field-error"[^>]*>([^<]*mot de passe[^<]*)<', page, re.IGNORECASE)
    assert error, page
    assert error.group(1).count(".") == 1 and "au moins une lettre." not in page
    assert mails(app) == []


# --- (6) contact details --------------------------------------------------------------------

def test_contact_details_in_footer_error_pages_and_mails(app, factory, login):
    from app.models import MailLog, db
    from app.services.mail import queue_mail

    app.config.update(POLE_PHONE="04 94 11 22 33", POLE_EMAIL="contact@pole.test", POLE_HOURS="le mardi de 9 h à 12 h")
    try:
        family = factory.household()
        client = login(app.test_client(), family.email)
        home = _text(client.get("/famille/"))
        footer = home.split('<footer class="site-footer">')[1]
        assert 'href="tel:0494112233"' in footer and "contact@pole.test" in footer and "le mardi de 9 h" in footer
        missing = _text(client.get("/famille/nulle-part"))
        assert "04 94 11 22 33" in missing.split("<main")[1].split("</main>")[0]
        with app.app_context():
            queue_mail("test_mail", "x@example.test", "Essai", "test_mail")
            db.session.commit()
            mail = db.session.query(MailLog).order_by(MailLog.id.desc()).first()
            assert "04 94 11 22 33" in mail.body_text and "contact@pole.test" in mail.body_text
            assert "04 94 11 22 33" in mail.body_html
            mail = queue_mail("basket_expired", "x@example.test", "Essai", "basket_expired", expired_at="hier",
                              weeks=[], booking_url="http://x")
            assert mail.body_html.index("04 94 11 22 33") < mail.body_html.index("</body>")
            db.session.rollback()
    finally:
        app.config.update(POLE_PHONE="04 94 00 00 00", POLE_EMAIL="pole-jeunesse@portail-familles.test")


# --- (9) the statement ------------------------------------------------------------------------

def test_accessibility_statement_is_public_and_linked_from_the_footer(app, client):
    page = _text(client.get("/accessibilite/"))
    assert "Déclaration d'accessibilité" in page and "partiellement conforme" in page
    # The number the axe-core check of the browser journeys measured, with its date.
    assert re.search(r'id="axe-result">Problèmes graves ou critiques détectés : <strong>0</strong>', page)
    assert "mesure du 6 décembre 2026" in page
    assert 'href="/accessibilite/"' in _text(client.get("/login/"))
