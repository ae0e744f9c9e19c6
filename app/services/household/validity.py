"""How long a proof stays valid, judged at the dates the family needs it (issue 19).

Staff set, per kind of document (`DocumentType`, staff screen « Types de pièces »), its name, which
establishments require it, and a validity rule. The checklist (app.services.household.checklist)
then judges an accepted or pending proof not only today but at the end of every week the family has
booked or wished for: an insurance valid today that ends on 31 August, before the end of a booked
week of September, counts as missing (« expire le 31 août, avant la fin de … »). The daily job mails
the family `remind_days` days before a proof it still needs expires (`send_expiry_reminders`), and
staff see the proofs about to expire (`expiring`).

The validity runs from the upload date (what staff read on the proof is the same day in practice:
families send this year's attestation); a kind without settings keeps the defaults below, which
change nothing (valid until replaced, required as before).
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping

from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.models import (
    Document,
    DocumentKind,
    DocumentType,
    Establishment,
    Household,
    Period,
    RequiredFor,
    Reservation,
    ReservationStatus,
    ValidityRule,
    Week,
    Wish,
    db,
    utcnow,
)
from app.services import audit
from app.services.errors import ValidationFailed
from app.services.household.workdays import PARIS
from app.services.localize import date_fr, paris_today

PER_CHILD = {DocumentKind.VACCINATIONS}
RULE_LABELS = {
    ValidityRule.NONE: "Valable jusqu'à son remplacement",
    ValidityRule.MONTHS: "Valable un nombre de mois après son envoi",
    ValidityRule.SCHOOL_YEAR: "Valable jusqu'à la fin de l'année scolaire (31 août)",
    ValidityRule.CALENDAR_YEAR: "Valable jusqu'à la fin de l'année civile (31 décembre)",
}
REQUIRED_FOR_LABELS = {
    RequiredFor.ALL_KINDS: "Tous les dossiers",
    RequiredFor.ALSH: "Seulement pour les accueils de loisirs",
    RequiredFor.SEJOUR: "Seulement pour les séjours",
}


@dataclass(frozen=True)
class TypeSettings:
    kind: str
    name: str | None  # None: the checklist's own label
    per_child: bool
    required_for: str
    validity_rule: str
    validity_months: int | None
    remind_days: int
    custom: bool = False  # a kind staff added
    active: bool = True  # a custom kind staff withdrew is no longer asked


def _default(kind: str) -> TypeSettings:
    return TypeSettings(kind, None, kind in PER_CHILD, RequiredFor.ALL_KINDS, ValidityRule.NONE, None, 30)


def custom_kinds() -> list[str]:
    """The kinds staff added and still ask for, in creation order."""
    return [k for k, s in settings().items() if s.custom and s.active]


def upload_kinds() -> list[str]:
    """What a family or the desk may upload as a proof: the built-in kinds and the active custom ones."""
    return list(DocumentKind.ALL) + custom_kinds()


def is_per_child(kind: str) -> bool:
    return settings_for(kind).per_child


_CACHE = "document_type_settings"


def settings() -> dict[str, TypeSettings]:
    """Every kind's settings, read once per transaction."""
    cache = db.session.info.get(_CACHE)
    if cache is None:
        cache = {kind: _default(kind) for kind in DocumentKind.ALL}
        for row in db.session.execute(select(DocumentType).order_by(DocumentType.id)).scalars():
            cache[row.kind] = TypeSettings(row.kind, row.name, bool(row.per_child), row.required_for,
                                           row.validity_rule, row.validity_months, row.remind_days,
                                           bool(row.custom), bool(row.active))
        db.session.info[_CACHE] = cache
    return cache


