"""Issue 20, staff side: the review page's « Historique » in French words (no raw JSON), French
labels for mail kinds in « Messages envoyés », a favicon on both layouts."""
from __future__ import annotations

import json

from tests.dossier_helpers import fill_household


def _text(response) -> str:
    return response.get_data(as_text=True).replace("&#39;", "'")


def test_changes_read_in_french():
    from app.services.audit_text import changes

    before = json.dumps({"address_line": None, "city": "Le Luc", "no_caf_number": False, "declared_quotient": 650})
    after = json.dumps({"address_line": "3 rue des Écoles", "city": "Le Luc", "no_caf_number": True,
                        "declared_quotient": 820})
    shown = {(c.field, c.before, c.after) for c in changes(before, after)}
    assert shown == {("Adresse", "(vide)", "3 rue des Écoles"), ("Pas de numéro CAF", "non", "oui"),
                     ("QF déclaré", "650", "820")}  # the unchanged city is left out
    created = changes(None, json.dumps({"birth_date": "2018-03-05", "status": "validated"}))
    assert [(c.field, c.before, c.after) for c in created] == [("Date de naissance", None, "5 mars 2018"),
                                                                ("Statut", None, "Validé")]
    removed = changes(json.dumps({"name": "Mamie"}), None)
    assert [(c.field, c.before, c.after) for c in removed] == [("Nom", "Mamie", None)]
    assert changes(None, None) == [] and changes("pas du json", None)[0].before == "pas du json"


def test_review_history_shows_french_before_after_not_json(app, factory, login):
    family = factory.household(status="draft")
    parent = login(app.test_client(), family.email)
    parent.post("/famille/dossier/foyer", data={"address_line": "", "postcode": "83340", "city": "Le Luc",
                                                 "phone": "0611223344", "email": family.email,
                                                 "caf_number": "1234567", "declared_quotient": "700"})
    fill_household(app, family.id)
    staff = login(app.test_client(), factory.staff().email)
    page = _text(staff.get(f"/revue-dossiers/dossier/{family.id}"))
    history = page.split("<h2>Historique</h2>")[1]
    assert "Pièce envoyée" in history and "Type de pièce" in history
    assert '{"' not in history and "&#34;" not in history and "&quot;" not in history


def test_mail_log_shows_french_kinds(app, factory, login):
    from app.models import db
    from app.services.mail import queue_mail

    with app.app_context():
        queue_mail("basket_expired", "x@example.test", "Votre panier a expiré", "basket_expired",
                   expired_at="hier", weeks=[], booking_url="http://x")
        db.session.commit()
    staff = login(app.test_client(), factory.staff().email)
    listing = _text(staff.get("/staffmaillogview/list/"))
    assert "Panier expiré" in listing and ">basket_expired<" not in listing


def test_favicon_on_both_layouts(app, factory, login, client):
    icon = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
    assert icon in _text(client.get("/login/"))
    staff = login(app.test_client(), factory.staff().email)
    assert icon in _text(staff.get("/revue-dossiers/"))
    served = client.get("/static/favicon.svg")
    assert served.status_code == 200 and b"<svg" in served.data
