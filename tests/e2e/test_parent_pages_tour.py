"""Every other page of the parent area, on a phone: nothing sticks out sideways, every field has its
label, every text is readable (checked by `shots` on each page), and a refused value is explained
right under its own field, tied to it for screen readers (aria-describedby, aria-invalid)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import dossier_helpers
from tests.e2e import helpers
from tests.e2e.conftest import assert_accessible, assert_no_horizontal_overflow
from tests.support import factories


def assert_error_under(page, field_id: str, text: str) -> None:
    """The message is the element right after the field (or its hint) and the field points to it."""
    field = page.locator(f"#{field_id}")
    expect(field).to_have_attribute("aria-invalid", "true")
    error = page.locator(f"#{field_id}-error, #error-{field_id.removeprefix('transport-')}").first
    expect(error).to_contain_text(text)
    error_id = error.get_attribute("id")
    assert error_id in (field.get_attribute("aria-describedby") or "").split(), \
        f"{field_id} must be described by its error {error_id}"
    gap = page.evaluate("""([f, e]) => { const a = document.getElementById(f).getBoundingClientRect(),
        b = document.getElementById(e).getBoundingClientRect(); return b.top - a.bottom; }""", [field_id, error_id])
    assert 0 <= gap < 60, f"the error of {field_id} must sit right under it ({gap}px away)"


def test_parent_pages_fit_a_phone(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(capacities=(10, 10), seats=4, name="ALSH Les Cigales")
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Nord",
                           ("Église Saint-Martin", "Stade municipal", "Gare routière"), period="Vacances de Noël")
    family = factory.household(email="paul.lefebvre@exemple.test", last_name="Lefebvre",
                               children=[("Emma", 9), ("Noé", 6)])
    dossier_helpers.fill_household(app, family.id)
    helpers.validate_household(app, family.id)
    week1, week2 = catalogue.week_ids

    page = new_page()

    # Public pages: sign-up refused with the reasons under each field, password reset.
    page.goto(f"{server.url}/compte/creer")
    page.get_by_label("Adresse e-mail").fill("pas-une-adresse")
    page.locator("#f-password").fill("court")
    page.get_by_role("button", name="Créer mon compte").click()
    assert_error_under(page, "f-email", "Adresse e-mail non valide")
    assert_error_under(page, "f-password", "au moins 10 caractères")
    shots(page, "creer un compte avec erreurs")
    page.goto(f"{server.url}/compte/mot-de-passe-oublie")
    shots(page, "mot de passe oublie")
    with app.app_context():  # the link of the reset mail: choose a new password
        from flask_appbuilder.security.sqla.models import User
        from sqlalchemy import select

        from app.models import db
        from app.services.household.accounts import make_reset_token

        token = make_reset_token(db.session.execute(select(User).where(User.email == family.email)).scalar_one())
    page.goto(f"{server.url}/compte/nouveau-mot-de-passe/{token}")
    expect(page.locator("#f-password, input[type=password]").first).to_be_visible()
    shots(page, "nouveau mot de passe")
    page.goto(f"{server.url}/login/")
    page.fill("#username", family.email)
    page.fill("#password", "mauvais-mot-de-passe-1")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator(".flash")).to_be_visible()
    shots(page, "connexion refusee")

    helpers.login(page, server.url, family.email)

    # Booking: a week ticked without its transport is refused under that week's transport field.
    page.goto(f"{server.url}/famille/inscrire")
    shots(page, "choisir l'enfant")
    helpers.choose_weeks(page, "Emma Lefebvre", "Vacances de Noël", {})
    page.locator(f"#week-{week1}").check()
    page.get_by_role("button", name="Ajouter à mon panier").click()
    assert_error_under(page, f"transport-{week1}", "Choisissez le bus (circuit et arrêt) ou l'accueil sur site")
    expect(page.locator(f"#week-{week1}")).to_be_checked()
    shots(page, "semaine sans transport")
    page.locator(f"#transport-{week1}").select_option(f"stop-{catalogue.stop_ids[2]}")
    helpers.add_to_basket(page, 1)
    page.goto(f"{server.url}/famille/panier")
    page.get_by_role("button", name="Valider mon panier").click()
    page.get_by_role("button", name="Refuser le paiement (test)").click()
    expect(page.get_by_role("heading", name="Paiement non effectué")).to_be_visible()
    shots(page, "paiement refuse")
    page.get_by_role("button", name="Reprendre le paiement").click()
    # QF 820: 60,00 € a week, plus 5,00 € for the bus.
    page.get_by_role("button", name="Payer 65,00\u00a0€ (test)").click()
    expect(page.locator("#payment-confirmed")).to_be_visible()

    # The household file: overview, household form with a refused postcode, guardians, child, health.
    page.goto(f"{server.url}/famille/dossier/")
    shots(page, "dossier complet")
    page.goto(f"{server.url}/famille/dossier/foyer")
    page.get_by_label("Code postal").fill("833")
    page.get_by_role("button", name="Enregistrer").click()
    assert_error_under(page, "f-postcode", "5 chiffres")
    expect(page.get_by_label("Commune")).to_have_value("Le Luc")  # nothing typed is lost
    shots(page, "foyer avec erreur")
    page.goto(f"{server.url}/famille/dossier/responsables")
    shots(page, "responsables")
    emma = family.child_ids[0]
    page.goto(f"{server.url}/famille/dossier/enfants/{emma}")
    page.get_by_label("Nom et prénom").fill("Jeanne Lefebvre")
    page.get_by_label("Téléphone").fill("0611111111")
    page.get_by_label("Lien avec l'enfant").fill("Grand-mère")
    page.get_by_role("button", name="Ajouter cette personne").click()
    expect(page.locator(".flash-success")).to_contain_text("Personne autorisée ajoutée")
    shots(page, "enfant et personnes autorisees")
    page.goto(f"{server.url}/famille/dossier/enfants/{emma}/sante")
    shots(page, "fiche sanitaire")
    page.goto(f"{server.url}/famille/dossier/pieces")
    shots(page, "pieces")

    page.goto(f"{server.url}/famille/panier")
    expect(page.locator("main")).to_contain_text("Votre panier est vide")
    shots(page, "panier vide")
    page.goto(f"{server.url}/famille/inscriptions")
    shots(page, "mes inscriptions")
    page.goto(f"{server.url}/famille/recus")
    shots(page, "mes recus")
    page.goto(f"{server.url}/compte/mot-de-passe")
    expect(page.locator("input[type=password]").first).to_be_visible()
    shots(page, "changer de mot de passe")

    # Another household's receipt, or a page that does not exist: a French page, never data.
    page.goto(f"{server.url}/famille/dossier/enfants/999999")
    expect(page.locator("main")).to_contain_text("Retour à mon dossier")
    shots(page, "enfant introuvable")

    # The checks above can fail: an unlabelled field and pale text on this very page are caught.
    # (Styles are set through the DOM: the page's Content-Security-Policy blocks style attributes.)
    page.evaluate("""() => { const main = document.querySelector('main');
        main.insertAdjacentHTML('beforeend', '<input id="sans-label" name="x"><p id="pale">Pâle</p>');
        document.getElementById('pale').style.color = '#aaa'; }""")
    with pytest.raises(AssertionError) as caught:
        assert_accessible(page, "contre-épreuve")
    assert "field without a label: x" in str(caught.value) and 'contrast' in str(caught.value)
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', "
                  "'<div id=\"trop-large\">trop large</div>'); "
                  "document.getElementById('trop-large').style.width = '600px'")
    with pytest.raises(AssertionError, match="layout breaks at phone width"):
        assert_no_horizontal_overflow(page, "contre-épreuve")