def settings_for(kind: str) -> TypeSettings:
    return settings().get(kind) or _default(kind)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, *_args) -> None:
    session.info.pop(_CACHE, None)
    session.info.pop(_HORIZON, None)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def valid_until(document: Document) -> date | None:
    """The last day the proof is valid (inclusive), or None when it has no end."""
    rule = settings_for(document.kind)
    start = document.uploaded_at.astimezone(PARIS).date()
    if rule.validity_rule == ValidityRule.MONTHS and rule.validity_months:
        return _add_months(start, rule.validity_months) - timedelta(days=1)
    if rule.validity_rule == ValidityRule.SCHOOL_YEAR:
        return date(start.year + 1 if start.month >= 9 else start.year, 8, 31)
    if rule.validity_rule == ValidityRule.CALENDAR_YEAR:
        return date(start.year, 12, 31)
    return None


# --- the dates the family needs its proofs ---------------------------------------------------------

@dataclass(frozen=True)
class NeededWeek:
    starts_on: date
    ends_on: date
    label: str  # « Semaine du 06/07 — ALSH Les Petits Loups »
    establishment_kind: str


_HORIZON = "household_needed_weeks"


def needed_weeks(household_id: int, today: date | None = None) -> list[NeededWeek]:
    """The weeks not over yet that the household booked (a live line) or wished for, earliest first.
    Read once per transaction."""
    today = today or paris_today()
    cache = db.session.info.setdefault(_HORIZON, {})
    key = (household_id, today)
    if key not in cache:
        columns = (Week.starts_on, Week.ends_on, Week.label, Establishment.name, Establishment.kind)
        booked = (select(*columns).join(Reservation, Reservation.week_id == Week.id)
                  .join(Period, Period.id == Week.period_id)
                  .join(Establishment, Establishment.id == Period.establishment_id)
                  .where(Reservation.household_id == household_id, Reservation.status.in_(ReservationStatus.LIVE),
                         Week.ends_on >= today))
        wished = (select(*columns).join(Wish, Wish.week_id == Week.id)
                  .join(Period, Period.id == Week.period_id)
                  .join(Establishment, Establishment.id == Period.establishment_id)
                  .where(Wish.household_id == household_id, Week.ends_on >= today))
        rows = {tuple(row) for row in db.session.execute(booked.union(wished)).all()}
        cache[key] = sorted((NeededWeek(starts_on, ends_on, f"{label} — {name}", kind)
                             for starts_on, ends_on, label, name, kind in rows), key=lambda w: (w.ends_on, w.label))
    return cache[key]


def is_required(kind: str, household_id: int) -> bool:
    """A kind required only for one kind of establishment is required once the family books or
    wishes a week there."""
    required_for = settings_for(kind).required_for
    if required_for == RequiredFor.ALL_KINDS:
        return True
    return any(week.establishment_kind == required_for for week in needed_weeks(household_id))


@dataclass(frozen=True)
class Lapse:
    until: date
    week: NeededWeek | None  # None: already expired today

    def message(self) -> str:
        if self.week is None:
            return _("expirée depuis le %(day)s : envoyez-en une nouvelle", day=date_fr(self.until))
        return _("expire le %(day)s, avant la fin de « %(week)s » : envoyez-en une nouvelle",
                 day=date_fr(self.until), week=self.week.label)


def lapse(document: Document, household_id: int, today: date | None = None) -> Lapse | None:
    """Why this proof will not do: expired today, or expiring before the end of a week the family
    booked or wished for (the first such week). None when it covers every needed date."""
    until = valid_until(document)
    if until is None:
        return None
    today = today or paris_today()
    if until < today:
        return Lapse(until, None)
    for week in needed_weeks(household_id, today):
        if until < week.ends_on:
            return Lapse(until, week)
    return None


# --- staff's screen ---------------------------------------------------------------------------------

def save_settings(kind: str, data: Mapping[str, Any], staff) -> DocumentType:
    """Staff change a kind's settings (audited before/after). Refusals name the field in French."""
    if kind not in DocumentKind.ALL and not settings_for(kind).custom:
        raise ValidationFailed(_("Type de pièce inconnu."), code="bad_kind")
    values = _read(data)
    row = db.session.execute(select(DocumentType).where(DocumentType.kind == kind)).scalar_one_or_none()
    fields = list(values)
    if row is None:
        row = DocumentType(kind=kind, per_child=kind in PER_CHILD)
        db.session.add(row)
        before: dict | None = None
    else:
        before = {f: getattr(row, f) for f in fields}
        if row.custom:
            values["active"] = str(data.get("active") or "").strip().lower() in ("on", "1", "true", "oui")
            before["active"] = row.active
    for field, value in values.items():
        setattr(row, field, value)
    db.session.flush()
    audit.record("document_type.saved", "document_type", row.id, actor=staff, before=before, after=values)
    db.session.commit()
    return row


