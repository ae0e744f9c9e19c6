"""Journey 1, in a real browser on a phone: a parent creates an account, confirms it from the mail,
fills the household file with two children and their documents, and submits it; staff validate it
with the QF; the parent books two weeks for each child (one by bus from a chosen stop, the other
on site), pays on the sandbox payment page, and sees the confirmation and the receipt.

Fields are found by their label (get_by_label): a field whose label is not tied to it cannot be
filled, so the journey also proves the forms are labelled."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e import helpers
from tests.support import factories

EMAIL = "claire.martin@exemple.test"
PASSWORD = "Cigales-2027-ete"


def exact(text: str):
    """A label, whatever the required-field star that follows it."""
    return re.compile(rf"^{re.escape(text)}(\s*\*)?$")


def test_parent_signs_up_files_books_and_pays(live_server_factory, new_page, shots):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(age_min=3, age_max=11, capacities=(12, 12), seats=8, name="ALSH Les Cigales")
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Nord",
                           ("Église Saint-Martin", "Stade municipal", "Gare routière"), period="Vacances de Noël")
    staff = factory.staff("agnes.agent@pole-jeunesse.test")
    week1, week2 = catalogue.week_ids
    stade = catalogue.stop_ids[1]

    page = new_page()

    # --- 1. sign up, confirm from the mail ----------------------------------------------------
    page.goto(f"{server.url}/")
    expect(page).to_have_url(re.compile(r"/login/"))
    shots(page, "connexion")
    page.get_by_role("link", name="Créer un compte").click()
    page.get_by_label(exact("Prénom")).fill("Claire")
    page.get_by_label(exact("Nom")).fill("Martin")
    page.get_by_label(exact("Adresse e-mail")).fill(EMAIL)
    page.get_by_label(exact("Mot de passe")).fill(PASSWORD)
    page.get_by_label(exact("Confirmez le mot de passe")).fill(PASSWORD)
    shots(page, "creer un compte")
    page.get_by_role("button", name="Créer mon compte").click()
    expect(page.get_by_role("heading", name="Vérifiez votre messagerie")).to_be_visible()
    expect(page.locator("main")).to_contain_text(EMAIL)
    shots(page, "mail envoye")

    page.goto(helpers.confirmation_link(app, EMAIL))
    expect(page).to_have_url(re.compile(r"/famille/$"))
    expect(page.locator(".flash-success")).to_contain_text("Votre compte est activé")
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "draft")
    expect(page.get_by_role("button", name="Envoyer mon dossier")).to_be_disabled()
    expect(page.get_by_role("button", name="Inscrire mon enfant")).to_be_disabled()
    shots(page, "compte active dossier a completer")

    # --- 2. the household file -------------------------------------------------------------
    page.get_by_role("link", name="Voir et modifier mon dossier").click()
    page.get_by_role("link", name="Modifier le foyer").click()
    page.get_by_label(exact("Téléphone du foyer")).fill("06 12 34 56 78")
    page.get_by_label(exact("Numéro et rue")).fill("12 chemin des Oliviers")
    page.get_by_label(exact("Code postal")).fill("83340")
    page.get_by_label(exact("Commune")).fill("Le Luc")
    page.get_by_label(exact("Numéro d'allocataire CAF")).fill("1234567")
    page.get_by_label(exact("Quotient familial (en euros)")).fill("640")
    shots(page, "foyer")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator(".flash-success")).to_contain_text("Informations du foyer enregistrées")

    page.get_by_role("link", name="Gérer les responsables").click()
    page.get_by_role("link", name="Modifier").first.click()
    page.get_by_label(exact("Lien avec les enfants")).fill("Mère")
    page.get_by_label(exact("Téléphone")).fill("0612345678")
    shots(page, "responsable legal")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator(".flash-success")).to_contain_text("Responsable légal enregistré")
    page.get_by_role("link", name="Retour au dossier").click()

    children = [("Léa", 8, "F", "CE2", "Arachides"), ("Hugo", 5, "M", "Grande section", "")]
    for first, age, sex, level, allergies in children:
        page.get_by_role("link", name="Ajouter un enfant").click()
        page.get_by_label(exact("Prénom")).fill(first)
        page.get_by_label(exact("Nom")).fill("Martin")
        page.get_by_label(exact("Date de naissance")).fill(
            factories.birth_date_for_age(age, catalogue.starts_on).isoformat())
        page.get_by_label(exact("Sexe")).select_option(sex)
        page.get_by_label(exact("École")).fill("École Jean Moulin")
        page.get_by_label(exact("Classe")).select_option(level)
        page.get_by_label(re.compile("droit à l'image")).check()
        shots(page, f"ajouter {first}")
        page.get_by_role("button", name="Ajouter l'enfant").click()
        expect(page.get_by_role("heading", name=re.compile(f"Fiche sanitaire de {first}"))).to_be_visible()
        page.get_by_label(re.compile(r"^Allergies")).fill(allergies)
        page.get_by_label(exact("Médecin traitant")).fill("Dr Benoît Roux")
        page.get_by_label(exact("Téléphone du médecin")).fill("0494123456")
        page.get_by_label("Les vaccinations obligatoires sont à jour").check()
        shots(page, f"fiche sanitaire {first}")
        page.get_by_role("button", name="Enregistrer la fiche sanitaire").click()
        expect(page.locator(".flash-success")).to_contain_text(f"Fiche sanitaire de {first} enregistrée")
    shots(page, "dossier avec deux enfants")

    # --- 3. documents, then submit ---------------------------------------------------------
    page.get_by_role("link", name="Voir et envoyer les pièces").click()
    uploads = [
        ("qf_attestation", None, "attestation-caf.pdf", "application/pdf", helpers.pdf_bytes("Attestation CAF")),
        ("insurance", None, "assurance.png", "image/png", helpers.png_bytes()),
        ("vaccinations", "Léa Martin", "vaccins-lea.pdf", "application/pdf", helpers.pdf_bytes("Vaccins Lea")),
        ("vaccinations", "Hugo Martin", "vaccins-hugo.png", "image/png", helpers.png_bytes(rgb=(20, 108, 46))),
    ]
    for kind, child, name, mime, data in uploads:
        page.get_by_label(exact("Type de pièce")).select_option(kind)
        if child:
            page.get_by_label(re.compile("^Enfant concerné")).select_option(label=child)
        page.get_by_label(exact("Fichier")).set_input_files({"name": name, "mimeType": mime, "buffer": data})
        if kind == "insurance":
            shots(page, "envoyer une piece")
        page.get_by_role("button", name="Envoyer", exact=True).click()
        expect(page.locator(".flash-success")).to_contain_text("Pièce envoyée")
        expect(page.get_by_role("link", name=name)).to_be_visible()
    expect(page.locator(".checklist li.todo")).to_have_count(0)
    shots(page, "pieces envoyees")

    page.get_by_role("link", name="Accueil").click()
    submit = page.get_by_role("button", name="Envoyer mon dossier")
    expect(submit).to_be_enabled()
    submit.click()
    expect(page.locator(".flash-success")).to_contain_text("Votre dossier a été envoyé")
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "submitted")
    shots(page, "dossier envoye")
    household_id, status, _ = helpers.household_of(app, EMAIL)
    assert status == "submitted"

    # --- 4. staff validate the file with the QF read on the attestation --------------------
    desk = new_page(viewport=shots.desktop)
    helpers.login(desk, server.url, staff.email)
    desk.goto(f"{server.url}/revue-dossiers/")
    row = desk.locator(f"tr[data-household='{household_id}']")
    expect(row).to_contain_text("Foyer de Claire Martin")
    shots(desk, "agent file des dossiers", phone_layout=False)
    row.get_by_role("link", name="Vérifier").click()
    expect(desk.locator("#checklist li")).not_to_have_count(0)
    expect(desk.locator("#checklist")).not_to_contain_text("manque")
    desk.get_by_label("QF lu sur l'attestation CAF (euros)").fill("620")
    shots(desk, "agent revue du dossier", phone_layout=False)
    desk.get_by_role("button", name="Valider le dossier").click()
    expect(desk.locator(".alert-success").first).to_contain_text("Dossier « Foyer de Claire Martin » validé")
    assert helpers.household_of(app, EMAIL)[1:] == ("validated", 620)
    assert any(kind == "dossier_validated" for kind, *_ in helpers.mails_to(app, EMAIL))

    # --- 5. the parent books: Léa by bus from the stadium, Hugo on site, both weeks ---------
    page.reload()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "validated")
    shots(page, "dossier valide")
    page.get_by_role("link", name="Inscrire mon enfant").click()
    for first, transport in (("Léa", f"stop-{stade}"), ("Hugo", "onsite")):
        page.get_by_role("link", name=f"{first} Martin").click()
        expect(page.get_by_role("heading", name=f"Inscrire {first} Martin")).to_be_visible()
        shots(page, f"accueils de {first}")
        page.get_by_role("link", name=re.compile("^Vacances")).click()
        for week_id in (week1, week2):
            page.locator(f"#week-{week_id}").check()
            page.locator(f"#transport-{week_id}").select_option(transport)
        shots(page, f"semaines et transport de {first}")
        page.get_by_role("button", name="Ajouter à mon panier").click()
        expect(page.locator(".flash-success")).to_contain_text("2 semaines ajoutées à votre panier")
    shots(page, "apres ajout au panier")

    page.get_by_role("link", name="Voir mon panier et payer").click()
    expect(page.locator("tr.line")).to_have_count(4)
    expect(page.locator("#countdown")).to_contain_text(re.compile(r"Temps restant\s:\s\d+\smin"))
    basket_text = page.locator("main").inner_text()
    assert basket_text.count("arrêt Stade municipal") == 2 and basket_text.count("Accueil sur site") == 2
    # QF 620 → 45,00 € a week; the bus adds 5,00 € a week: 2 × 50 + 2 × 45.
    expect(page.locator("#total")).to_have_text("190,00\u00a0€")
    shots(page, "panier")
    page.get_by_role("button", name="Valider mon panier").click()

    # --- 6. the sandbox payment page, the confirmation and the receipt -------------------
    expect(page).to_have_url(re.compile(r"/payments/sandbox/"))
    expect(page.get_by_role("heading", name="Paiement de test")).to_be_visible()
    shots(page, "page de paiement de test")
    page.get_by_role("button", name=re.compile(r"^Payer 190,00")).click()
    expect(page.locator("#payment-confirmed")).to_contain_text("Vos inscriptions sont confirmées")
    shots(page, "paiement confirme")
    assert sorted(helpers.reservations_of(app, household_id)) == sorted([
        ("Léa", week1, "confirmed", "bus", "Stade municipal"), ("Léa", week2, "confirmed", "bus", "Stade municipal"),
        ("Hugo", week1, "confirmed", "onsite", None), ("Hugo", week2, "confirmed", "onsite", None)])
    assert any(kind == "payment_confirmation" for kind, *_ in helpers.mails_to(app, EMAIL))

    # The invoice replaces the receipt (issue 16; tests/e2e/test_journey_invoices.py downloads it).
    expect(page.locator("#invoice-download")).to_contain_text("Télécharger ma facture FA-")
    page.get_by_role("link", name="Mes inscriptions").first.click()
    expect(page.locator("section.reservation")).to_have_count(4)
    shots(page, "mes inscriptions")
    page.locator("a.receipt").first.click()
    receipt = page.locator("#receipt")
    expect(receipt).to_contain_text("Reçu de paiement")
    expect(receipt.locator("tbody tr")).to_have_count(4)
    expect(receipt).to_contain_text("190,00\u00a0€")
    expect(receipt).to_contain_text("arrêt Stade municipal")
    expect(page.locator("#receipt-invoice")).to_contain_text("facture FA-")
    shots(page, "recu")
