"""Reminder mails before a proof expires (issue 19): `remind_days` days before (staff's setting per
kind, app.services.household.validity), once per proof, to families with an e-mail address; desk-only
families are on staff's list of expiring proofs instead; and, before a period opens, to the families
whose proof will have lapsed before the period ends. Called by the daily job (app/jobs/privacy.py).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Establishment, MailLog, Period, RequiredFor, db, utcnow
from app.services.household.checklist import document_label  # the label the family knows
from app.services.household.validity import Expiring, expiring, needed_weeks, settings_for
from app.services.household.workdays import PARIS
from app.services.mail import public_url, queue_mail


def send_expiry_reminders(now: datetime | None = None) -> int:
    """Mail each family whose proof expires in `remind_days` days or fewer (and not yet): once per
    proof (the mail's dedupe key). Returns how many mails were queued."""
    today = (now or utcnow()).astimezone(PARIS).date()
    sent = 0
    for entry in expiring(within_days=365, today=today):
        rule = settings_for(entry.document.kind)
        household = entry.household
        if not rule.remind_days or entry.until < today or entry.until > today + timedelta(days=rule.remind_days):
            continue
        if not household.email:
            continue  # a desk-only family: staff see it on their list
        key = f"doc-expiry:{entry.document.id}:{entry.until.isoformat()}"
        if db.session.execute(select(MailLog.id).where(MailLog.dedupe_key == key)).first():
            continue
        queue_mail("document_expiring", household.email,
                          _("Votre pièce « %(label)s » expire bientôt",
                            label=document_label(entry.document.kind, entry.document.child)),
                          "document_expiring", household_id=household.id, dedupe_key=key, household=household,
                          label=document_label(entry.document.kind, entry.document.child),
                          until=entry.until, weeks=[w for w in needed_weeks(household.id, today)
                                                    if w.ends_on > entry.until],
                          upload_url=public_url("/famille/dossier/pieces"))
        sent += 1
    db.session.commit()
    return sent


OPENING_NOTICE_DAYS = 14


def send_opening_reminders(now: datetime | None = None) -> int:
    """A period opens within OPENING_NOTICE_DAYS days: mail each family (with an e-mail) whose latest
    proof of a kind that period requires will have lapsed before the period ends, once per family and
    period, listing the proofs to renew. Returns how many mails were queued."""
    now = now or utcnow()
    today = now.astimezone(PARIS).date()
    periods = db.session.execute(
        select(Period, Establishment.kind).join(Establishment, Establishment.id == Period.establishment_id)
        .where(Period.opens_at > now, Period.opens_at <= now + timedelta(days=OPENING_NOTICE_DAYS))
        .order_by(Period.opens_at)).all()
    if not periods:
        return 0
    proofs = expiring(within_days=400, today=today)
    sent = 0
    for period, establishment_kind in periods:
        by_household: dict[int, list[Expiring]] = {}
        for entry in proofs:
            required_for = settings_for(entry.document.kind).required_for
            if required_for not in (RequiredFor.ALL_KINDS, establishment_kind):
                continue
            if entry.until < period.ends_on and entry.household.email:
                by_household.setdefault(entry.household.id, []).append(entry)
        for household_id, entries in by_household.items():
            household = entries[0].household
            key = f"doc-opening:{period.id}:{household_id}"
            if db.session.execute(select(MailLog.id).where(MailLog.dedupe_key == key)).first():
                continue
            queue_mail("document_before_opening", household.email,
                       _("Avant l'ouverture de « %(period)s » : une pièce à renouveler", period=period.name),
                       "document_before_opening", household_id=household_id, dedupe_key=key, household=household,
                       period=period, proofs=[(document_label(e.document.kind, e.document.child), e.until)
                                              for e in entries],
                       upload_url=public_url("/famille/dossier/pieces"))
            sent += 1
    db.session.commit()
    return sent
