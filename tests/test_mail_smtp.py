"""The whole household-file lifecycle with mails delivered to a real SMTP server on loopback
(aiosmtpd) and read back from it: sign-up → confirm → fill → submit → incomplete → fix → validate."""
from __future__ import annotations

import email
import io
import re
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller

from tests.dossier_helpers import JPEG, PDF, PNG


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def take(self, to: str, subject_part: str) -> tuple[str, str]:
        """(text, html) of the one message to `to` whose subject contains `subject_part`."""
        found = [m for m in self.messages if to in m["X-Envelope-To"] and subject_part in str(m["Subject"])]
        assert len(found) == 1, [(m["X-Envelope-To"], str(m["Subject"])) for m in self.messages]
        message = found[0]
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        return text, html


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp(app, monkeypatch):
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", port)
    try:
        yield inbox
    finally:
        controller.stop()


def _deliver(app):
    from app.jobs.worker import run_pending

    run_pending(app)


def _ok(response, *expected):
    assert response.status_code in (200, 302), response.get_data(as_text=True)[-2000:]
    return response


def test_whole_lifecycle_with_real_smtp(app, factory, smtp):
    from app.models import Child, MailLog, db

    address = "ines.moreau@example.test"
    parent = app.test_client()

    # 1. Sign-up; the confirmation mail leaves through a job and arrives over SMTP.
    _ok(parent.post("/compte/creer", data={"first_name": "Inès", "last_name": "Moreau", "email": address,
                                             "password": "Lavande-83-Var", "conf_password": "Lavande-83-Var"}))
    _deliver(app)
    text, html = smtp.take(address, "Confirmez la création")
    assert "Bonjour Inès" in text and "Activer mon compte" in html
    confirm = re.search(r"http://portail\.test(/compte/confirmer/\S+)", text).group(1)
    assert parent.get(confirm).status_code == 302
    home = parent.get("/famille/").get_data(as_text=True)
    assert "Brouillon" in home and "Inscrire mon enfant" in home and "disabled" in home

    # 2. Fill the file through the parent's forms.
    _ok(parent.post("/famille/dossier/foyer", data={
        "email": address, "phone": "06 11 22 33 44", "address_line": "5 chemin des Oliviers", "postcode": "83340",
        "city": "Le Luc", "caf_number": "1234567", "declared_quotient": "910"}))
    with app.app_context():
        from app.models import Guardian

        guardian_id = db.session.query(Guardian.id).scalar()
    _ok(parent.post(f"/famille/dossier/responsables/{guardian_id}", data={
        "first_name": "Inès", "last_name": "Moreau", "relationship_label": "Mère", "phone": "0611223344"}))
    response = _ok(parent.post("/famille/dossier/enfants/ajouter", data={
        "first_name": "Jade", "last_name": "Moreau", "birth_date": "2017-05-04", "sex": "F",
        "school": "École Paul Cézanne", "school_level": "CM1", "image_rights": "on"}))
    health_url = response.headers["Location"]
    child_id = int(re.search(r"/enfants/(\d+)/sante", health_url).group(1))
    _ok(parent.post(health_url, data={"allergies": "", "doctor_name": "Dr Lemaire", "doctor_phone": "04 94 00 00 00",
                                      "vaccinations_up_to_date": "on"}))
    _ok(parent.post(f"/famille/dossier/enfants/{child_id}/personnes-autorisees",
                    data={"name": "Mamie Moreau", "phone": "0622334455", "relationship_label": "Grand-mère"}))
    for kind, data, name, extra in [("qf_attestation", PDF, "caf.pdf", {}), ("insurance", JPEG, "assurance.jpg", {}),
                                    ("vaccinations", PNG, "vaccins.png", {"child_id": str(child_id)})]:
        page = parent.post("/famille/dossier/pieces/envoyer", content_type="multipart/form-data",
                           data={"kind": kind, "file": (io.BytesIO(data), name), **extra},
                           follow_redirects=True).get_data(as_text=True)
        assert "Pièce envoyée" in page

    # 3. Submit: "file received".
    assert "Envoyer mon dossier" in parent.get("/famille/").get_data(as_text=True)
    _ok(parent.post("/famille/dossier/envoyer"))
    _deliver(app)
    text, html = smtp.take(address, "bien été reçu")
    assert "72 h ouvrées" in text and "<html" in html

    # 4. Staff mark it incomplete: the parent gets the reasons and a link to fix them.
    agent = factory.staff()
    staff = app.test_client()
    assert staff.post("/login/", data={"username": agent.email, "password": "Motdepasse-solide-42"}).status_code == 302
    with app.app_context():
        from app.models import Household

        household_id = db.session.query(Household.id).filter_by(email=address).scalar()
    queue = staff.get("/revue-dossiers/").get_data(as_text=True)
    assert "Foyer de Inès Moreau" in queue
    _ok(staff.post(f"/revue-dossiers/dossier/{household_id}/incomplet",
                   data={"reasons": ["insurance", "other"], "note": "L'attestation d'assurance date de 2023."}))
    _deliver(app)
    text, html = smtp.take(address, "incomplet")
    assert "Attestation d'assurance manquante, illisible ou expirée" in text
    assert "L'attestation d'assurance date de 2023." in text
    assert "http://portail.test/famille/dossier" in text and "Corriger mon dossier" in html
    home = parent.get("/famille/").get_data(as_text=True)
    assert "Incomplet" in home and "Refusé : Attestation d&#39;assurance" in home

    # 5. Fix, resubmit, validate: "vous pouvez maintenant réserver".
    parent.post("/famille/dossier/pieces/envoyer", content_type="multipart/form-data",
                data={"kind": "insurance", "file": (io.BytesIO(PDF), "assurance-2026.pdf")})
    _ok(parent.post("/famille/dossier/envoyer"))
    _ok(staff.post(f"/revue-dossiers/dossier/{household_id}/valider", data={"quotient": "905"}))
    _deliver(app)
    text, html = smtp.take(address, "validé")
    assert "Vous pouvez maintenant réserver" in text and "905 €" in text
    assert "http://portail.test/famille/inscrire" in text and "Inscrire mon enfant" in html
    home = parent.get("/famille/").get_data(as_text=True)
    assert 'href="/famille/inscrire"' in home and "Validé" in home
    with app.app_context():
        assert db.session.get(Child, child_id).household_links[0].status == "validated"
        statuses = {m.kind: m.status for m in db.session.query(MailLog)}
    assert statuses == {"account_confirmation": "sent", "dossier_received": "sent", "dossier_incomplete": "sent",
                        "dossier_validated": "sent"}
    assert len(smtp.messages) == 5  # received twice (submit, resubmit), and nothing else


