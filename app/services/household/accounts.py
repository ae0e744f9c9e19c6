"""Parent accounts: self-registration confirmed by e-mail, password rule, password reset by e-mail.

The e-mail is the login (FAB username = e-mail, lower case). A sign-up is kept in FAB's
`ab_register_user` table until its link is followed; the confirmation creates, in one transaction,
the Parent user and a draft household owned by it. Replies never say whether an address already
has an account (no account discovery): the mail does.
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.models import AccountSecurity, Guardian, Household, HouseholdStatus, db, utcnow
from app.services import audit
from app.services.errors import ValidationFailed
from app.services.household import identity
from app.services.household.dossier import Input
from app.services.mail import public_url, queue_mail

log = logging.getLogger(__name__)

PASSWORD_MIN_LENGTH = 10
CONFIRMATION_DAYS = 7
RESET_SALT = "portail-password-reset"


def password_problems(password: str | None, email: str | None = None) -> list[str]:
    """What is wrong with a new password, in French (empty list: it is acceptable)."""
    password = password or ""
    if not password:
        # One sentence, not the three rules an empty field trivially breaks.
        return [_("Choisissez un mot de passe d'au moins %(n)d caractères, avec au moins une lettre et "
                  "un chiffre.", n=PASSWORD_MIN_LENGTH)]
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(_("Le mot de passe doit contenir au moins %(n)d caractères.", n=PASSWORD_MIN_LENGTH))
    if not re.search(r"[^\W\d_]", password):
        problems.append(_("Le mot de passe doit contenir au moins une lettre."))
    if not re.search(r"[0-9]", password):  # ASCII digits: "\d" also takes Arabic-Indic ones
        problems.append(_("Le mot de passe doit contenir au moins un chiffre."))
    if email and password and email.split("@")[0].lower() in password.lower() and len(email.split("@")[0]) >= 4:
        problems.append(_("Le mot de passe ne doit pas reprendre votre adresse e-mail."))
    if password and len(set(password)) < 5:
        problems.append(_("Le mot de passe est trop simple : variez les caractères."))
    return problems


def check_password(password: str | None, confirm: str | None, email: str | None = None,
                   errors: dict | None = None) -> dict:
    errors = errors if errors is not None else {}
    problems = password_problems(password, email)
    if problems:
        errors["password"] = " ".join(problems)
    elif confirm is not None and password != confirm:
        errors["conf_password"] = _("Les deux mots de passe ne sont pas identiques.")
    return errors


def _hash(password: str) -> str:
    config = current_app.config
    return generate_password_hash(password, method=config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
                                  salt_length=config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16))


def _sm():
    return current_app.appbuilder.sm


def find_user_by_email(email: str):
    sm = _sm()
    return db.session.execute(
        select(sm.user_model).where(func.lower(sm.user_model.email) == email.lower())
    ).scalars().first()


def _find_registration(email: str):
    sm = _sm()
    model = sm.registeruser_model
    return db.session.execute(
        select(model).where((func.lower(model.email) == email.lower()) | (func.lower(model.username) == email.lower()))
    ).scalars().first()


@dataclass(frozen=True)
class SignUp:
    email: str
    existing_account: bool


def register_parent(data: Mapping[str, Any]) -> SignUp:
    """Record a sign-up and mail its confirmation link (or, for a known address, a reminder that the
    account exists, with the password-reset link). The page says the same thing in both cases."""
    form = Input(data)
    first = form.name("first_name") or ""
    last = form.name("last_name") or ""
    email = form.email("email", required=True) or ""  # required: form.check() refuses it empty
    password = data.get("password") or ""
    check_password(password, data.get("conf_password") or "", email, form.errors)
    form.check()
    # FAB's register-user columns are 64 characters long.
    first, last = first[:64], last[:64]

    # Hashed in both branches: the hash is the slow part (scrypt), and skipping it for a known address
    # made the answer time tell which addresses have an account.
    password_hash = _hash(password)
    if find_user_by_email(email) is not None:
        queue_mail("account_exists", email, _("Vous avez déjà un compte sur le Portail Familles"), "account_exists",
                   reset_url=public_url("/compte/mot-de-passe-oublie"), login_url=public_url("/login/"))
        audit.record("account.signup_existing", "user", None, after={"email": email})
        db.session.commit()
        return SignUp(email, True)

    sm = _sm()
    registration = _find_registration(email)
    if registration is None:
        registration = sm.registeruser_model()
        db.session.add(registration)
    registration.username = email
    registration.email = email
    registration.first_name = first
    registration.last_name = last
    registration.password = password_hash
    registration.registration_hash = secrets.token_urlsafe(32)
    registration.registration_date = utcnow().replace(tzinfo=None)  # FAB's column is naive: UTC here
    db.session.flush()
    queue_mail("account_confirmation", email, _("Confirmez la création de votre compte Portail Familles"),
               "account_confirmation", first_name=first, days=CONFIRMATION_DAYS,
               secret_links={"confirm_url": public_url(f"/compte/confirmer/{registration.registration_hash}")})
    audit.record("account.signup", "register_user", registration.id, after={"email": email})
    db.session.commit()
    return SignUp(email, False)


def confirm_registration(token: str):
    """Follow the mailed link: create the Parent account and its draft household. Returns the user."""
    sm = _sm()
    model = sm.registeruser_model
    registration = None
    if token and re.fullmatch(r"[A-Za-z0-9_\-]{20,100}", token):
        registration = db.session.execute(select(model).where(model.registration_hash == token)).scalars().first()
    invalid = ValidationFailed(_("Ce lien de confirmation n'est pas valable ou a déjà servi. Si votre compte est "
                                 "déjà activé, connectez-vous ; sinon, inscrivez-vous à nouveau."), code="bad_token")
    if registration is None:
        raise invalid
    registered = registration.registration_date
    if registered is not None and utcnow().replace(tzinfo=None) - registered > timedelta(days=CONFIRMATION_DAYS):
        db.session.delete(registration)
        db.session.commit()
        raise ValidationFailed(_("Ce lien de confirmation a expiré (%(days)d jours). Inscrivez-vous à nouveau.",
                                 days=CONFIRMATION_DAYS), code="expired")
    if find_user_by_email(registration.email) is not None:
        db.session.delete(registration)
        db.session.commit()
        raise invalid
    role = sm.find_role(current_app.config.get("AUTH_USER_REGISTRATION_ROLE", "Parent"))
    user = sm.add_user(username=registration.email, first_name=registration.first_name,
                       last_name=registration.last_name, email=registration.email, role=role,
                       hashed_password=registration.password, commit=False)
    if not user:
        raise ValidationFailed(_("Votre compte n'a pas pu être créé. Réessayez dans quelques minutes."),
                               code="user_failed")
    household = Household(owner_id=user.id, name=f"Foyer de {user.first_name} {user.last_name}",
                          status=HouseholdStatus.DRAFT, email=user.email)
    household.guardians.append(Guardian(first_name=user.first_name, last_name=user.last_name, email=user.email))
    db.session.add(household)
    db.session.delete(registration)
    db.session.flush()
    audit.record("account.confirmed", "user", user.id, actor=user, household_id=household.id,
                 after={"email": user.email})
    audit.record("household.created", "household", household.id, actor=user, household_id=household.id,
                 after={"status": household.status})
    db.session.commit()
    return user


# --- password reset ------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def _password_fingerprint(user) -> str:
    """Changes when the password does: a reset link works once."""
    return hashlib.sha256((user.password or "").encode()).hexdigest()[:16]


def reset_max_age() -> int:
    return int(current_app.config.get("PASSWORD_RESET_MAX_AGE", 3600))


def make_reset_token(user) -> str:
    return _serializer().dumps({"uid": user.id, "fp": _password_fingerprint(user)})


def request_password_reset(email: str | None) -> None:
    """Mail a time-limited reset link if the address has an account; the caller says the same either way."""
    email = (email or "").strip().lower()
    if not email or "@" not in email:
        raise ValidationFailed(_("Indiquez l'adresse e-mail de votre compte."), code="invalid",
                               errors={"email": _("Indiquez l'adresse e-mail de votre compte.")})
    user = find_user_by_email(email)
    if user is None or not user.active:
        log.info("password reset asked for an unknown address")
        return
    token = make_reset_token(user)
    queue_mail("password_reset", user.email, _("Réinitialisation de votre mot de passe"), "password_reset",
               first_name=user.first_name, minutes=reset_max_age() // 60,
               secret_links={"reset_url": public_url(f"/compte/nouveau-mot-de-passe/{token}")})
    audit.record("account.password_reset_requested", "user", user.id, actor=None, after={"email": user.email})
    db.session.commit()


def user_for_reset_token(token: str):
    sm = _sm()
    try:
        payload = _serializer().loads(token, max_age=reset_max_age())
    except SignatureExpired:
        raise ValidationFailed(_("Ce lien a expiré. Demandez un nouveau lien de réinitialisation."),
                               code="expired") from None
    except BadSignature:
        raise ValidationFailed(_("Ce lien n'est pas valable. Demandez un nouveau lien de réinitialisation."),
                               code="bad_token") from None
    user = db.session.get(sm.user_model, payload.get("uid")) if isinstance(payload, dict) else None
    if user is None or not user.active or payload.get("fp") != _password_fingerprint(user):
        raise ValidationFailed(_("Ce lien a déjà servi ou n'est plus valable. Demandez un nouveau lien."),
                               code="used_token")
    return user


def reset_password(token: str, password: str, confirm: str):
    user = user_for_reset_token(token)
    errors = check_password(password, confirm, user.email)
    if errors:
        raise ValidationFailed(_("Choisissez un autre mot de passe."), code="invalid", errors=errors)
    user.password = _hash(password)
    bump_auth_stamp(user.id)  # whoever had the old password is logged out everywhere
    audit.record("account.password_reset", "user", user.id, actor=user, after={"email": user.email})
    queue_mail("password_changed", user.email, _("Votre mot de passe a été modifié"), "password_changed",
               first_name=user.first_name, reset_url=public_url("/compte/mot-de-passe-oublie"))
    db.session.commit()
    return user


# --- changing one's password, and the stamp that ends the other sessions --------------------

def change_password(user, current: str | None, new: str | None, confirm: str | None) -> int:
    """A logged-in person changes their own password. The current password is asked so that a
    session left open on a shared computer cannot lock its owner out; the new one follows the same
    rules as at sign-up. Bumps the account's stamp (every other session and every JWT issued before
    ends), audits, and mails the owner so that a change they did not make does not go unnoticed.
    Returns the new stamp, for the caller to keep its own session."""
    errors: dict = {}
    if not current or not user.password or not check_password_hash(user.password, current):
        errors["current_password"] = _("Le mot de passe actuel est incorrect.")
    else:
        check_password(new, confirm, user.email, errors)
        if not errors and new == current:
            errors["password"] = _("Le nouveau mot de passe doit être différent de l'actuel.")
    if errors:
        raise ValidationFailed(_("Votre mot de passe n'a pas été modifié : corrigez les champs signalés."),
                               code="invalid", errors=errors)
    user.password = _hash(new or "")
    before = auth_stamp(user.id)
    stamp = bump_auth_stamp(user.id)
    audit.record("account.password_changed", "user", user.id, actor=user,
                 before={"auth_stamp": before}, after={"auth_stamp": stamp})
    queue_mail("password_changed", user.email, _("Votre mot de passe a été modifié"), "password_changed",
               first_name=user.first_name, reset_url=public_url("/compte/mot-de-passe-oublie"))
    db.session.commit()
    return stamp


def auth_stamp(user_id) -> int:
    """The account's current stamp (0 until its credentials first change)."""
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        return -1  # no account has it: whatever carried it is refused
    stamp = db.session.execute(
        select(AccountSecurity.auth_stamp).where(AccountSecurity.user_id == user_id)).scalar()
    return stamp or 0


def user_with_stamp(user_id) -> tuple[Any, int]:
    """The user and its stamp (from `identity`): checking a session costs no more than loading its
    user (the user lands in the session's identity map, so FAB's own lookup then costs nothing)."""
    found = identity.identity(user_id)
    return (found.user, found.stamp) if found is not None else (None, -1)


def bump_auth_stamp(user_id: int) -> int:
    """Move the account's stamp on, in the caller's transaction: sessions and JWTs issued under the
    old stamp are refused from the commit on. Called on a password change or reset (and, later, on a
    role change). The row is locked so that two changes at once give two different stamps."""
    query = select(AccountSecurity).where(AccountSecurity.user_id == user_id).with_for_update()
    row = db.session.execute(query).scalar_one_or_none()
    if row is None:
        try:
            with db.session.begin_nested():
                row = AccountSecurity(user_id=user_id, auth_stamp=0)
                db.session.add(row)
        except IntegrityError:  # a concurrent first change created it
            row = db.session.execute(query).scalar_one()
    row.auth_stamp = (row.auth_stamp or 0) + 1
    row.stamped_at = utcnow()
    db.session.flush()
    return row.auth_stamp
