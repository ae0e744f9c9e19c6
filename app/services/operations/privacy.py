"""The family's data rights (GDPR, issue 19): export, erasure on request or after the retention period.

* **Export** (`export_zip`): everything the portal holds on a household — its file (household,
  guardians, children with their health sheet and authorised people, QF records), its bookings,
  wishes and waiting-list entries, payments, invoices, credit notes and the mails it was sent — as
  ``foyer.json``, plus every proof document it uploaded under ``documents/``.
* **Erasure** (`erase`): refused, with the reason, while the family has a live booking (a week not
  over yet, a place held, an offer open), money in flight (a payment started, a refund or a régie
  transfer not made) or a credit balance, or a late-cancellation request staff have not decided.
  Otherwise personal data go: guardians, documents (rows and files), QF records, invitations, wishes,
  waiting-list entries, the mails' copies, the login, the personal values in the audit trail; a child
  shared with another household only loses this household's link, any other child keeps its row,
  emptied (« Enfant effacé »), because past reservations and attendance (CAF statistics) point at it.
  What the books must keep (public accounting: invoices, payments, refunds and credit notes, ten
  years) stays, and invoices keep the payer's name and address as they were printed — a legal
  document is not rewritten (GDPR art. 17(3)(b)). The household row stays, emptied, with
  `erased_at` set, only because those rows point at it.
* **Retention** (`due_for_retention`, `apply_retention`): a household whose last activity is older
  than HOUSEHOLD_RETENTION_YEARS (default 3) is erased by the daily retention job
  (app/jobs/privacy.py); those that cannot be are listed with their reason on staff's screen.

Lives in operations because the refusal reads booking and payments rules (domain order).
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import delete, func, or_, select, update

from app.models import (
    AuditLog,
    Basket,
    CalendarFeed,
    CancellationRequest,
    Child,
    ChildConsent,
    CreditNote,
    CreditUse,
    Document,
    Household,
    HouseholdChild,
    HouseholdInvitation,
    HouseholdStatus,
    Invoice,
    MailLog,
    Payment,
    PaymentStatus,
    QuotientRecord,
    Refund,
    RegieRefund,
    RegieRefundStatus,
    Reservation,
    ReservationStatus,
    WaitlistEntry,
    WaitlistStatus,
    Week,
    Wish,
    db,
    utcnow,
)
from app.services import audit
from app.services.errors import Conflict, NotFound
from app.services.household import documents as document_service
from app.services.household.quotients import paris_today
from app.services.household.staff_edit import locked_household
from app.services.payments import credits

DEFAULT_RETENTION_YEARS = 3
ERASED_LABEL = "compte effacé"


def retention_years() -> int:
    try:
        years = int(current_app.config.get("HOUSEHOLD_RETENTION_YEARS", DEFAULT_RETENTION_YEARS))
    except (TypeError, ValueError):
        years = DEFAULT_RETENTION_YEARS
    return max(1, years)


def _iso(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _row(obj, fields: list[str]) -> dict:
    return {field: _iso(getattr(obj, field)) for field in fields}


def _household(household_id: int) -> Household:
    household = db.session.get(Household, household_id)
    if household is None or household.erased_at is not None:
        raise NotFound(_("Dossier introuvable."), code="not_found")
    return household


# --- export ----------------------------------------------------------------------------------

HOUSEHOLD_FIELDS = ["id", "name", "status", "email", "phone", "address_line", "postcode", "city", "caf_number",
                    "no_caf_number", "benefit_scheme", "declared_quotient", "quotient", "separated_parents",
                    "submitted_at", "validated_at", "created_at", "updated_at"]
GUARDIAN_FIELDS = ["first_name", "last_name", "relationship_label", "phone", "email", "employer"]
CHILD_FIELDS = ["id", "first_name", "last_name", "birth_date", "sex", "school", "school_level", "allergies", "diet",
                "pai", "pai_details", "medical_notes", "doctor_name", "doctor_phone", "vaccinations_up_to_date",
                "image_rights", "health_updated_at"]


def export_data(household_id: int) -> dict:
    """The household's data as one JSON-ready dict (what `export_zip` writes as foyer.json)."""
    household = _household(household_id)
    hid = household.id
    children = []
    for link in household.child_links:
        child = _row(link.child, CHILD_FIELDS)
        child["rattachement"] = {"statut": link.status, "depuis": _iso(link.created_at)}
        child["personnes_autorisees"] = [_row(p, ["name", "phone", "relationship_label"]) for p in link.pickups]
        children.append(child)

    def rows(model, *where, order=None):
        return db.session.execute(select(model).where(*where).order_by(order or model.id)).scalars().all()

    reservations = [
        {"enfant": f"{r.child.first_name} {r.child.last_name}", "semaine": r.week.label,
         "du": _iso(r.week.starts_on), "au": _iso(r.week.ends_on), "statut": r.status,
         "transport": r.transport_mode, "prix_centimes": r.price_cents, "bus_centimes": r.bus_price_cents,
         "creee_le": _iso(r.created_at)}
        for r in rows(Reservation, Reservation.household_id == hid)]
    return {
        "format": "portail-familles/export-foyer/1",
        "exporte_le": utcnow().isoformat(),
        "foyer": _row(household, HOUSEHOLD_FIELDS),
        "responsables_legaux": [_row(g, GUARDIAN_FIELDS) for g in household.guardians],
        "enfants": children,
        "quotients_familiaux": [_row(q, ["value", "source", "valid_from", "valid_to", "note", "created_at"])
                                for q in rows(QuotientRecord, QuotientRecord.household_id == hid)],
        "pieces": [{**_row(d, ["id", "kind", "original_name", "content_type", "size_bytes", "status",
                               "refusal_reason", "uploaded_at", "child_id"]),
                    "fichier": _document_path(d)} for d in household.documents],
        "inscriptions": reservations,
        "autorisations": [{"enfant_id": c.child_id, "question": c.question.label, "reponse": c.granted,
                           "date": _iso(c.answered_at)} for c in rows(ChildConsent, ChildConsent.household_id == hid)],
        "voeux": [_row(w, ["period_id", "child_id", "week_id", "rank"]) for w in rows(Wish, Wish.household_id == hid)],
        "liste_attente": [_row(e, ["child_id", "week_id", "status", "joined_at", "ended_at"])
                          for e in rows(WaitlistEntry, WaitlistEntry.household_id == hid)],
        "paiements": [_row(p, ["id", "provider", "method", "status", "amount_cents", "refunded_cents", "created_at",
                               "paid_at"]) for p in rows(Payment, Payment.household_id == hid)],
        "factures": [_row(i, ["number", "issued_at", "payer_name", "payer_address", "total_cents", "card_cents",
                              "credit_cents", "payment_method"]) for i in rows(Invoice, Invoice.household_id == hid)],
        "avoirs": [_row(n, ["number", "kind", "amount_cents", "reason", "created_at"])
                   for n in rows(CreditNote, CreditNote.household_id == hid)],
        "utilisations_avoirs": [_row(u, ["kind", "amount_cents", "reason", "created_at"])
                                for u in rows(CreditUse, CreditUse.household_id == hid)],
        "demandes_annulation": [_row(c, ["reservation_id", "reason", "status", "created_at", "decided_at",
                                         "decision_note"])
                                for c in rows(CancellationRequest, CancellationRequest.household_id == hid)],
        "courriels": [_row(m, ["created_at", "to_address", "subject", "status"])
                      for m in rows(MailLog, MailLog.household_id == hid)],
    }


