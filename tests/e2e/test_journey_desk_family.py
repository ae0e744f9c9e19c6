"""Issue 19's journey in a real browser: the desk registers a family from its paper file (guardian,
household, child, health sheet, scanned proofs), sends and validates it, and invites the parent; the
parent opens the invitation on a 375 px phone, claims the account with the invited address, and
books and pays a week. Every parent page passes the phone layout and axe-core checks of `shots`."""
from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.e2e import helpers
from tests.support import factories

EMAIL = "nadia.benali@exemple.test"
CLAIM_LINK = re.compile(r"https?://\S+/compte/rejoindre/[A-Za-z0-9_\-]+")


def _invitation_link(app, timeout: float = 15.0) -> str:
    """The link as the parent receives it (the mail log masks it; the console mailbox has it)."""
    from app.services.mail import console_outbox

    deadline = time.monotonic() + timeout
    while True:
        delivered = [m.text for m in list(console_outbox(app)) if m.to == EMAIL and m.kind == "household_invitation"]
        if delivered or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # waiting for the embedded worker's delivery
    assert delivered, "the invitation was not delivered"
    found = CLAIM_LINK.search(delivered[-1])
    assert found, delivered[-1]
    return found.group(0)


def _save(page):
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.locator(".alert-success, .flash-success").first).to_be_visible()


