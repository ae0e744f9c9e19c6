"""Staff's side of the household file: the review queue, validate (with the QF read on the CAF
attestation), bulk validate, mark incomplete with reasons, shared-child links, and the morning
digest of files waiting more than 72 working hours.

Every decision re-reads the file under a row lock, audits in the same transaction, commits, and
queues the parent's mail with it (sent by a job after the commit).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.models import (
    AuditLog,
    Document,
    DocumentKind,
    Household,
    HouseholdChild,
    HouseholdStatus,
    LinkStatus,
    MailLog,
    db,
    utcnow,
)
from app.services import audit
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.household import checklist, quotients
from app.services.household.inputs import Input
from app.services.household.resubmission import _mail
from app.services.household.workdays import PARIS, is_working_day, working_hours_between
from app.services.mail import public_url, queue_mail

DIGEST_THRESHOLD_HOURS = 72
DIGEST_HOUR = 8  # Paris time: the digest goes with the first sweep after this hour on a working day

STATUS_LABELS = {
    HouseholdStatus.DRAFT: "Brouillon : à compléter puis envoyer",
    HouseholdStatus.SUBMITTED: "Envoyé : en cours de vérification par le Pôle Jeunesse",
    HouseholdStatus.VALIDATED: "Validé : vous pouvez réserver",
    HouseholdStatus.INCOMPLETE: "Incomplet : des éléments sont à corriger",
}
LINK_LABELS = {
    LinkStatus.PENDING: "Rattachement à vérifier",
    LinkStatus.VALIDATED: "Rattachement confirmé",
    LinkStatus.REFUSED: "Rattachement refusé",
}

# code -> (French label, document kind it refuses or None)
INCOMPLETE_REASONS: dict[str, tuple[str, str | None]] = {
    "qf_attestation": ("Attestation de quotient familial CAF manquante, illisible ou trop ancienne",
                       DocumentKind.QF_ATTESTATION),
    "insurance": ("Attestation d'assurance manquante, illisible ou expirée", DocumentKind.INSURANCE),
    "vaccinations": ("Pages de vaccination illisibles ou vaccinations obligatoires incomplètes",
                     DocumentKind.VACCINATIONS),
    "custody_judgement": ("Jugement de garde manquant ou illisible", DocumentKind.CUSTODY_JUDGEMENT),
    "caf_number": ("Numéro d'allocataire CAF ou quotient familial déclaré incorrect", None),
    "address": ("Adresse incomplète ou différente de celle des justificatifs", None),
    "guardians": ("Informations sur les responsables légaux à compléter ou corriger", None),
    "children": ("Informations sur les enfants à compléter (école, classe, fiche sanitaire)", None),
    "other": ("Autre motif (voir le message du Pôle Jeunesse)", None),
}


def status_label(household: Household) -> str:
    return _(STATUS_LABELS.get(household.status, household.status))


def _locked_household(household_id: int) -> Household:
    household = db.session.execute(
        select(Household).where(Household.id == household_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if household is None:
        raise NotFound(_("Dossier introuvable."), code="not_found")
    return household


def parse_quotient(household: Household, raw: Any) -> int | None:
    form = Input({"quotient": raw})
    quotient = form.integer("quotient", 0, 100000)
    if quotient is None and "quotient" not in form.errors and not household.no_caf_number:
        form.errors["quotient"] = _("Saisissez le quotient familial lu sur l'attestation CAF.")
    form.check()
    return quotient


def _validate_locked(household: Household, staff, quotient: int | None) -> None:
    if household.status != HouseholdStatus.SUBMITTED:
        raise Conflict(_("Ce dossier n'est pas (ou plus) en attente de vérification : %(status)s.",
                         status=status_label(household)), code="not_submitted")
    missing = checklist.missing(household)
    if missing:
        raise ValidationFailed(_("Ce dossier ne peut pas être validé, il manque : %(items)s.",
                                 items=checklist.summary(missing)), code="incomplete_file",
                               missing=[item.code for item in missing])
    now = utcnow()
    before = {"status": household.status, "quotient": household.quotient}
    household.status = HouseholdStatus.VALIDATED
    household.quotient = quotient
    quotients.from_validation(household, quotient, staff)  # dated, sourced: prices follow its dates
    household.validated_at = now
    household.validated_by_id = getattr(staff, "id", None)
    household.incomplete_reasons = None
    household.incomplete_note = None
    audit.record("household.validated", "household", household.id, actor=staff, household_id=household.id,
                 before=before, after={"status": household.status, "quotient": quotient})
    for link in household.child_links:
        if link.status == LinkStatus.PENDING and not link.shared_request:
            link.status = LinkStatus.VALIDATED
            link.validated_at = now
            audit.record("child_link.validated", "household_child", link.id, actor=staff,
                         household_id=household.id, before={"status": LinkStatus.PENDING},
                         after={"status": LinkStatus.VALIDATED, "child_id": link.child_id})
    accepted = []
    for document in _latest_documents(household).values():
        if document.status == "pending":
            document.status = "accepted"
            accepted.append(document.id)
    if accepted:
        audit.record("document.accepted", "household", household.id, actor=staff, household_id=household.id,
                     after={"document_ids": accepted})
    _mail(household, "dossier_validated", _("Votre dossier famille est validé : vous pouvez réserver"),
          "dossier_validated", booking_url=public_url("/famille/inscrire"))


def validate(household_id: int, staff, quotient_raw: Any) -> Household:
    """Staff validate a submitted file with the QF they read on the CAF attestation (blank = no CAF
    number = top tariff). Its children's plain pending links are validated with it; a shared child's
    link waits for its own confirmation (custody judgement)."""
    household = _locked_household(household_id)
    try:
        quotient = parse_quotient(household, quotient_raw)
        _validate_locked(household, staff, quotient)
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return household


@dataclass
class BulkResult:
    validated: list[int]
    skipped: list[tuple[int, str]]  # (household id, French reason)


def bulk_validate(household_ids: Iterable[int], staff) -> BulkResult:
    """Validate many files at once with their declared QF, re-checking every row on its own:
    a file that changed since the list was shown (incomplete, already done) is skipped with its reason."""
    result = BulkResult([], [])
    for household_id in sorted({int(i) for i in household_ids}):
        try:
            household = _locked_household(household_id)
            quotient = None if household.no_caf_number else household.declared_quotient
            if quotient is None and not household.no_caf_number:
                raise ValidationFailed(_("pas de QF déclaré : validez ce dossier individuellement"))
            _validate_locked(household, staff, quotient)
            db.session.commit()
            result.validated.append(household_id)
        except (ValidationFailed, Conflict, NotFound) as exc:
            db.session.rollback()
            result.skipped.append((household_id, exc.message))
    return result


def _latest_documents(household: Household) -> dict[tuple[str, int | None], Document]:
    latest: dict[tuple[str, int | None], Document] = {}
    for document in sorted(household.documents, key=lambda d: (d.uploaded_at, d.id)):
        if document.kind in DocumentKind.JUSTIFICATIONS:  # a cancellation's, decided in its own queue
            continue
        latest[(document.kind, document.child_id)] = document
    return latest


def reason_labels(codes: Iterable[str]) -> list[str]:
    return [_(INCOMPLETE_REASONS[code][0]) for code in codes if code in INCOMPLETE_REASONS]


def incomplete_reasons(household: Household) -> list[str]:
    try:
        codes = json.loads(household.incomplete_reasons or "[]")
    except ValueError:
        codes = []
    return reason_labels(codes)


def mark_incomplete(household_id: int, staff, reasons: Iterable[str], note: str | None = None) -> Household:
    """Staff say what is wrong: reasons from the list (a document reason refuses that document, so the
    parent's checklist shows it until replaced) plus free text; the parent gets a mail with both."""
    codes = [code for code in dict.fromkeys(reasons or []) if code]
    note = (note or "").strip() or None
    errors = {}
    if not codes:
        errors["reasons"] = _("Choisissez au moins un motif.")
    elif any(code not in INCOMPLETE_REASONS for code in codes):
        errors["reasons"] = _("Motif inconnu.")
    if "other" in codes and not note:
        errors["note"] = _("Précisez le motif « Autre » dans le message.")
    if note and len(note) > 2000:
        errors["note"] = _("2000 caractères au maximum.")
    if errors:
        raise ValidationFailed(_("Indiquez ce qui manque au dossier."), code="invalid", errors=errors)
    household = _locked_household(household_id)
    if household.status != HouseholdStatus.SUBMITTED:
        db.session.rollback()
        raise Conflict(_("Ce dossier n'est pas (ou plus) en attente de vérification : %(status)s.",
                         status=status_label(household)), code="not_submitted")
    before = {"status": household.status}
    latest = _latest_documents(household)
    for code in codes:
        kind = INCOMPLETE_REASONS[code][1]
        if kind is None:
            continue
        reason = _(INCOMPLETE_REASONS[code][0]) + (f" — {note}" if note else "")
        for (doc_kind, _child), document in latest.items():
            if doc_kind == kind and document.status != "refused":
                document.status = "refused"
                document.refusal_reason = reason
                audit.record("document.refused", "document", document.id, actor=staff, household_id=household.id,
                             after={"kind": kind, "reason": reason})
    household.status = HouseholdStatus.INCOMPLETE
    household.incomplete_reasons = json.dumps(codes)
    household.incomplete_note = note
    audit.record("household.incomplete", "household", household.id, actor=staff, household_id=household.id,
                 before=before, after={"status": household.status, "reasons": codes, "note": note})
    _mail(household, "dossier_incomplete", _("Votre dossier famille est incomplet"), "dossier_incomplete",
          reasons=reason_labels(codes), note=note, missing=checklist.missing(household),
          fix_url=public_url("/famille/dossier"))
    db.session.commit()
    return household


def _shared_link(link_id: int) -> HouseholdChild:
    link = db.session.get(HouseholdChild, link_id)
    if link is None:
        raise NotFound(_("Rattachement introuvable."), code="not_found")
    if link.status != LinkStatus.PENDING:
        raise Conflict(_("Ce rattachement a déjà été traité."), code="already_done")
    return link


def confirm_shared_link(link_id: int, staff) -> HouseholdChild:
    """Staff confirm that a child shared with another household belongs to this one too, on sight of
    the custody judgement uploaded by this household."""
    link = _shared_link(link_id)
    judgement = checklist.latest_document(link.household, DocumentKind.CUSTODY_JUDGEMENT)
    if judgement is None or judgement.status == "refused":
        raise ValidationFailed(_("Ce foyer n'a pas fourni de jugement de garde valable : le rattachement ne "
                                 "peut pas être confirmé."), code="no_judgement")
    link.status = LinkStatus.VALIDATED
    link.validated_at = utcnow()
    if judgement.status == "pending":
        judgement.status = "accepted"
    audit.record("child_link.validated", "household_child", link.id, actor=staff, household_id=link.household_id,
                 before={"status": LinkStatus.PENDING},
                 after={"status": LinkStatus.VALIDATED, "child_id": link.child_id, "shared_request": True})
    _mail(link.household, "dossier_child_link", _("Rattachement de %(child)s à votre dossier confirmé",
                                                   child=link.child.first_name),
          "dossier_child_link", child=link.child, confirmed=True, note=None)
    db.session.commit()
    return link


def refuse_shared_link(link_id: int, staff, note: str | None = None) -> HouseholdChild:
    link = _shared_link(link_id)
    link.status = LinkStatus.REFUSED
    audit.record("child_link.refused", "household_child", link.id, actor=staff, household_id=link.household_id,
                 before={"status": LinkStatus.PENDING},
                 after={"status": LinkStatus.REFUSED, "child_id": link.child_id, "note": (note or "").strip() or None})
    _mail(link.household, "dossier_child_link", _("Rattachement de %(child)s à votre dossier refusé",
                                                   child=link.child.first_name),
          "dossier_child_link", child=link.child, confirmed=False, note=(note or "").strip() or None)
    db.session.commit()
    return link

# --- the queue and the digest --------------------------------------------------------------

@dataclass
class QueueEntry:
    household: Household
    waited_hours: float
    overdue: bool
    health_changed: bool
    pending_shared: int
    missing: int  # checklist items still missing: the same rule as the parent's page

    @property
    def waited_label(self) -> str:
        hours = int(self.waited_hours)
        return _("%(hours)d h ouvrées", hours=hours)


def health_changed_since_validation(household: Household) -> bool:
    """A child's health sheet changed after the file was last validated (shown to staff)."""
    if household.validated_at is None:
        return False
    return any(link.child.health_updated_at and link.child.health_updated_at > household.validated_at
               for link in household.child_links)


def review_queue(now: datetime | None = None) -> list[QueueEntry]:
    """Submitted files, the longest waiting first."""
    now = now or utcnow()
    households = db.session.execute(
        select(Household).where(Household.status == HouseholdStatus.SUBMITTED)
        .order_by(Household.submitted_at.asc().nulls_first(), Household.id)
    ).scalars().all()
    entries = []
    for household in households:
        waited = working_hours_between(household.submitted_at or household.created_at, now)
        entries.append(QueueEntry(
            household=household, waited_hours=waited, overdue=waited > DIGEST_THRESHOLD_HOURS,
            health_changed=health_changed_since_validation(household),
            pending_shared=sum(1 for link in household.child_links
                               if link.status == LinkStatus.PENDING and link.shared_request),
            missing=len(checklist.missing(household))))
    return entries


def pending_shared_links() -> list[HouseholdChild]:
    return db.session.execute(
        select(HouseholdChild).where(HouseholdChild.status == LinkStatus.PENDING,
                                     HouseholdChild.shared_request.is_(True))
        .order_by(HouseholdChild.created_at, HouseholdChild.id)
    ).scalars().all()


def recent_health_changes(days: int = 30) -> list[AuditLog]:
    since = utcnow() - timedelta(days=days)
    return db.session.execute(
        select(AuditLog).where(AuditLog.action == "child.health_updated", AuditLog.at >= since)
        .order_by(AuditLog.at.desc()).limit(200)
    ).scalars().all()


def digest_key(day: date) -> str:
    return f"staff-digest-{day.isoformat()}"


def send_staff_digest_if_due(now: datetime | None = None) -> MailLog | None:
    """Once a working day (from 8:00, Paris), mail staff the files waiting more than 72 working hours.
    The sweeper calls this every minute: the day's dedupe key makes every call after the first a no-op."""
    now = now or utcnow()
    local = now.astimezone(PARIS)
    if not is_working_day(local.date()) or local.hour < DIGEST_HOUR:
        return None
    key = digest_key(local.date())
    if db.session.execute(select(func.count()).select_from(MailLog).where(MailLog.dedupe_key == key)).scalar():
        return None
    overdue = [entry for entry in review_queue(now) if entry.overdue]
    if not overdue:
        return None
    to = current_app.config.get("STAFF_DIGEST_EMAIL")
    if not to:
        return None
    mail = queue_mail("staff_digest", to,
                      _("Dossiers en attente depuis plus de 72 h ouvrées : %(count)d", count=len(overdue)),
                      "staff_digest", dedupe_key=key, entries=overdue, day=local.date(),
                      queue_url=public_url("/revue-dossiers/"))
    db.session.commit()
    return mail
