"""Mails: rendered in French (text and HTML), logged, then sent by a job with retries.

`queue_mail` only writes the mail log row and defers the send to after the commit, so a mail is
never sent for a change that was rolled back, and every mail the portal sends is in the log.
A `dedupe_key` makes a mail idempotent: the same key twice (a job run twice) logs and sends once.

Links that grant access (password reset, account confirmation) are declared as `secret_links`: the
log row, which staff read in « Messages envoyés », is rendered with SECRET_LINK_MASK in their place,
and only the copy handed to the send job carries them (DESIGN.md invariant 7). Anyone may ask a reset
for admin@…: a readable link in the log would give the account to whoever reads the log. Masking is
declared by the caller, never guessed from the text, so a new token mail is safe by declaring it.
"""
from __future__ import annotations

import logging
import smtplib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from importlib import import_module

from flask import current_app, render_template
from rq import Retry
from sqlalchemy.exc import IntegrityError

from app.models import MailLog, db, utcnow
from app.services.contact import pole_contact

log = logging.getLogger(__name__)

# Jobs are named by dotted path: services never import app.jobs (DESIGN §4).
SEND_MAIL_JOB = "app.jobs.mail.send_mail_job"

MAX_ATTEMPTS = 5
SECRET_LINK_MASK = "« lien personnel masqué »"
LOST_SECRET_ERROR = ("Le lien personnel de ce message n'a pas été conservé (file d'attente indisponible) : "
                     "il n'a pas été envoyé ; la famille doit refaire sa demande.")
_OUTBOX = "portail_console_outbox"
# kind → "module.function(id) -> (filename, mime type, bytes)", called when the mail is sent.
ATTACHMENT_BUILDERS = {"invoice": "app.services.payments.documents_pdf.invoice_attachment"}
OUTBOX_SIZE = 200


@dataclass(frozen=True)
class ConsoleMail:
    """A mail "sent" to the console (no MAIL_SERVER): what the family would have received."""

    kind: str
    to: str
    subject: str
    text: str
    html: str
    attachments: tuple = ()  # (filename, mime type, bytes)


def console_outbox(app=None) -> deque:
    """The last mails delivered without SMTP, links included: the laptop's mailbox, for demos and
    tests (the log masks links, so they are read here as from a real inbox). Bounded; in-process."""
    app = app or current_app
    return app.extensions.setdefault(_OUTBOX, deque(maxlen=OUTBOX_SIZE))


def public_url(path: str) -> str:
    return current_app.config["PUBLIC_URL"].rstrip("/") + "/" + path.lstrip("/")


def _body(template: str, ext: str, context: Mapping) -> str:
    """A mail body with the Pôle Jeunesse's contact details under it: every mail that says « contactez
    le Pôle Jeunesse » then says how (one place for all templates, those to come included)."""
    body = render_template(f"mail/{template}.{ext}", **context)
    contact = pole_contact()
    if ext == "txt":
        return f"{body.rstrip()}\n\n-- \n{contact.text()}\n"
    footer = render_template("mail/_contact.html", contact=contact)
    if "</body>" in body:
        return body.replace("</body>", f"{footer}</body>", 1)
    return body + footer


def queue_mail(kind: str, to: str, subject: str, template: str, *, household_id: int | None = None,
               dedupe_key: str | None = None, secret_links: Mapping[str, str] | None = None,
               attachments: Sequence[tuple[str, int]] = (), **context) -> MailLog:
    """Render `mail/<template>.txt` and `.html`, log the mail and send it after the commit.

    `secret_links` are context values that open an account (token links): the family's copy has them,
    the log shows SECRET_LINK_MASK instead, and they travel only inside the send job."""
    secret_links = dict(secret_links or {})
    if secret_links.keys() & context.keys():
        raise ValueError(f"{sorted(secret_links.keys() & context.keys())} given both as secret and plain")
    if dedupe_key:
        existing = db.session.query(MailLog).filter_by(dedupe_key=dedupe_key).one_or_none()
        if existing is not None:
            return existing
    context.setdefault("public_url", public_url)
    masked = {**context, **{name: SECRET_LINK_MASK for name in secret_links}}
    mail = MailLog(
        kind=kind,
        to_address=to,
        subject=subject,
        body_text=_body(template, "txt", masked),
        body_html=_body(template, "html", masked),
        household_id=household_id,
        dedupe_key=dedupe_key,
        status="queued",
        attachments="\n".join(f"{kind}:{ref}" for kind, ref in attachments) or None,
    )
    try:
        with db.session.begin_nested():
            db.session.add(mail)
    except IntegrityError:  # a concurrent job logged the same mail first
        return db.session.query(MailLog).filter_by(dedupe_key=dedupe_key).one()
    from app.services.tasks import defer

    private = {}
    if secret_links:
        full = {**context, **secret_links}
        private["bodies"] = {"text": _body(template, "txt", full), "html": _body(template, "html", full)}
    # An explicit description: RQ workers log it, and by default it would spell out the arguments.
    defer(db.session, SEND_MAIL_JOB, mail.id, retry=Retry(max=4, interval=[10, 60, 300, 900]),
          description=f"send_mail_job({mail.id})", **private)
    return mail


def deliver(mail_id: int, bodies: Mapping[str, str] | None = None) -> None:
    """Send one logged mail, once. Raises on SMTP failure so that the job is retried.

    `bodies` is the family's copy when the log is masked (see `queue_mail`). Without it, a masked
    mail is not sent: its link was lost with its job, and a mail whose button leads nowhere would
    only confuse; the row says so and the family asks again."""
    mail = db.session.get(MailLog, mail_id, with_for_update=True)
    if mail is None or mail.status == "sent":
        return
    if bodies is None and SECRET_LINK_MASK in (mail.body_text or ""):
        mail.status = "failed"
        mail.error = LOST_SECRET_ERROR
        db.session.commit()
        log.warning("mail %s not sent: its personal link was lost with its job", mail_id)
        return
    text = bodies["text"] if bodies else mail.body_text
    html = bodies.get("html") if bodies else mail.body_html
    mail.attempts += 1
    try:
        _transport(mail, text, html)
    except Exception as exc:
        mail.error = f"{exc.__class__.__name__}: {exc}"[:1000]
        mail.status = "failed" if mail.attempts >= MAX_ATTEMPTS else "queued"
        db.session.commit()
        raise
    mail.status = "sent"
    mail.sent_at = utcnow()
    mail.error = None
    db.session.commit()


def _transport(mail: MailLog, text: str, html: str | None) -> None:
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        log.info("mail (console) to=%s subject=%s\n%s", mail.to_address, mail.subject, text)
        console_outbox().append(ConsoleMail(mail.kind, mail.to_address, mail.subject, text, html or "",
                                            tuple(_attachments(mail))))
        return
    msg = EmailMessage()
    msg["Subject"] = mail.subject
    msg["From"] = config["MAIL_DEFAULT_SENDER"]
    msg["To"] = mail.to_address
    msg["Message-ID"] = make_msgid(domain="portail-familles")
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    for filename, mime, data in _attachments(mail):
        maintype, subtype = mime.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=10) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        smtp.send_message(msg)


def _attachments(mail: MailLog) -> list[tuple[str, str, bytes]]:
    """The documents named on the log row, built now from the database (a PDF is not stored twice).
    Builders are named by dotted path: this shared module imports no domain package."""
    files = []
    for item in (mail.attachments or "").splitlines():
        kind, _sep, ref = item.partition(":")
        module, _dot, function = ATTACHMENT_BUILDERS[kind].rpartition(".")
        files.append(getattr(import_module(module), function)(int(ref)))
    return files


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
