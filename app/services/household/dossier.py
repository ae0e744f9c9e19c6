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

Staff's side lives in `review`, form reading in `inputs`, working days in `workdays`; their public
names are re-exported here so that `dossier.validate(...)` and the like keep working.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import (
    AuthorizedPickup,
    BenefitScheme,
    Child,
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
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.household import checklist, review
from app.services.household.documents import remove_stored_file
from app.services.household.inputs import EMAIL_RE, PHONE_RE, Input, normalise_name  # noqa: F401 (re-exported)
from app.services.household.links import child_link
from app.services.household.resubmission import (  # noqa: F401 (re-exported)
    HOME_URL,
    REVIEW_AREAS,
    _mail,
    after_parent_change,
    mail_address,
)
from app.services.household.review import (  # noqa: F401 (re-exported)
    DIGEST_HOUR,
    DIGEST_THRESHOLD_HOURS,
    INCOMPLETE_REASONS,
    LINK_LABELS,
    STATUS_LABELS,
    BulkResult,
    QueueEntry,
    bulk_validate,
    confirm_shared_link,
    digest_key,
    health_changed_since_validation,
    incomplete_reasons,
    mark_incomplete,
    parse_quotient,
    pending_shared_links,
    reason_labels,
    recent_health_changes,
    refuse_shared_link,
    review_queue,
    status_label,
    validate,
)
from app.services.household.workdays import (  # noqa: F401 (re-exported)
    PARIS,
    is_working_day,
    public_holidays,
    working_hours_between,
)
from app.services.localize import paris_today

MAX_GUARDIANS = 2

# What a parent may change on a validated file without staff looking again.
HOUSEHOLD_FIELDS = ["email", "phone", "address_line", "postcode", "city", "caf_number", "no_caf_number",
                    "declared_quotient", "separated_parents", "benefit_scheme"]
FIELD_AREAS = {"address_line": "address", "postcode": "address", "city": "address", "caf_number": "caf",
               "no_caf_number": "caf", "declared_quotient": "caf", "separated_parents": "guardians"}
GUARDIAN_FIELDS = ["first_name", "last_name", "relationship_label", "phone", "email", "employer"]
CHILD_IDENTITY_FIELDS = ["first_name", "last_name", "birth_date", "sex"]
CHILD_SCHOOL_FIELDS = ["school", "school_level", "image_rights"]
HEALTH_FIELDS = ["allergies", "diet", "pai", "pai_details", "medical_notes", "doctor_name", "doctor_phone",
                 "vaccinations_up_to_date"]
SCHOOL_LEVELS = ["Petite section", "Moyenne section", "Grande section", "CP", "CE1", "CE2", "CM1", "CM2",
                 "6e", "5e", "4e", "3e", "2nde", "1re", "Terminale", "Autre"]



# --- the parent's side ---------------------------------------------------------------------

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
    values: dict[str, Any] = {
        # A household kept at the desk (no login, app.services.household.desk_onboarding) may have no e-mail.
        "email": form.email("email", required=household.owner_id is not None),
        "phone": form.phone("phone", required=True),
        "address_line": form.text("address_line", 255, required=True, message=_("Indiquez le numéro et la rue.")),
        "postcode": form.text("postcode", 10, required=True, message=_("Indiquez le code postal.")),
        "city": form.text("city", 100, required=True, message=_("Indiquez la commune.")),
        "no_caf_number": no_caf,
        "caf_number": None if no_caf else form.text("caf_number", 20),
        "declared_quotient": None if no_caf else form.integer("declared_quotient", 0, 100000),
        "separated_parents": form.boolean("separated_parents"),
    }
    if "benefit_scheme" in data:  # CAF / MSA / other: the CAF's hours count by it (issue 18); kept when not sent
        values["benefit_scheme"] = form.choice("benefit_scheme", BenefitScheme.ALL)
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
    values: dict[str, Any] = {
        "first_name": form.name("first_name"),
        "last_name": form.name("last_name"),
        "birth_date": form.date("birth_date"),
        "sex": form.choice("sex", ["F", "M"], required=True, message=_("Indiquez si c'est une fille ou un garçon.")),
    }
    birth = values["birth_date"]
    if birth is not None:
        today = paris_today()
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
    key = (normalise_name(first_name), normalise_name(last_name))
    for child in candidates:
        if (normalise_name(child.first_name), normalise_name(child.last_name)) == key:
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


def update_child(household: Household, child_id: int, data: Mapping[str, Any], actor=None,
                 identity: bool | None = None) -> Child:
    """School, image rights and, while `identity_editable` (or when staff say so with `identity=True`,
    reading the birth certificate), names, birth date and sex."""
    link = visible_link(household, child_id)
    child = link.child
    form = Input(data)
    values = _child_school(form)
    if identity if identity is not None else identity_editable(link):
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



def send_staff_digest_if_due(now: datetime | None = None) -> MailLog | None:
    """The sweeper's entry point for the staff digest (see `review.send_staff_digest_if_due`).

    The clock is read here because the sweeper (app.services.maintenance) and the tests that freeze
    time address the digest through this module and its `utcnow`."""
    return review.send_staff_digest_if_due(now or utcnow())