def _document_path(document: Document) -> str:
    return f"documents/{document.id}-{document.original_name}"


def export_zip(household_id: int, actor=None) -> tuple[str, bytes]:
    """(file name, zip bytes): foyer.json and every document the household uploaded. A document whose
    file is missing on disk is listed in the JSON with « fichier_absent » rather than failing the export."""
    data = export_data(household_id)
    household = _household(household_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for document, entry in zip(household.documents, data["pieces"]):
            try:
                stored = document_service.stored_file(document)
            except NotFound:
                entry["fichier_absent"] = True
                continue
            archive.write(stored.path, entry["fichier"])
        archive.writestr("foyer.json", json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False))
        archive.writestr("LISEZMOI.txt", _(
            "Données de votre foyer au Portail Familles du Pôle Jeunesse.\n"
            "foyer.json : votre dossier, vos inscriptions, paiements, factures et les courriels envoyés.\n"
            "documents/ : les pièces justificatives que vous avez envoyées.\n"))
    audit.record("privacy.exported", "household", household.id, actor=actor, household_id=household.id,
                 after={"documents": len(data["pieces"])})
    db.session.commit()
    return f"donnees-foyer-{household.id}-{paris_today().isoformat()}.zip", buffer.getvalue()


# --- erasure -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Blocker:
    code: str
    message: str