def test_desk_registers_a_paper_file_and_the_parent_claims_it_on_a_phone_and_books(
        live_server_factory, new_page, shots, tmp_path):
    server = live_server_factory()
    app = server.app
    factory = factories.Factory(app)
    catalogue = factory.catalog(capacities=(10, 10))
    helpers.name_catalogue(app, catalogue, "ALSH Les Cigales", "Circuit Nord", ("Église", "Stade", "Gare"))
    agent = factory.staff("agent.guichet@exemple.test")

    # --- 1. the desk types in the paper file ----------------------------------------------------
    desk = new_page(viewport=shots.desktop)
    helpers.login(desk, server.url, agent.email)
    desk.goto(f"{server.url}/dossiers-famille/nouveau")
    for name, value in (("first_name", "Nadia"), ("last_name", "Benali"), ("relationship_label", "Mère"),
                        ("phone", "06 11 22 33 44")):
        desk.locator(f"#f-{name}").fill(value)
    _save(desk)
    household_id = int(re.search(r"/dossiers-famille/(\d+)", desk.url).group(1))
    desk.goto(f"{server.url}/dossiers-famille/{household_id}/foyer")
    for name, value in (("address_line", "2 rue du Moulin"), ("postcode", "83340"), ("city", "Le Luc"),
                        ("caf_number", "1234567"), ("declared_quotient", "540"), ("phone", "0611223344")):
        desk.locator(f"#f-{name}").fill(value)
    _save(desk)
    desk.goto(f"{server.url}/dossiers-famille/{household_id}/enfants/ajouter")
    for name, value in (("first_name", "Yanis"), ("last_name", "Benali"), ("birth_date", "2018-05-04"),
                        ("school", "École du Centre")):
        desk.locator(f"#f-{name}").fill(value)
    desk.locator("#f-sex").select_option("M")
    desk.locator("#f-school_level").select_option("CE2")
    _save(desk)
    child_id = int(desk.locator("#doc-child option").nth(1).get_attribute("value"))
    desk.goto(f"{server.url}/dossiers-famille/{household_id}/enfants/{child_id}/sante")
    desk.locator("#f-doctor_name").fill("Dr Roux")
    desk.locator("#f-doctor_phone").fill("0494000000")
    desk.locator("#f-vaccinations_up_to_date").check()
    _save(desk)
    scans = {"qf_attestation": ("caf.pdf", helpers.pdf_bytes("Attestation CAF")),
             "insurance": ("assurance.pdf", helpers.pdf_bytes("Assurance")),
             "vaccinations": ("vaccins.png", helpers.png_bytes())}
    for kind, (name, data) in scans.items():
        path = tmp_path / name
        path.write_bytes(data)
        desk.locator("#doc-kind").select_option(kind)
        if kind == "vaccinations":
            desk.locator("#doc-child").select_option(str(child_id))
        desk.locator("#doc-file").set_input_files(str(path))
        desk.get_by_role("button", name="Ajouter la pièce").click()
        expect(desk.locator(".alert-success").first).to_contain_text("Pièce ajoutée")
    expect(desk.locator("#checklist li", has_text="✗")).to_have_count(0)  # nothing missing any more
    shots(desk, "guichet dossier papier complet", phone_layout=False)
    desk.get_by_role("button", name="Envoyer en vérification").click()
    desk.locator("#quotient").fill("540")
    desk.get_by_role("button", name="Valider le dossier").click()
    expect(desk.locator(".alert-success").first).to_contain_text("validé")
    desk.goto(f"{server.url}/dossiers-famille/{household_id}")
    desk.locator("#invite-email").fill(EMAIL)
    desk.get_by_role("button", name=re.compile("Inviter")).click()
    expect(desk.locator(".alert-success").first).to_contain_text(f"Invitation envoyée à {EMAIL}")
    shots(desk, "guichet invitation envoyee", phone_layout=False)

    # --- 2. the parent claims the account on a phone ---------------------------------------------
    phone = new_page()
    phone.goto(_invitation_link(app))
    expect(phone.get_by_role("heading", name="Accéder à mon dossier en ligne")).to_be_visible()
    shots(phone, "invitation sur telephone")
    phone.get_by_label("Adresse e-mail").fill("quelquun@exemple.test")
    phone.locator("#f-password").fill(factories.PASSWORD)
    phone.locator("#f-conf_password").fill(factories.PASSWORD)
    phone.get_by_role("button", name="Créer mon accès").click()
    expect(phone.locator("#f-email-error")).to_contain_text("autre adresse")  # only the invited address
    phone.get_by_label("Adresse e-mail").fill(EMAIL)
    phone.locator("#f-password").fill(factories.PASSWORD)
    phone.locator("#f-conf_password").fill(factories.PASSWORD)
    phone.get_by_role("button", name="Créer mon accès").click()
    expect(phone.locator(".flash-success")).to_contain_text("Votre accès est créé")
    shots(phone, "acces cree")

    # The child's authorisations, answered on the phone (radio buttons, one question per fieldset).
    from app.services.household import consents

    with app.app_context():
        consents.save_question({"label": "Mon enfant peut descendre seul à son arrêt de car", "on_bus_list": "on",
                                "establishment_kind": "all", "position": "0"},
                               app.appbuilder.sm.get_user_by_id(agent.id))
    phone.goto(f"{server.url}/famille/dossier/")
    phone.get_by_role("link", name="autorisations").click()
    phone.get_by_label("Non").check()
    shots(phone, "autorisations")
    phone.get_by_role("button", name="Enregistrer les autorisations").click()
    expect(phone.locator(".flash-success")).to_contain_text("Autorisations enregistrées")

    # --- 3. and books a week, paid in the sandbox -------------------------------------------------
    phone.goto(f"{server.url}/famille/inscrire")
    helpers.choose_weeks(phone, "Yanis Benali", "Vacances de Noël", {catalogue.week_ids[0]: "onsite"})
    shots(phone, "semaine choisie")
    helpers.add_to_basket(phone, 1)
    phone.goto(f"{server.url}/famille/panier")
    shots(phone, "panier")
    helpers.pay_in_sandbox(phone)
    shots(phone, "inscription confirmee")
    assert helpers.reservations_of(app, household_id) == [("Yanis", catalogue.week_ids[0], "confirmed", "onsite",
                                                           None)]
    # The family's data rights on the phone: the notice from the footer, then « Mes données ».
    phone.get_by_role("link", name="Données personnelles").click()
    expect(phone.get_by_role("heading", name="Données personnelles", exact=True)).to_be_visible()
    shots(phone, "donnees personnelles")
    phone.get_by_role("link", name="Mes données").click()
    with phone.expect_download() as download:
        phone.get_by_role("link", name="Télécharger mes données (ZIP)").click()
    assert download.value.suggested_filename.startswith(f"donnees-foyer-{household_id}-")
    shots(phone, "mes donnees")
    # The same link cannot be used twice.
    other = new_page()
    other.goto(_invitation_link(app))
    expect(other.locator("main")).to_contain_text("n'est pas valable")
