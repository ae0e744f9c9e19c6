"""Token-bearing links (password reset, account confirmation) reach the family's mailbox but never the
mail log that staff read in « Messages envoyés » (DESIGN.md invariant 7): anyone may ask a reset for
admin@…, so a readable link in the log would hand the admin account to any staff member."""
from __future__ import annotations

import re

from tests.test_mail_smtp import smtp  # noqa: F401  (fixture: a real SMTP server on loopback)

MASK = "lien personnel masqué"
RESET_PATH = re.compile(r"http://portail\.test(/compte/nouveau-mot-de-passe/[^\s\"<]+)")
CONFIRM_PATH = re.compile(r"http://portail\.test(/compte/confirmer/[^\s\"<]+)")


def _deliver(app):
    from app.jobs.worker import run_pending

    run_pending(app)


def _log_rows(app, kind):
    from app.models import MailLog, db

    with app.app_context():
        rows = [(m.id, m.status, m.body_text, m.body_html or "", m.error)
                for m in db.session.query(MailLog).filter_by(kind=kind).order_by(MailLog.id)]
    return rows


def _staff_pages(app, factory, login, mail_id) -> str:
    staff = factory.staff()
    client = login(app.test_client(), staff.email)
    listing = client.get("/staffmaillogview/list/")
    shown = client.get(f"/staffmaillogview/show/{mail_id}")
    assert listing.status_code == 200 and shown.status_code == 200
    return listing.get_data(as_text=True) + shown.get_data(as_text=True)


def test_reset_link_is_delivered_but_masked_in_the_log_and_the_staff_screen(app, factory, smtp, login):  # noqa: F811
    admin = factory.admin()
    visitor = app.test_client()
    assert visitor.post("/compte/mot-de-passe-oublie", data={"email": admin.email}).status_code in (200, 302)
    _deliver(app)

    text, html = smtp.take(admin.email, "Réinitialisation")
    path = RESET_PATH.search(text).group(1)
    token = path.rsplit("/", 1)[1]
    assert token in html  # the button and the copy-paste link of the HTML part carry it too

    [(mail_id, status, body_text, body_html, _error)] = _log_rows(app, "password_reset")
    assert status == "sent"
    assert token not in body_text and token not in body_html
    assert "/compte/nouveau-mot-de-passe/" not in body_text + body_html
    assert MASK in body_text and MASK in body_html
    assert "Bonjour Alice" in body_text  # the rest of the mail is logged as sent

    staff_view = _staff_pages(app, factory, login, mail_id)
    assert token not in staff_view and MASK in staff_view

    # The delivered link works: it opens the new-password form of that account.
    assert visitor.get(path).status_code == 200


def test_confirmation_link_is_delivered_but_masked_in_the_log_and_the_staff_screen(app, factory, smtp, login):  # noqa: F811
    address = "lina.morel@example.test"
    visitor = app.test_client()
    visitor.post("/compte/creer", data={"first_name": "Lina", "last_name": "Morel", "email": address,
                                        "password": "Garrigue-83-Var", "conf_password": "Garrigue-83-Var"})
    _deliver(app)

    text, html = smtp.take(address, "Confirmez")
    path = CONFIRM_PATH.search(text).group(1)
    token = path.rsplit("/", 1)[1]
    assert token in html

    [(mail_id, status, body_text, body_html, _error)] = _log_rows(app, "account_confirmation")
    assert status == "sent"
    assert token not in body_text + body_html and "/compte/confirmer/" not in body_text + body_html
    assert MASK in body_text and MASK in body_html

    staff_view = _staff_pages(app, factory, login, mail_id)
    assert token not in staff_view and MASK in staff_view

    assert visitor.get(path).status_code in (200, 302)
    with app.app_context():
        assert app.appbuilder.sm.find_user(email=address) is not None  # the link created the account


def test_the_queued_job_does_not_print_the_link(app, factory):
    """RQ workers log each job's description: it must not spell the link out."""
    from app.services.tasks import get_queue

    family = factory.household()
    app.test_client().post("/compte/mot-de-passe-oublie", data={"email": family.email})
    jobs = get_queue(app).get_jobs()
    assert len(jobs) == 1
    assert "nouveau-mot-de-passe" not in jobs[0].description


def test_embedded_console_mailbox_receives_the_link(app, factory):
    """Without SMTP (the laptop default) the mail goes to the console, and to an in-process mailbox
    that demos and tests read; the log still masks it."""
    from app.services.mail import console_outbox

    family = factory.household()
    app.test_client().post("/compte/mot-de-passe-oublie", data={"email": family.email})
    _deliver(app)
    delivered = [m for m in console_outbox(app) if m.to == family.email and m.kind == "password_reset"]
    assert delivered and RESET_PATH.search(delivered[-1].text) and RESET_PATH.search(delivered[-1].html)
    [(_id, status, body_text, _html, _error)] = _log_rows(app, "password_reset")
    assert status == "sent" and not RESET_PATH.search(body_text)


def test_a_mail_whose_job_was_lost_is_not_sent_without_its_link(app, factory, smtp):  # noqa: F811
    """Redis down when the reset was asked: the link existed only in the lost job. The sweeper must
    not send a mail whose button leads nowhere; the row says why, in French, for staff."""
    from datetime import timedelta

    from app.services import tasks as job_queue
    from app.services.mail import resend_stuck_mails

    family = factory.household()
    app.test_client().post("/compte/mot-de-passe-oublie", data={"email": family.email})
    job_queue.state(app).connection.flushdb()  # the job is lost
    with app.app_context():
        assert resend_stuck_mails(older_than=timedelta(0)) == 1

    _deliver(app)
    assert smtp.messages == []
    [(_id, status, _text, _html, error)] = _log_rows(app, "password_reset")
    assert status == "failed" and "refaire sa demande" in error


def test_declared_secret_is_masked_whatever_the_template(app):
    """Masking is declared (`secret_links`), not guessed from the text: any template, any name."""
    from app.models import db
    from app.services.mail import SECRET_LINK_MASK, queue_mail

    with app.test_request_context():
        mail = queue_mail("password_reset", "x@example.test", "Objet", "password_reset", first_name="X",
                          minutes=60, secret_links={"reset_url": "http://portail.test/secret-abc"})
        assert "secret-abc" not in mail.body_text + mail.body_html
        assert SECRET_LINK_MASK in mail.body_text
        db.session.rollback()
        db.session.remove()
