"""The household file's life: the parent fills and submits it, staff validate it or say what is
missing, and changes after validation go back to review.

draft ──submit──▶ submitted ──validate──▶ validated
                      │  ▲                     │ address, guardians, CAF/QF, proof documents
      mark incomplete ▼  │ submit              │ or a new child changed by the parent
                   incomplete        submitted ◀┘ (existing reservations are never touched)

Health-sheet changes need no review: they are audited and flagged to staff. A child who already
exists in another household (same names and birth date) is not created twice: the household gets a
pending link (`shared_request=True`) that staff confirm on sight of the custody judgement; until
then it shows nothing of the child that the parent did not type.

Every function that changes something audits it in the same transaction and commits; mails are
logged with it and sent by a job after the commit.
"""
from __future__ import annotations

import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.models import (
    AuditLog,
    AuthorizedPickup,
    Child,
    Document,
    DocumentKind,
    Guardian,
    Household,
    HouseholdChild,
    HouseholdStatus,
    LinkStatus,
    MailLog,
    db,
    utcnow,
)

from app.services import audit

from app.services.household import checklist
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.household.documents import remove_stored_file
from app.services.household.links import child_link
from app.services.household.resubmission import (  # noqa: F401 (re-exported)
    HOME_URL,
    REVIEW_AREAS,
    _mail,
    after_parent_change,
    mail_address,
)
from app.services.mail import public_url, queue_mail

log = logging.getLogger(__name__)
PARIS = ZoneInfo("Europe/Paris")

MAX_GUARDIANS = 2
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

# What a parent may change on a validated file without staff looking again.
HOUSEHOLD_FIELDS = ["email", "phone", "address_line", "postcode", "city", "caf_number", "no_caf_number",
                    "declared_quotient", "separated_parents"]
FIELD_AREAS = {"address_line": "address", "postcode": "address", "city": "address", "caf_number": "caf",
               "no_caf_number": "caf", "declared_quotient": "caf", "separated_parents": "guardians"}
GUARDIAN_FIELDS = ["first_name", "last_name", "relationship_label", "phone", "email", "employer"]
CHILD_IDENTITY_FIELDS = ["first_name", "last_name", "birth_date", "sex"]
CHILD_SCHOOL_FIELDS = ["school", "school_level", "image_rights"]
HEALTH_FIELDS = ["allergies", "diet", "pai", "pai_details", "medical_notes", "doctor_name", "doctor_phone",
                 "vaccinations_up_to_date"]
SCHOOL_LEVELS = ["Petite section", "Moyenne section", "Grande section", "CP", "CE1", "CE2", "CM1", "CM2",
                 "6e", "5e", "4e", "3e", "2nde", "1re", "Terminale", "Autre"]


# --- input checking ------------------------------------------------------------------------