def _count(query) -> int:
    return db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()


def blockers(household_id: int, today: date | None = None) -> list[Blocker]:
    """Why this household cannot be erased now (empty: it can)."""
    today = today or paris_today()
    found: list[Blocker] = []
    live = _count(select(Reservation.id).join(Week, Week.id == Reservation.week_id)
                  .where(Reservation.household_id == household_id,
                         Reservation.status.in_(ReservationStatus.LIVE), Week.ends_on >= today))
    offers = _count(select(WaitlistEntry.id).where(WaitlistEntry.household_id == household_id,
                                                   WaitlistEntry.status == WaitlistStatus.OFFERED))
    if live or offers:
        found.append(Blocker("live_booking", ngettext(
            "Une inscription est en cours (semaine pas encore terminée ou place réservée) : attendez la fin "
            "du séjour ou annulez-la d'abord.",
            "%(num)d inscriptions sont en cours (semaines pas encore terminées ou places réservées) : "
            "attendez la fin des séjours ou annulez-les d'abord.", live + offers)))
    pending = _count(select(Payment.id).where(Payment.household_id == household_id,
                                              Payment.status == PaymentStatus.PENDING))
    if pending:
        found.append(Blocker("payment_pending", _("Un paiement est en cours : attendez qu'il aboutisse ou expire.")))
    refunds = _count(select(Refund.id).join(Payment, Payment.id == Refund.payment_id)
                     .where(Payment.household_id == household_id, Refund.status == "pending"))
    regie = _count(select(RegieRefund.id).where(RegieRefund.household_id == household_id,
                                                RegieRefund.status.in_(RegieRefundStatus.OPEN)))
    if refunds or regie:
        found.append(Blocker("refund_pending", _("Un remboursement n'est pas encore fait : terminez-le d'abord.")))
    balance = credits.book_balance(household_id)
    if balance:
        found.append(Blocker("credit_balance", _(
            "Le compte d'avoirs du foyer n'est pas soldé (%(amount)s €) : remboursez ou retirez l'avoir d'abord.",
            amount=f"{balance / 100:.2f}".replace(".", ","))))
    requests = _count(select(CancellationRequest.id).where(CancellationRequest.household_id == household_id,
                                                           CancellationRequest.status == "pending"))
    if requests:
        found.append(Blocker("cancellation_pending", _(
            "Une demande d'annulation attend une décision : décidez-la d'abord.")))
    return found


# Tables whose rows go with the household (ON DELETE CASCADE) but stay, emptied, after an erasure:
# what was booked (statistics, the books' lines) and the household's links to its children.
KEPT_WITH_THE_HOUSEHOLD = {"basket", "reservation", "household_child", "cancellation_request"}


def _household_owned():
    household_table = Household.__table__
    for table in db.metadata.sorted_tables:
        if table.name in KEPT_WITH_THE_HOUSEHOLD:
            continue
        for fk in table.foreign_keys:
            if fk.column.table is household_table and (fk.ondelete or "").upper() == "CASCADE":
                yield table, fk.parent


