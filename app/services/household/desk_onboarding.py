"""Desk onboarding: staff register a family that came with a paper file, so that a public service stays
reachable without internet.

Staff create the household with its first guardian (`create_at_desk`), complete it through the staff
forms (`staff_edit`: the parent's own checks), attach the scanned proofs (`documents.add_document`),
send it (`submit_at_desk`) and validate it in the review screen like any file. Then either:

* the family stays desk-only: no login, no e-mail needed; the desk books and takes payment for it;
* or staff send an invitation (`invite`): a link valid INVITATION_DAYS days that creates the parent's
  login and attaches it to the household — once, and only for the invited address (`claim`).

Only the token's SHA-256 is stored (a copy of the database opens no account); a new invitation
revokes the previous one; the mail's link is a secret link (masked in the mail log).
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Any, Mapping

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Guardian, Household, HouseholdInvitation, HouseholdStatus, db, utcnow
from app.services import audit
from app.services.errors import Conflict, ValidationFailed
from app.services.household import accounts, dossier
from app.services.household.inputs import Input
from app.services.household.resubmission import staff_change
from app.services.household.staff_edit import locked_household
from app.services.mail import public_url, queue_mail

INVITATION_DAYS = 14
CLAIM_PATH = "/compte/rejoindre/"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_at_desk(data: Mapping[str, Any], staff) -> Household:
    """A draft household with no login, from the paper file's first guardian (the parent's guardian
    checks). The household's phone and e-mail start as the guardian's; e-mail may stay blank."""
    form = Input(data)
    guardian = {
        "first_name": form.name("first_name"),
        "last_name": form.name("last_name"),
        "relationship_label": form.text("relationship_label", 50),
        "phone": form.phone("phone", required=True),
        "email": form.email("email"),
        "employer": form.text("employer", 200),
    }
    form.check()
    household = Household(owner_id=None, name=f"Foyer {guardian['first_name']} {guardian['last_name']}",
                          status=HouseholdStatus.DRAFT, email=guardian["email"], phone=guardian["phone"])
    household.guardians.append(Guardian(**guardian))
    db.session.add(household)
    db.session.flush()
    audit.record("household.created_at_desk", "household", household.id, actor=staff, household_id=household.id,
                 after={"status": household.status, "guardian": guardian})
    db.session.commit()
    return household


def submit_at_desk(household_id: int, staff) -> Household:
    """Staff send the completed paper file to review: the parent's checklist decides, as always."""
    household = locked_household(household_id)
    with staff_change():
        return dossier.submit(household, actor=staff)


def is_desk_only(household: Household) -> bool:
    return household.owner_id is None


def pending_invitation(household_id: int) -> HouseholdInvitation | None:
    return db.session.execute(
        select(HouseholdInvitation).where(HouseholdInvitation.household_id == household_id,
                                          HouseholdInvitation.used_at.is_(None),
                                          HouseholdInvitation.revoked_at.is_(None),
                                          HouseholdInvitation.expires_at > utcnow())
        .order_by(HouseholdInvitation.id.desc())
    ).scalars().first()


