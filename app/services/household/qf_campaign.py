"""The yearly QF renewal campaign (issue 19): staff start one (a name, a deadline, a few words); every
family with a file that needs a QF proof (not « pas de numéro CAF », not erased, not a draft) is mailed
and, from then on, its checklist shows « Nouvelle attestation de quotient familial (avant le …) » until
it sends a QF proof dated after the campaign's start. Staff follow how many answered.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from flask_babel import gettext as _
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.models import Document, DocumentKind, Household, HouseholdStatus, MailLog, QfCampaign, db, utcnow
from app.services import audit
from app.services.errors import ValidationFailed
from app.services.household.workdays import PARIS
from app.services.mail import public_url, queue_mail

_CACHE = "qf_campaign_current"


def current() -> QfCampaign | None:
    """The latest campaign started (read once per transaction)."""
    if _CACHE not in db.session.info:
        db.session.info[_CACHE] = db.session.execute(
            select(QfCampaign).order_by(QfCampaign.started_at.desc(), QfCampaign.id.desc()).limit(1)
        ).scalar_one_or_none()
    return db.session.info[_CACHE]


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, *_args) -> None:
    session.info.pop(_CACHE, None)


def concerned():
    """The households asked: a file that needs a QF proof, past the draft, not erased."""
    return select(Household).where(Household.erased_at.is_(None), Household.no_caf_number.is_(False),
                                   Household.status != HouseholdStatus.DRAFT).order_by(Household.id)


def start(data: Mapping[str, Any], staff) -> QfCampaign:
    errors: dict[str, str] = {}
    label = (data.get("label") or "").strip()
    if not label or len(label) > 200:
        errors["label"] = _("Donnez un nom à la campagne, par exemple « Quotient familial 2027 ».")
    today = utcnow().astimezone(PARIS).date()
    deadline = None
    try:
        deadline = date.fromisoformat(str(data.get("deadline") or "").strip())
    except ValueError:
        errors["deadline"] = _("Indiquez la date limite au format JJ/MM/AAAA.")
    if deadline is not None and deadline <= today:
        errors["deadline"] = _("La date limite doit être après aujourd'hui.")
    if errors:
        raise ValidationFailed(_("Certaines valeurs ne conviennent pas : corrigez les champs signalés."),
                               code="invalid", errors=errors)
    assert deadline is not None
    campaign = QfCampaign(label=label, deadline=deadline, message=(data.get("message") or "").strip()[:2000] or None,
                          started_at=utcnow(), started_by_id=getattr(staff, "id", None))
    db.session.add(campaign)
    db.session.flush()
    asked = 0
    for household in db.session.execute(concerned()).scalars():
        asked += 1
        if household.email:
            queue_mail("qf_campaign", household.email, _("Votre nouvelle attestation de quotient familial"),
                       "qf_campaign", household_id=household.id, dedupe_key=f"qf-campaign:{campaign.id}:{household.id}",
                       household=household, campaign=campaign, upload_url=public_url(
                           "/famille/dossier/pieces?kind=qf_attestation#envoyer"))
    campaign.households_asked = asked
    audit.record("qf_campaign.started", "qf_campaign", campaign.id, actor=staff,
                 after={"label": label, "deadline": deadline, "households_asked": asked})
    db.session.commit()
    return campaign


def answered(household: Household, campaign: QfCampaign) -> bool:
    return any(d.kind == DocumentKind.QF_ATTESTATION and d.status != "refused" and d.uploaded_at >= campaign.started_at
               for d in household.documents)


@dataclass(frozen=True)
class Progress:
    campaign: QfCampaign
    received: int


def progress() -> list[Progress]:
    """Every campaign, newest first, with how many concerned households sent a proof since its start."""
    result = []
    for campaign in db.session.execute(select(QfCampaign).order_by(QfCampaign.started_at.desc())).scalars():
        received = db.session.execute(
            select(func.count(func.distinct(Document.household_id))).where(
                Document.kind == DocumentKind.QF_ATTESTATION, Document.status != "refused",
                Document.uploaded_at >= campaign.started_at)).scalar_one()
        result.append(Progress(campaign, received))
    return result


REMINDER_DAYS = 7


def send_deadline_reminders(now: datetime | None = None) -> int:
    """A week before the current campaign's deadline, mail once the concerned families (with an
    e-mail) that have not sent their new QF proof yet. Returns how many mails were queued."""
    campaign = current()
    today = (now or utcnow()).astimezone(PARIS).date()
    if campaign is None or not (today <= campaign.deadline <= today + timedelta(days=REMINDER_DAYS)):
        return 0
    sent = 0
    for household in db.session.execute(concerned()).scalars():
        if not household.email or answered(household, campaign):
            continue
        key = f"qf-campaign-reminder:{campaign.id}:{household.id}"
        if db.session.execute(select(MailLog.id).where(MailLog.dedupe_key == key)).first():
            continue
        queue_mail("qf_campaign_reminder", household.email,
                   _("Rappel : votre attestation de quotient familial avant le %(day)s",
                     day=campaign.deadline.strftime("%d/%m/%Y")),
                   "qf_campaign", household_id=household.id, dedupe_key=key, household=household, campaign=campaign,
                   upload_url=public_url("/famille/dossier/pieces?kind=qf_attestation#envoyer"))
        sent += 1
    db.session.commit()
    return sent
