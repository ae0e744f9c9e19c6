"""Mails: rendered in French (text and HTML), logged, then sent by a job with retries.

`queue_mail` only writes the mail log row and defers the send to after the commit, so a mail is
never sent for a change that was rolled back, and every mail the portal sends is in the log.
A `dedupe_key` makes a mail idempotent: the same key twice (a job run twice) logs and sends once.
"""
from __future__ import annotations

import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, render_template
from rq import Retry
from sqlalchemy.exc import IntegrityError

from app.models import MailLog, db, utcnow

log = logging.getLogger(__name__)

# Jobs are named by dotted path: services never import app.jobs (DESIGN §4).
SEND_MAIL_JOB = "app.jobs.mail.send_mail_job"

MAX_ATTEMPTS = 5


def public_url(path: str) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + "/" + path.lstrip("/")


def queue_mail(kind: str, to: str, subject: str, template: str, *, household_id: int | None = None,
               dedupe_key: str | None = None, **context) -> MailLog:
    """Render `mail/<template>.txt` and `.html`, log the mail and send it after the commit."""
    if dedupe_key:
        existing = db.session.query(MailLog).filter_by(dedupe_key=dedupe_key).one_or_none()
        if existing is not None:
            return existing
    context.setdefault("public_url", public_url)
    mail = MailLog(
        kind=kind,
        to_address=to,
        subject=subject,
        body_text=render_template(f"mail/{template}.txt", **context),
        body_html=render_template(f"mail/{template}.html", **context),
        household_id=household_id,
        dedupe_key=dedupe_key,
        status="queued",
    )
    try:
        with db.session.begin_nested():
            db.session.add(mail)
    except IntegrityError:  # a concurrent job logged the same mail first
        return db.session.query(MailLog).filter_by(dedupe_key=dedupe_key).one()
    from app.services.tasks import defer

    defer(db.session, SEND_MAIL_JOB, mail.id, retry=Retry(max=4, interval=[10, 60, 300, 900]))
    return mail


def deliver(mail_id: int) -> None:
    """Send one logged mail, once. Raises on SMTP failure so that the job is retried."""
    mail = db.session.get(MailLog, mail_id, with_for_update=True)
    if mail is None or mail.status == "sent":
        return
    mail.attempts += 1
    try:
        _transport(mail)
    except Exception as exc:
        mail.error = f"{exc.__class__.__name__}: {exc}"[:1000]
        mail.status = "failed" if mail.attempts >= MAX_ATTEMPTS else "queued"
        db.session.commit()
        raise
    mail.status = "sent"
    mail.sent_at = utcnow()
    mail.error = None
    db.session.commit()


def _transport(mail: MailLog) -> None:
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        log.info("mail (console) to=%s subject=%s\n%s", mail.to_address, mail.subject, mail.body_text)
        return
    msg = EmailMessage()
    msg["Subject"] = mail.subject
    msg["From"] = config["MAIL_DEFAULT_SENDER"]
    msg["To"] = mail.to_address
    msg["Message-ID"] = make_msgid(domain="portail-familles")
    msg.set_content(mail.body_text)
    if mail.body_html:
        msg.add_alternative(mail.body_html, subtype="html")
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=10) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(msg)


def resend_stuck_mails(older_than: timedelta = timedelta(minutes=2)) -> int:
    """Queue again the mails whose job was lost (Redis down when they were logged)."""
    from app.services.tasks import enqueue

    stuck = (
        db.session.query(MailLog.id)
        .filter(MailLog.status == "queued", MailLog.attempts < MAX_ATTEMPTS,
                MailLog.created_at < utcnow() - older_than)
        .order_by(MailLog.id)
        .limit(500)
        .all()
    )
    for (mail_id,) in stuck:
        enqueue(SEND_MAIL_JOB, mail_id, job_id=f"mail-{mail_id}", unique=True,
                retry=Retry(max=3, interval=[10, 60, 300]))
    return len(stuck)