def _keeps_accounting(household_id: int) -> bool:
    for model in (Payment, Invoice, CreditNote, CreditUse, RegieRefund):
        if db.session.execute(select(model.id).where(model.household_id == household_id).limit(1)).first():
            return True
    return False


def erase(household_id: int, actor=None, reason: str = "request") -> Household:
    """Erase a household's personal data (see the module's docstring), or Conflict with every reason
    it cannot be erased yet. `reason`: "request" (the family asked) or "retention" (the job)."""
    household = locked_household(household_id)
    if household.erased_at is not None:
        db.session.rollback()
        raise Conflict(_("Les données de ce foyer ont déjà été effacées."), code="already_erased")
    found = blockers(household.id)
    if found:
        db.session.rollback()
        raise Conflict(" ".join(b.message for b in found), code=found[0].code,
                       reasons=[b.code for b in found])
    hid = household.id
    emails = {e.lower() for e in [household.email, *(g.email for g in household.guardians)] if e}
    owner = household.owner
    if owner is not None and owner.email:
        emails.add(owner.email.lower())

    # Documents: rows now, files after the commit.
    keys = [d.storage_key for d in household.documents]
    for document in list(household.documents):
        household.documents.remove(document)
        db.session.delete(document)
    for guardian in list(household.guardians):
        household.guardians.remove(guardian)
        db.session.delete(guardian)
    db.session.execute(delete(QuotientRecord).where(QuotientRecord.household_id == hid))
    db.session.execute(delete(HouseholdInvitation).where(HouseholdInvitation.household_id == hid))
    db.session.execute(delete(Wish).where(Wish.household_id == hid))
    db.session.execute(delete(CalendarFeed).where(CalendarFeed.household_id == hid))
    db.session.execute(delete(ChildConsent).where(ChildConsent.household_id == hid))
    db.session.execute(delete(WaitlistEntry).where(WaitlistEntry.household_id == hid))
    db.session.execute(update(CancellationRequest).where(CancellationRequest.household_id == hid)
                       .values(reason=None, decision_note=None, document_id=None))
    children = 0
    for link in list(household.child_links):
        child = link.child
        shared = db.session.execute(select(func.count()).select_from(HouseholdChild).where(
            HouseholdChild.child_id == child.id, HouseholdChild.household_id != hid)).scalar_one()
        for pickup in list(link.pickups):
            link.pickups.remove(pickup)  # delete-orphan: the row goes
        if shared:
            # The other household keeps its child; the past reservations stay this household's.
            has_rows = db.session.execute(select(Reservation.id).where(
                Reservation.household_id == hid, Reservation.child_id == child.id).limit(1)).first()
            if not has_rows:
                household.child_links.remove(link)
                db.session.delete(link)
            continue
        children += 1
        _empty_child(child)
    # Whatever else belongs to the household alone (a table whose rows go with the household: the
    # calendar feed's secret, and any such table a later issue adds) goes too; the rows kept above
    # for the books and the statistics stay.
    for table, column in _household_owned():
        db.session.execute(delete(table).where(column == hid))
    # Mails: the copies the portal kept of what it sent the family.
    db.session.execute(delete(MailLog).where(or_(MailLog.household_id == hid,
                                                 func.lower(MailLog.to_address).in_(emails or {""}))))
    # Audit trail: who did what stays; the personal values written in it go.
    db.session.execute(update(AuditLog).where(AuditLog.household_id == hid).values(before=None, after=None))
    if emails:
        db.session.execute(update(AuditLog).where(func.lower(AuditLog.actor_label).in_(emails))
                           .values(actor_label=ERASED_LABEL))
    keeps_books = _keeps_accounting(hid)
    household.owner_id = None
    for field in ("email", "phone", "address_line", "postcode", "city", "caf_number", "declared_quotient",
                  "quotient", "incomplete_reasons", "incomplete_note", "submitted_at", "validated_at"):
        setattr(household, field, None)
    household.no_caf_number = False
    household.separated_parents = False
    household.status = HouseholdStatus.DRAFT
    household.name = f"Foyer effacé n° {hid}"
    household.erased_at = utcnow()
    db.session.flush()
    if owner is not None:
        db.session.delete(owner)
    audit.record("privacy.erased", "household", hid, actor=actor, household_id=hid,
                 after={"reason": reason, "documents": len(keys), "children_emptied": children,
                        "accounting_kept": keeps_books})
    db.session.commit()
    for key in keys:
        document_service.remove_stored_file(key)
    return household