def add_custom_type(data: Mapping[str, Any], staff) -> DocumentType:
    """A kind of proof staff add (an attestation of swimming, a medical certificate for sport…):
    asked per household or per child, with the same settings as a built-in kind."""
    values = _read(data)
    per_child = str(data.get("per_child") or "").strip().lower() in ("on", "1", "true", "oui")
    row = DocumentType(kind=f"pending_{utcnow().timestamp()}"[:30], per_child=per_child, custom=True, active=True,
                       **values)
    db.session.add(row)
    db.session.flush()
    row.kind = f"custom_{row.id}"
    db.session.flush()
    audit.record("document_type.added", "document_type", row.id, actor=staff,
                 after={**values, "kind": row.kind, "per_child": per_child})
    db.session.commit()
    return row


def _read(data: Mapping[str, Any]) -> dict:
    errors: dict[str, str] = {}
    name = (data.get("name") or "").strip()
    if not name or len(name) > 200:
        errors["name"] = _("Indiquez le nom de la pièce, tel que les familles le liront (200 caractères au plus).")
    rule = data.get("validity_rule") or ValidityRule.NONE
    if rule not in ValidityRule.ALL:
        errors["validity_rule"] = _("Choisissez une règle de validité dans la liste.")
    required_for = data.get("required_for") or RequiredFor.ALL_KINDS
    if required_for not in RequiredFor.ALL:
        errors["required_for"] = _("Choisissez pour quels accueils la pièce est exigée.")
    months = None
    if rule == ValidityRule.MONTHS:
        months = _int(data.get("validity_months"), 1, 120)
        if months is None:
            errors["validity_months"] = _("Indiquez une durée de validité entre 1 et 120 mois.")
    remind = _int(data.get("remind_days") if data.get("remind_days") not in (None, "") else "30", 0, 365)
    if remind is None:
        errors["remind_days"] = _("Indiquez un nombre de jours entre 0 et 365 (0 : pas de rappel).")
    if errors:
        raise ValidationFailed(_("Certaines valeurs ne conviennent pas : corrigez les champs signalés."),
                               code="invalid", errors=errors)
    return {"name": name, "required_for": required_for, "validity_rule": rule, "validity_months": months,
            "remind_days": remind}


def _int(raw, low: int, high: int) -> int | None:
    text = str(raw or "").strip()
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None


# --- expiring proofs: staff's list and the families' reminders --------------------------------------

@dataclass(frozen=True)
class Expiring:
    document: Document
    household: Household
    until: date


def _latest_per_need(documents: list[Document]) -> list[Document]:
    latest: dict[tuple[int, str, int | None], Document] = {}
    for document in sorted(documents, key=lambda d: (d.uploaded_at, d.id)):
        if document.status != "refused":
            latest[(document.household_id, document.kind, document.child_id)] = document
    return list(latest.values())


def expiring(within_days: int = 60, today: date | None = None) -> list[Expiring]:
    """The latest proof of each kind (and child) per household whose validity ends within
    `within_days` days (or has ended), soonest first. Erased households are left out."""
    today = today or paris_today()
    kinds = [kind for kind, rule in settings().items() if rule.validity_rule != ValidityRule.NONE]
    if not kinds:
        return []
    documents = db.session.execute(
        select(Document).join(Household, Household.id == Document.household_id)
        .where(Document.kind.in_(kinds), Household.erased_at.is_(None))).scalars().all()
    found = []
    for document in _latest_per_need(list(documents)):
        until = valid_until(document)
        if until is not None and until <= today + timedelta(days=within_days):
            found.append(Expiring(document, document.household, until))
    return sorted(found, key=lambda e: (e.until, e.household.name))