def test_password_reset_mail_over_smtp(app, factory, smtp):
    family = factory.household()
    client = app.test_client()
    client.post("/compte/mot-de-passe-oublie", data={"email": family.email})
    _deliver(app)
    text, html = smtp.take(family.email, "Réinitialisation")
    path = re.search(r"http://portail\.test(/compte/nouveau-mot-de-passe/\S+)", text).group(1)
    assert client.post(path, data={"password": "Mistral-gagnant-9", "conf_password": "Mistral-gagnant-9"}
                       ).status_code == 302
    _deliver(app)
    smtp.take(family.email, "a été modifié")


def test_staff_digest_over_smtp(app, factory, smtp, monkeypatch):
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    from app.services.household import dossier
    from tests.dossier_helpers import fill_household, set_status

    paris = ZoneInfo("Europe/Paris")
    family = factory.household(status="draft")
    fill_household(app, family.id)
    set_status(app, family.id, "submitted", submitted_at=datetime(2026, 3, 2, 9, tzinfo=paris).astimezone(timezone.utc))
    monkeypatch.setattr(dossier, "utcnow", lambda: datetime(2026, 3, 10, 9, 1, tzinfo=paris).astimezone(timezone.utc))
    with app.app_context():
        dossier.send_staff_digest_if_due()
        dossier.send_staff_digest_if_due()
    _deliver(app)
    text, html = smtp.take(app.config["STAFF_DIGEST_EMAIL"], "72 h ouvrées")
    assert f"Foyer {family.last_name}" in text and "/revue-dossiers/" in text
