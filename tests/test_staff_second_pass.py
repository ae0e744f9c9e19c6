"""Issue 20, staff side: the review page's « Historique » in French words (no raw JSON), French
labels for mail kinds in « Messages envoyés », a favicon on both layouts."""
from __future__ import annotations

import json

from tests.dossier_helpers import fill_household, set_status


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


def _history_text(page: str) -> str:
    import re

    history = page.split("<h2>Historique</h2>")[1]
    text = re.sub(r"<[^>]+>", " ", history)
    return re.sub(r"[\w.+-]+@[\w.-]+", " ", text)  # the actor column's e-mails


def test_every_recorded_audit_action_has_a_french_label():
    import pathlib
    import re

    from app.services.localize import AUDIT_ACTION_LABELS

    root = pathlib.Path(__file__).resolve().parents[1] / "app"
    names = set()
    for source in root.rglob("*.py"):  # the first argument, « "a.b" if … else "a.c" » included
        for first in re.findall(r"audit\.record\(([^,]*),", source.read_text(encoding="utf-8")):
            names |= {name for name in re.findall(r'"([^"{}]+)"', first)}
    assert len(names) > 90
    assert sorted(name for name in names if name not in AUDIT_ACTION_LABELS) == []
    # the f-string actions: catalogue screens, payment/credit/waitlist outcomes
    assert "payment.paid" in names
    for name in ("week.added", "stop.deleted", "payment.expired", "payment.failed", "credit.withdrawal",
                 "credit.refund_regie", "waitlist.offer_lapsed", "waitlist.closed", "reservation.expired"):
        assert name in AUDIT_ACTION_LABELS


def test_booked_and_paid_family_history_has_no_code(app, factory, login):
    import re

    from tests.credit_helpers import book_and_pay

    cat = factory.catalog(capacities=(20, 20, 20), tariffs=((0, None, 4500),))
    family = factory.household(last_name="Histo", children=[("Ana", 8)])
    fill_household(app, family.id)
    set_status(app, family.id, "validated")
    book_and_pay(app, family.id, family.child_ids[0], cat.week_ids[0], cat.stop_ids[0])
    staff = login(app.test_client(), factory.staff().email)
    page = _text(staff.get(f"/revue-dossiers/dossier/{family.id}"))
    text = _history_text(page)
    assert "Panier payé" in text and "Inscription confirmée" in text and "Paiement reçu" in text
    assert re.findall(r"(?<![\w.-])[a-z]+(?:_[a-z]+)+(?![\w.-])", text) == []  # no word_word code
    rows = page.split("<h2>Historique</h2>")[1].split("</table>")[0].split("<tr>")[2:]
    actions = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[2].strip() for row in rows]
    assert len(actions) >= 8 and [a for a in actions if re.fullmatch(r"[a-z_]+\.[a-z_]+", a)] == []
    fields = re.findall(r"<strong>(.*?)</strong>", page.split("<h2>Historique</h2>")[1])
    assert fields and [f for f in fields if not f[:1].isupper()] == []  # every field by its French label
    assert "Statut : En attente → Payé" in re.sub(r"\s+", " ", text)  # a payment's pending, not a document's
    assert "Type de pièce : Attestation d'assurance" in re.sub(r"\s+", " ", text)
    for english in (": bus", ": insurance", ": desk", ": held", ": checkout", ": paid", ": confirmed", ": pending"):
        assert english not in text


def test_every_mail_kind_sent_has_a_french_label():
    import pathlib
    import re

    from app.services.localize import MAIL_KIND_LABELS

    root = pathlib.Path(__file__).resolve().parents[1] / "app"
    kinds: set[str] = set()
    for source in root.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        kinds |= set(re.findall(r"queue_mail\(\s*\"([a-z_]+)\"", text))  # queue_mail("kind", …)
        kinds |= set(re.findall(r"\b_mail\(\s*(?:[\w.]+,\s*)?\"([a-z_]+)\"", text))  # the domains' _mail helpers
        kinds |= set(re.findall(r"\b(?:mail|kind): str = \"([a-z_]+)\"", text))  # default kinds (waitlist offers)
        kinds |= {f"payment_{k}_refunded" for k in re.findall(r"mail_kind=\"([a-z_]+)\"", text)}
    assert {"qf_campaign_reminder", "document_expiring", "dossier_child_link", "waitlist_offer",
            "payment_duplicate_refunded"} <= kinds
    assert sorted(kind for kind in kinds if kind not in MAIL_KIND_LABELS) == []
    # a mail template named like a kind is labelled too
    templates = {p.name.split(".")[0] for p in (root / "templates" / "mail").iterdir() if not p.name.startswith("_")}
    for name in ("document_before_opening", "document_expiring", "privacy_erasure_request", "qf_campaign"):
        assert name in templates and name in MAIL_KIND_LABELS


def test_favicon_on_the_print_pages(app, factory, login):
    icon = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
    cat = factory.catalog(capacities=(10, 10))
    staff = login(app.test_client(), factory.staff().email)
    for path in (f"/listes/appel/imprimer?week_id={cat.week_ids[0]}", f"/listes/bus/imprimer?week_id={cat.week_ids[0]}"):
        page = staff.get(path)
        assert page.status_code == 200 and icon in _text(page), path


def test_history_values_read_per_entity():
    from app.services.audit_text import changes

    def shown(entity, after):
        return [(c.field, c.after) for c in changes(None, json.dumps(after), entity)]

    assert shown("payment", {"status": "pending"}) == [("Statut", "En attente")]
    assert shown("document", {"status": "pending"}) == [("Statut", "À vérifier")]
    assert shown("reservation", {"status": "held"}) == [("Statut", "Dans un panier (non payée)")]
    assert shown("credit_note", {"kind": "grant"}) == [("Origine de l'avoir", "Accordé par le Pôle Jeunesse")]
    assert shown("reservation", {"outcome": "credit"}) == [("Suite donnée", "Avoir")]
    assert shown("waitlist_entry", {"transport_mode": "any"})[0][1].startswith("Bus, ou sur site")
    assert shown("attendance", {"status": "absent", "absence_reason": "justified"}) == [
        ("Statut", "Absent"), ("Motif de l'absence", "Justifiée")]
    assert shown("basket", {"desk": False, "provider": "desk"}) == [("Au guichet", "non"),
                                                                    ("Prestataire de paiement", "Guichet")]