PHONE_RE = re.compile(r"^\+?[0-9][0-9 .\-]{8,18}[0-9]$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Input:
    """Reads raw form/API values and collects French messages per field (all at once, not one by one)."""

    def __init__(self, data: Mapping[str, Any]):
        self.data = data
        self.errors: dict[str, str] = {}

    def raw(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "on" if value else ""
        return str(value).strip()

    def text(self, name: str, max_len: int = 200, required: bool = False, message: str | None = None) -> str | None:
        value = re.sub(r"[ \t]+", " ", self.raw(name))
        if not value:
            if required:
                self.errors[name] = message or _("Ce champ est obligatoire.")
            return None
        if len(value) > max_len:
            self.errors[name] = _("%(max)d caractères au maximum.", max=max_len)
        return value

    def long_text(self, name: str, max_len: int = 2000) -> str | None:
        value = self.raw(name).replace("\r\n", "\n")
        if len(value) > max_len:
            self.errors[name] = _("%(max)d caractères au maximum.", max=max_len)
        return value or None

    def name(self, name: str, required: bool = True) -> str | None:
        value = self.text(name, 100, required)
        if value and not re.fullmatch(r"[^\d<>{}\[\]@#$%^*=+|~`\"]+", value):
            self.errors[name] = _("Lettres, espaces, traits d'union et apostrophes uniquement.")
        return value

    def phone(self, name: str, required: bool = False) -> str | None:
        value = self.text(name, 30, required, _("Indiquez un numéro de téléphone."))
        if value:
            digits = re.sub(r"[^0-9]", "", value)
            if not PHONE_RE.match(value) or not 10 <= len(digits) <= 15:
                self.errors[name] = _("Numéro de téléphone non valide (exemple : 06 12 34 56 78).")
        return value

    def email(self, name: str, required: bool = False) -> str | None:
        value = self.text(name, 254, required, _("Indiquez une adresse e-mail."))
        if value:
            value = value.lower()
            if not EMAIL_RE.match(value):
                self.errors[name] = _("Adresse e-mail non valide (exemple : prenom.nom@exemple.fr).")
        return value

    def integer(self, name: str, minimum: int, maximum: int, required: bool = False,
                message: str | None = None) -> int | None:
        value = self.raw(name).replace(" ", "").replace("\u202f", "").replace("€", "")
        if not value:
            if required:
                self.errors[name] = message or _("Ce champ est obligatoire.")
            return None
        if not re.fullmatch(r"[0-9]+", value):  # ASCII: "\d" and int() also take Arabic-Indic digits
            self.errors[name] = _("Indiquez un nombre entier, sans virgule (exemple : 850).")
            return None
        number = int(value)
        if not minimum <= number <= maximum:
            self.errors[name] = _("Indiquez un nombre entre %(min)d et %(max)d.", min=minimum, max=maximum)
            return None
        return number

    def boolean(self, name: str) -> bool:
        value = self.data.get(name)
        if isinstance(value, bool):
            return value
        return str(value or "").strip().lower() in {"on", "1", "true", "oui", "yes", "y"}

    def date(self, name: str, required: bool = True) -> date | None:
        value = self.raw(name)
        if not value:
            if required:
                self.errors[name] = _("Indiquez une date.")
            return None
        for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return datetime.strptime(value, pattern).date()
            except ValueError:
                continue
        self.errors[name] = _("Date non valide (exemple : 25/03/2018).")
        return None

    def choice(self, name: str, choices: Iterable[str], required: bool = False,
               message: str | None = None) -> str | None:
        value = self.raw(name)
        if not value:
            if required:
                self.errors[name] = message or _("Faites un choix.")
            return None
        if value not in set(choices):
            self.errors[name] = _("Choix non valide.")
            return None
        return value

    def check(self) -> None:
        if self.errors:
            raise ValidationFailed(_("Certains champs sont à corriger : voyez les messages sous chaque champ. "
                                     "Rien n'a été enregistré."), code="invalid", errors=dict(self.errors))


def _normalise_name(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value or "")
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return re.sub(r"[\s\-']+", " ", folded).strip().casefold()


# --- the parent's side ---------------------------------------------------------------------

def status_label(household: Household) -> str:
    return _(STATUS_LABELS.get(household.status, household.status))


def booking_block_reason(household: Household | None) -> str | None:
    """Why the booking entry point is disabled, in French; None when the file allows booking."""
    if household is None:
        return _("Aucun dossier famille n'est associé à ce compte.")
    if household.status == HouseholdStatus.VALIDATED:
        if not any(link.status == LinkStatus.VALIDATED for link in household.child_links):
            return _("Aucun enfant de votre dossier n'est encore confirmé par le Pôle Jeunesse.")
        return None
    if household.status == HouseholdStatus.SUBMITTED:
        return _("Votre dossier est en cours de vérification par le Pôle Jeunesse (72 h ouvrées au plus). "
                 "Vous pourrez réserver dès qu'il sera validé ; un e-mail vous préviendra.")
    if household.status == HouseholdStatus.INCOMPLETE:
        return _("Votre dossier est incomplet : corrigez les éléments indiqués puis envoyez-le à nouveau.")
    return _("Complétez votre dossier puis envoyez-le : vous pourrez réserver une fois qu'il aura été validé "
             "par le Pôle Jeunesse.")


def can_see_child_details(link: HouseholdChild) -> bool:
    """A household sees a shared child's sheet only once staff confirmed its link (custody judgement)."""
    return link.status == LinkStatus.VALIDATED or (link.status == LinkStatus.PENDING and not link.shared_request)


def update_household(household: Household, data: Mapping[str, Any], actor=None) -> list[str]:
    """Contact, address, CAF and family situation. Returns the changed fields."""
    form = Input(data)
    no_caf = form.boolean("no_caf_number")
    values = {
        "email": form.email("email", required=True),
        "phone": form.phone("phone", required=True),
        "address_line": form.text("address_line", 255, required=True, message=_("Indiquez le numéro et la rue.")),
        "postcode": form.text("postcode", 10, required=True, message=_("Indiquez le code postal.")),
        "city": form.text("city", 100, required=True, message=_("Indiquez la commune.")),
        "no_caf_number": no_caf,
        "caf_number": None if no_caf else form.text("caf_number", 20),
        "declared_quotient": None if no_caf else form.integer("declared_quotient", 0, 100000),
        "separated_parents": form.boolean("separated_parents"),
    }
    if values["postcode"] and not re.fullmatch(r"[0-9]{5}", values["postcode"]):
        form.errors["postcode"] = _("Le code postal compte 5 chiffres.")
    if not no_caf:
        caf = (values["caf_number"] or "").replace(" ", "")
        values["caf_number"] = caf or None
        if not caf:
            form.errors["caf_number"] = _("Indiquez votre numéro d'allocataire CAF, ou cochez « Je n'ai pas de "
                                          "numéro d'allocataire CAF ».")
        elif not re.fullmatch(r"[0-9]{5,10}", caf):
            form.errors["caf_number"] = _("Le numéro d'allocataire CAF ne contient que des chiffres (7 en général).")
        if values["declared_quotient"] is None and "declared_quotient" not in form.errors:
            form.errors["declared_quotient"] = _("Indiquez le quotient familial figurant sur votre attestation CAF.")
    form.check()
    old, new = audit.apply_changes(household, values)
    if new:
        audit.record("household.updated", "household", household.id, actor=actor, household_id=household.id,
                     before=old, after=new)
        areas = {FIELD_AREAS[f] for f in new if f in FIELD_AREAS}
        for area in sorted(areas):
            if after_parent_change(household, actor, area):
                break
    db.session.commit()
    return list(new)


def household_guardian(household: Household, guardian_id: int) -> Guardian:
    guardian = db.session.get(Guardian, guardian_id)
    if guardian is None or guardian.household_id != household.id:
        raise NotFound(_("Responsable légal introuvable."), code="not_found")
    return guardian


def save_guardian(household: Household, data: Mapping[str, Any], guardian_id: int | None = None,
                  actor=None) -> Guardian:
    guardian = household_guardian(household, guardian_id) if guardian_id else None
    if guardian is None and len(household.guardians) >= MAX_GUARDIANS:
        raise Conflict(_("Un dossier compte au plus deux responsables légaux. Des parents séparés font chacun "
                         "leur propre dossier : l'enfant sera rattaché aux deux."), code="too_many_guardians")
    form = Input(data)
    values = {
        "first_name": form.name("first_name"),
        "last_name": form.name("last_name"),
        "relationship_label": form.text("relationship_label", 50),
        "phone": form.phone("phone", required=True),
        "email": form.email("email"),
        "employer": form.text("employer", 200),
    }
    form.check()
    if guardian is None:
        guardian = Guardian(**values)
        household.guardians.append(guardian)
        db.session.flush()
        audit.record("guardian.added", "guardian", guardian.id, actor=actor, household_id=household.id,
                     after=values)
        after_parent_change(household, actor, "guardians")
    else:
        old, new = audit.apply_changes(guardian, values)
        if new:
            audit.record("guardian.updated", "guardian", guardian.id, actor=actor, household_id=household.id,
                         before=old, after=new)
            after_parent_change(household, actor, "guardians")
    db.session.commit()
    return guardian


def remove_guardian(household: Household, guardian_id: int, actor=None) -> None:
    guardian = household_guardian(household, guardian_id)
    if len(household.guardians) <= 1:
        raise Conflict(_("Le dossier doit garder au moins un responsable légal."), code="last_guardian")
    audit.record("guardian.removed", "guardian", guardian.id, actor=actor, household_id=household.id,
                 before=audit.snapshot(guardian, GUARDIAN_FIELDS))
    household.guardians.remove(guardian)
    after_parent_change(household, actor, "guardians")
    db.session.commit()


def _child_identity(form: Input) -> dict:
    values = {
        "first_name": form.name("first_name"),
        "last_name": form.name("last_name"),
        "birth_date": form.date("birth_date"),
        "sex": form.choice("sex", ["F", "M"], required=True, message=_("Indiquez si c'est une fille ou un garçon.")),
    }
    birth = values["birth_date"]
    if birth is not None:
        today = date.today()
        if birth >= today:
            form.errors["birth_date"] = _("La date de naissance doit être passée.")
        elif birth < today.replace(year=today.year - 25):
            form.errors["birth_date"] = _("Date de naissance non valide : vérifiez l'année.")
    return values


def _child_school(form: Input) -> dict:
    return {
        "school": form.text("school", 200),
        "school_level": form.choice("school_level", SCHOOL_LEVELS),
        "image_rights": form.boolean("image_rights"),
    }


def find_same_child(first_name: str, last_name: str, birth_date: date) -> Child | None:
    """The child already known under these names and birth date (accents and case ignored)."""
    candidates = db.session.execute(select(Child).where(Child.birth_date == birth_date)).scalars().all()
    key = (_normalise_name(first_name), _normalise_name(last_name))
    for child in candidates:
        if (_normalise_name(child.first_name), _normalise_name(child.last_name)) == key:
            return child
    return None


@dataclass(frozen=True)
class AddedChild:
    link: HouseholdChild
    shared: bool  # the child existed in another household: a pending link for staff to confirm

    @property
    def message(self) -> str:
        """What the parent is told. For a child already known elsewhere it says nothing of the other
        household: typing a name and a birth date must not tell a stranger that a child exists in
        some file. Staff confirm the link (custody judgement) through the shared-link review."""
        if self.shared:
            return _("Votre demande de rattachement sera vérifiée par le Pôle Jeunesse.")
        return _("Enfant ajouté. Complétez maintenant sa fiche sanitaire.")


def add_child(household: Household, data: Mapping[str, Any], actor=None) -> AddedChild:
    form = Input(data)
    identity = _child_identity(form)
    school = _child_school(form)
    form.check()
    existing = find_same_child(identity["first_name"], identity["last_name"], identity["birth_date"])
    if existing is not None:
        own = next((link for link in household.child_links if link.child_id == existing.id), None)
        if own is not None:
            raise Conflict(_("%(child)s figure déjà dans votre dossier.", child=existing.first_name),
                           code="duplicate_child")
        link = HouseholdChild(child=existing, status=LinkStatus.PENDING, shared_request=True)
        household.child_links.append(link)
        db.session.flush()
        # The other household's data stays as it is: nothing typed here overwrites the shared record.
        audit.record("child.shared_request", "household_child", link.id, actor=actor, household_id=household.id,
                     after={"child_id": existing.id, "status": link.status, "shared_request": True})
        after_parent_change(household, actor, "children")
        db.session.commit()
        return AddedChild(link, True)
    child = Child(**identity, **school)
    link = HouseholdChild(child=child, status=LinkStatus.PENDING, shared_request=False)
    household.child_links.append(link)
    db.session.flush()
    audit.record("child.added", "child", child.id, actor=actor, household_id=household.id,
                 after={**identity, **school})
    after_parent_change(household, actor, "children")
    db.session.commit()
    return AddedChild(link, False)


def remove_child(household: Household, child_id: int, actor=None) -> None:
    """Take back a child added by mistake, as long as staff have not confirmed it (a confirmed child
    may have reservations: staff handle that). The child record goes too unless another household
    has it; this household's documents about the child go with it."""
    link = child_link(household.id, child_id)
    if link.status == LinkStatus.VALIDATED:
        raise Conflict(_("Cet enfant est confirmé par le Pôle Jeunesse : contactez-le pour le retirer de votre "
                         "dossier."), code="link_validated")
    child = link.child
    removed_files = []
    for document in [d for d in household.documents if d.child_id == child.id]:
        removed_files.append(document.storage_key)
        household.documents.remove(document)
    audit.record("child.removed", "household_child", link.id, actor=actor, household_id=household.id,
                 before={"child_id": child.id, "first_name": child.first_name, "last_name": child.last_name,
                         "status": link.status, "shared_request": link.shared_request,
                         "documents": len(removed_files)})
    household.child_links.remove(link)
    db.session.flush()
    if not child.household_links:
        db.session.delete(child)
    db.session.commit()
    for key in removed_files:
        remove_stored_file(key)


def visible_link(household: Household, child_id: int) -> HouseholdChild:
    """The link of a child this household may see and edit the details of."""
    link = child_link(household.id, child_id)
    if link.status == LinkStatus.REFUSED:
        raise NotFound(_("Cet enfant n'est pas rattaché à votre dossier."), code="not_found")
    if not can_see_child_details(link):
        raise Conflict(_("Le rattachement de cet enfant à votre dossier attend la confirmation du Pôle "
                         "Jeunesse (sur présentation du jugement de garde). Sa fiche sera visible ensuite."),
                       code="link_pending")
    return link


def identity_editable(link: HouseholdChild) -> bool:
    """Names and birth date are fixed once staff confirmed the child, or when another household shares it."""
    return link.status != LinkStatus.VALIDATED and len(link.child.household_links) == 1


def update_child(household: Household, child_id: int, data: Mapping[str, Any], actor=None) -> Child:
    link = visible_link(household, child_id)
    child = link.child
    form = Input(data)
    values = _child_school(form)
    if identity_editable(link):
        values.update(_child_identity(form))
    form.check()
    old, new = audit.apply_changes(child, values)
    if new:
        audit.record("child.updated", "child", child.id, actor=actor, household_id=household.id,
                     before=old, after=new)
    db.session.commit()
    return child


def update_health(household: Household, child_id: int, data: Mapping[str, Any], actor=None) -> Child:
    """The health sheet: no review needed, but audited and flagged to staff (`health_updated_at`)."""
    link = visible_link(household, child_id)
    child = link.child
    form = Input(data)
    pai = form.boolean("pai")
    values = {
        "allergies": form.long_text("allergies", 1000),
        "diet": form.text("diet", 200),
        "pai": pai,
        "pai_details": form.long_text("pai_details", 1000) if pai else None,
        "medical_notes": form.long_text("medical_notes", 2000),
        "doctor_name": form.text("doctor_name", 200, required=True,
                                 message=_("Indiquez le nom du médecin traitant.")),
        "doctor_phone": form.phone("doctor_phone", required=True),
        "vaccinations_up_to_date": form.boolean("vaccinations_up_to_date"),
    }
    if pai and not values["pai_details"]:
        form.errors["pai_details"] = _("Décrivez le PAI (traitement, conduite à tenir, où se trouve la trousse).")
    form.check()
    old, new = audit.apply_changes(child, values)
    if new or child.health_updated_at is None:
        child.health_updated_at = utcnow()
        audit.record("child.health_updated", "child", child.id, actor=actor, household_id=household.id,
                     before=old, after=new)
    db.session.commit()
    return child


def add_pickup(household: Household, child_id: int, data: Mapping[str, Any], actor=None) -> AuthorizedPickup:
    link = visible_link(household, child_id)
    if len(link.pickups) >= 6:
        raise Conflict(_("Six personnes autorisées au plus par enfant."), code="too_many_pickups")
    form = Input(data)
    values = {
        "name": form.text("name", 200, required=True, message=_("Indiquez le nom et le prénom.")),
        "phone": form.phone("phone", required=True),
        "relationship_label": form.text("relationship_label", 50),
    }
    form.check()
    pickup = AuthorizedPickup(**values)
    link.pickups.append(pickup)
    db.session.flush()
    audit.record("pickup.added", "authorized_pickup", pickup.id, actor=actor, household_id=household.id,
                 after={**values, "child_id": child_id})
    db.session.commit()
    return pickup


def remove_pickup(household: Household, pickup_id: int, actor=None) -> None:
    pickup = db.session.get(AuthorizedPickup, pickup_id)
    if pickup is None or pickup.link.household_id != household.id:
        raise NotFound(_("Personne autorisée introuvable."), code="not_found")
    audit.record("pickup.removed", "authorized_pickup", pickup.id, actor=actor, household_id=household.id,
                 before={"name": pickup.name, "phone": pickup.phone, "child_id": pickup.link.child_id})
    pickup.link.pickups.remove(pickup)
    db.session.commit()


def submit(household: Household, actor=None) -> Household:
    """The parent sends the file: only when the checklist is empty (the same one staff see)."""
    if household.status == HouseholdStatus.SUBMITTED:
        raise Conflict(_("Votre dossier est déjà envoyé : le Pôle Jeunesse le vérifie."), code="already_submitted")
    if household.status == HouseholdStatus.VALIDATED:
        raise Conflict(_("Votre dossier est déjà validé."), code="already_validated")
    missing = checklist.missing(household)
    if missing:
        raise ValidationFailed(_("Votre dossier ne peut pas encore être envoyé. Il manque : %(items)s.",
                                 items=checklist.summary(missing)), code="incomplete_file",
                               missing=[item.code for item in missing])
    before = {"status": household.status}
    household.status = HouseholdStatus.SUBMITTED
    household.submitted_at = utcnow()
    audit.record("household.submitted", "household", household.id, actor=actor, household_id=household.id,
                 before=before, after={"status": household.status})
    _mail(household, "dossier_received", _("Votre dossier famille a bien été reçu"), "dossier_received",
          changed=False)
    db.session.commit()
    return household


# --- staff's side --------------------------------------------------------------------------

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


# --- the queue, working hours, the digest --------------------------------------------------

def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = ((h + l - 7 * m + 114) % 31) + 1
    return date(year, month, day)


def public_holidays(year: int) -> set[date]:
    """French public holidays (jours fériés) of metropolitan France."""
    sunday = easter(year)
    return {date(year, 1, 1), sunday + timedelta(days=1), date(year, 5, 1), date(year, 5, 8),
            sunday + timedelta(days=39), sunday + timedelta(days=50), date(year, 7, 14), date(year, 8, 15),
            date(year, 11, 1), date(year, 11, 11), date(year, 12, 25)}


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def working_hours_between(start: datetime, end: datetime) -> float:
    """Hours between two instants counted on working days only (Monday to Friday, not a public
    holiday, in Paris): "72 h ouvrées" = three working days, the promise of the parents' guide."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("aware datetimes required")
    if end <= start:
        return 0.0
    total = 0.0
    day = start.astimezone(PARIS).date()
    last = end.astimezone(PARIS).date()
    while day <= last:
        if is_working_day(day):
            day_start = datetime.combine(day, time(0), PARIS)
            day_end = datetime.combine(day + timedelta(days=1), time(0), PARIS)
            lo, hi = max(start, day_start), min(end, day_end)
            if hi > lo:
                total += (hi - lo).total_seconds() / 3600
        day += timedelta(days=1)
    return total


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