def _empty_child(child: Child) -> None:
    child.first_name = "Enfant"
    child.last_name = f"effacé n° {child.id}"
    # The year alone: CAF statistics count hours by age band.
    child.birth_date = date(child.birth_date.year, 1, 1)
    for field in ("sex", "school", "school_level", "allergies", "diet", "pai_details", "medical_notes",
                  "doctor_name", "doctor_phone", "health_updated_at"):
        setattr(child, field, None)
    child.pai = False
    child.vaccinations_up_to_date = False
    child.image_rights = False


# --- retention ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DueHousehold:
    household_id: int
    name: str
    last_activity: datetime
    blockers: list[Blocker]


def last_activity(household: Household) -> datetime:
    """The latest of: the file's last change, the owner's last login, a basket, a payment, a document
    and the end of a booked week."""
    hid = household.id
    moments: list[datetime] = [household.created_at, household.updated_at]
    if household.owner is not None and household.owner.last_login is not None:
        last_login = household.owner.last_login
        moments.append(last_login if last_login.tzinfo else last_login.replace(tzinfo=household.created_at.tzinfo))
    for column, where in ((Basket.created_at, Basket.household_id == hid),
                          (Payment.created_at, Payment.household_id == hid),
                          (Document.uploaded_at, Document.household_id == hid)):
        value = db.session.execute(select(func.max(column)).where(where)).scalar()
        if value is not None:
            moments.append(value)
    week_end = db.session.execute(select(func.max(Week.ends_on)).join(Reservation, Reservation.week_id == Week.id)
                                  .where(Reservation.household_id == hid)).scalar()
    if week_end is not None:
        moments.append(datetime.combine(week_end, time(23, 59), tzinfo=household.created_at.tzinfo))
    return max(moments)


def retention_cutoff(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    years = retention_years()
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


def due_for_retention(now: datetime | None = None) -> list[DueHousehold]:
    """Households inactive for longer than the retention period, with what stops their erasure."""
    cutoff = retention_cutoff(now)
    candidates = db.session.execute(select(Household).where(Household.erased_at.is_(None),
                                                            Household.updated_at < cutoff)
                                    .order_by(Household.id)).scalars().all()
    due = []
    for household in candidates:
        last = last_activity(household)
        if last < cutoff:
            due.append(DueHousehold(household.id, household.name, last, blockers(household.id)))
    return due


def apply_retention(now: datetime | None = None) -> dict:
    """Erase every household due whose erasure nothing blocks; the others wait (staff see why)."""
    erased, blocked = [], []
    for entry in due_for_retention(now):
        if entry.blockers:
            blocked.append(entry.household_id)
            continue
        try:
            erase(entry.household_id, actor=None, reason="retention")
        except Conflict:
            blocked.append(entry.household_id)
        else:
            erased.append(entry.household_id)
    return {"erased": erased, "blocked": blocked, "cutoff": retention_cutoff(now) - timedelta(0)}


def request_erasure(household_id: int, actor) -> None:
    """The family asks for its data to be erased: staff are told (they check and erase from the file)."""
    from app.services.mail import queue_mail

    household = _household(household_id)
    audit.record("privacy.erasure_requested", "household", household.id, actor=actor, household_id=household.id)
    to = current_app.config.get("STAFF_DIGEST_EMAIL")
    if to:
        queue_mail("privacy_erasure_request", to, _("Demande d'effacement des données : %(name)s",
                                                     name=household.name),
                   "privacy_erasure_request", household_id=household.id, household=household,
                   reasons=[b.message for b in blockers(household.id)])
    db.session.commit()