def invite(household_id: int, email_raw: Any, staff) -> str:
    """Mail the parent a link to claim the household's login. Returns the token (the caller shows
    nothing of it: it travels only in the mail)."""
    form = Input({"email": email_raw})
    email = form.email("email", required=True)
    form.check()
    assert email is not None
    household = locked_household(household_id)
    if household.owner_id is not None:
        db.session.rollback()
        raise Conflict(_("Ce dossier a déjà un compte en ligne."), code="has_account")
    if accounts.find_user_by_email(email) is not None:
        db.session.rollback()
        raise Conflict(_("Un compte existe déjà avec l'adresse %(email)s : un compte ne peut tenir qu'un dossier. "
                         "Invitez une autre adresse.", email=email), code="email_taken")
    now = utcnow()
    for old in db.session.execute(select(HouseholdInvitation).where(
            HouseholdInvitation.household_id == household.id, HouseholdInvitation.used_at.is_(None),
            HouseholdInvitation.revoked_at.is_(None))).scalars():
        old.revoked_at = now
        audit.record("invitation.revoked", "household_invitation", old.id, actor=staff, household_id=household.id,
                     after={"replaced": True})
    token = secrets.token_urlsafe(32)
    invitation = HouseholdInvitation(household_id=household.id, email=email, token_hash=_token_hash(token),
                                     created_by_id=getattr(staff, "id", None), created_at=now,
                                     expires_at=now + timedelta(days=INVITATION_DAYS))
    db.session.add(invitation)
    if not household.email:
        household.email = email
    db.session.flush()
    queue_mail("household_invitation", email, _("Votre accès en ligne au Portail Familles"), "household_invitation",
               household_id=household.id, household=household, days=INVITATION_DAYS,
               secret_links={"claim_url": public_url(f"{CLAIM_PATH}{token}")})
    audit.record("invitation.sent", "household_invitation", invitation.id, actor=staff, household_id=household.id,
                 after={"email": email, "expires_at": invitation.expires_at})
    db.session.commit()
    return token


def _invalid() -> ValidationFailed:
    return ValidationFailed(_("Ce lien d'invitation n'est pas valable, a expiré ou a déjà servi. Si vous avez déjà "
                              "créé votre mot de passe, connectez-vous ; sinon, demandez une nouvelle invitation "
                              "au Pôle Jeunesse."), code="bad_token")


def invitation_for_token(token: str, lock: bool = False) -> HouseholdInvitation:
    if not token or not re.fullmatch(r"[A-Za-z0-9_\-]{20,100}", token):
        raise _invalid()
    query = select(HouseholdInvitation).where(HouseholdInvitation.token_hash == _token_hash(token))
    if lock:
        query = query.with_for_update()
    invitation = db.session.execute(query).scalar_one_or_none()
    if invitation is None or invitation.used_at is not None or invitation.revoked_at is not None \
            or invitation.expires_at <= utcnow():
        raise _invalid()
    return invitation


def claim(token: str, data: Mapping[str, Any]):
    """The parent follows the link, types the invited address and a password: the Parent login is
    created and becomes the household's owner. Returns the user."""
    invitation = invitation_for_token(token, lock=True)
    form = Input(data)
    email = form.email("email", required=True)
    if email and email != invitation.email.lower():
        form.errors["email"] = _("Cette invitation a été envoyée à une autre adresse : saisissez celle à laquelle "
                                 "vous l'avez reçue.")
    accounts.check_password(data.get("password") or "", data.get("conf_password") or "", email, form.errors)
    form.check()
    household = locked_household(invitation.household_id)
    if household.owner_id is not None:
        db.session.rollback()
        raise _invalid()
    if accounts.find_user_by_email(invitation.email) is not None:
        db.session.rollback()
        raise Conflict(_("Un compte existe déjà avec cette adresse : connectez-vous, puis contactez le Pôle "
                         "Jeunesse pour y rattacher ce dossier."), code="email_taken")
    sm = accounts._sm()
    guardian = household.guardians[0] if household.guardians else None
    user = sm.add_user(username=invitation.email, first_name=(guardian.first_name if guardian else "")[:64],
                       last_name=(guardian.last_name if guardian else "")[:64], email=invitation.email,
                       role=sm.find_role(current_app.config.get("AUTH_USER_REGISTRATION_ROLE", "Parent")),
                       hashed_password=accounts._hash(data.get("password") or ""), commit=False)
    if not user:
        db.session.rollback()
        raise ValidationFailed(_("Votre compte n'a pas pu être créé. Réessayez dans quelques minutes."),
                               code="user_failed")
    household.owner_id = user.id
    invitation.used_at = utcnow()
    audit.record("invitation.claimed", "household_invitation", invitation.id, actor=user, household_id=household.id,
                 after={"owner_id": user.id, "email": invitation.email})
    db.session.commit()
    return user
