"""One's own account: change one's password (/compte/mot-de-passe), for parents, staff and admins
alike, and the session/JWT guard that makes a password change or reset end every other session.

Why a guard: Flask sessions are signed cookies and JWTs are self-contained, so neither can be
"deleted" on the server. Each carries the account's security stamp from the moment it was issued
(`app.models.AccountSecurity`); a change bumps the stamp, and a session or token showing an older
one is refused — a browser is logged out with a French message, an API call gets a JSON 401. The
check rides on the user lookup that happens anyway (one query, see accounts.user_with_stamp).

FAB's self-service form (`/resetmypassword/form`) asked no current password, skipped the portal's
password rules, sent no mail and wrote no audit: its route now only leads here.
"""
from __future__ import annotations

import logging
import time

from flask import flash, g, jsonify, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import no_cache
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import login_required, user_logged_in

log = logging.getLogger(__name__)

# Where a browser session keeps the stamp it was opened under (absent in sessions older than the
# stamp: they count as stamp 0, which is every account's stamp until its first change).
SESSION_STAMP_KEY = "_auth_stamp"
JWT_STAMP_CLAIM = "auth_stamp"
# Flask-Login's own session keys: removing them ends the login without touching the rest.
_LOGIN_KEYS = ("_user_id", "_fresh", "_id", SESSION_STAMP_KEY)


class ResetMyPasswordView(BaseView):
    """Change one's own password at /compte/mot-de-passe, for every logged-in person (parents, staff,
    admins). It replaces FAB's view of the same name (PortalSecurityManager.resetmypasswordview):
    FAB's `/resetmypassword/form` and its user-info "reset my password" action, which uses these
    endpoint names, only lead here and change nothing.

    No FAB permission on purpose: everyone with an account has a password, and the service only
    ever touches `g.user`'s own account. `route_base = "/"` because the two URLs have no common
    prefix."""

    route_base = "/"
    default_view = "password"

    def _layout(self) -> str:
        from app.roles import PARENT

        if any(role.name == PARENT for role in g.user.roles):
            return "parent/base.html"
        return self.appbuilder.base_template

    @expose("/compte/mot-de-passe", methods=["GET", "POST"])
    @login_required
    @no_cache
    def password(self):
        from app.services.errors import ServiceError
        from app.services.household import accounts

        errors = {}
        if request.method == "POST":
            try:
                stamp = accounts.change_password(g.user, request.form.get("current_password"),
                                                 request.form.get("password"), request.form.get("conf_password"))
            except ServiceError as exc:
                errors = exc.details.get("errors") or {"password": exc.message}
                flash(exc.message, "danger")
            else:
                session[SESSION_STAMP_KEY] = stamp  # this browser stays logged in
                flash(_("Votre mot de passe a été modifié. Un e-mail de confirmation vous a été envoyé."),
                      "success")
                return redirect(url_for(".password"))
        return self.render_template("account/password.html", layout=self._layout(), errors=errors,
                                    min_length=accounts.PASSWORD_MIN_LENGTH), (400 if errors else 200)

    @expose("/resetmypassword/form", methods=["GET"])
    def this_form_get(self):
        return redirect(url_for(".password"))

    @expose("/resetmypassword/form", methods=["POST"])
    def this_form_post(self):
        # FAB's form set a password without asking the current one: nothing is read from this POST.
        return redirect(url_for(".password"), code=303)


# --- the guard, wired by PortalSecurityManager (app/security.py) ----------------------------

def _stamp_new_session(sender, user, **extra) -> None:
    """Every login (form, sign-up confirmation…) goes through login_user: record the stamp then."""
    from app.services.household import accounts

    session[SESSION_STAMP_KEY] = accounts.auth_stamp(user.id)


def configure_login_manager(lm, security_manager) -> None:
    """Load session users through the stamp check, and send `login_required` pages to the portal's
    login page with a French message (FAB's `login_view = "login"` names no endpoint)."""
    lm.login_view = f"{security_manager.authdbview.__name__}.login"
    lm.login_message = lazy_gettext("Connectez-vous pour accéder à cette page.")
    lm.login_message_category = "warning"
    lm.user_loader(load_session_user)
    user_logged_in.connect(_stamp_new_session)  # a module function: connected once, whatever the app count


def load_session_user(user_id):
    from app.services.household import accounts

    user, stamp = accounts.user_with_stamp(user_id)
    if user is None or not user.is_active:
        return None
    if session.get(SESSION_STAMP_KEY, 0) != stamp:
        # Not logout_user(): it would ask Flask-Login for the current user, i.e. call us again.
        for key in _LOGIN_KEYS:
            session.pop(key, None)
        session["_remember"] = "clear"
        flash(_("Votre mot de passe a été modifié depuis votre connexion : reconnectez-vous."), "warning")
        log.info("session of user %s ended: its stamp is out of date", user.id)
        return None
    return user


def configure_jwt_manager(jwt_manager) -> None:
    """Tokens carry the stamp as a claim; one with an older stamp (refresh tokens included) is
    refused with a French JSON 401. FAB's user_lookup_loader is left as it is."""
    jwt_manager.additional_claims_loader(_stamp_claims)
    jwt_manager.token_in_blocklist_loader(_token_is_stale)
    jwt_manager.revoked_token_loader(_stale_token_response)
    _remember_verified_tokens(jwt_manager)


VERIFIED_TOKENS = 4096


def _remember_verified_tokens(jwt_manager, size: int = VERIFIED_TOKENS) -> None:
    """Verify a token's signature once per process, not on every request (issue 21: PyJWT decodes a
    header token three times per request, ~10 % of an add). Only a token that passed the full check
    is kept, with its claims, and only until its `exp`: past it, or for any other shape (CSRF value,
    expired allowed, no `exp`), flask_jwt_extended's own decode runs. What can change during a
    token's life is still read on every request: its stamp (a password change ends it) and the
    user's roles (`_token_is_stale`, the API gate)."""
    decode = jwt_manager._decode_jwt_from_config  # flask_jwt_extended 4.7's one decode (pinned)
    verified: dict[str, dict] = {}

    def decode_once(encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        plain = csrf_value is None and not allow_expired
        claims = verified.get(encoded_token) if plain else None
        if claims is not None and time.time() < claims["exp"]:
            return dict(claims)
        claims = decode(encoded_token, csrf_value, allow_expired)
        if plain and isinstance(claims.get("exp"), (int, float)):
            if len(verified) >= size:
                verified.clear()  # a burst of new tokens: start again rather than grow
            verified[encoded_token] = dict(claims)
        return claims

    jwt_manager._decode_jwt_from_config = decode_once


def _stamp_claims(identity) -> dict:
    from app.services.household import accounts

    return {JWT_STAMP_CLAIM: accounts.auth_stamp(identity)}


def _token_is_stale(_jwt_header, jwt_payload) -> bool:
    from app.services.household import accounts

    # Loads the user with its stamp: FAB's user lookup right after finds it in the identity map.
    user, stamp = accounts.user_with_stamp(jwt_payload.get("sub"))
    return user is None or jwt_payload.get(JWT_STAMP_CLAIM, 0) != stamp


def _stale_token_response(_jwt_header, _jwt_payload):
    response = jsonify(code="session_ended", message=_(
        "Ce jeton n'est plus valable : le mot de passe du compte a été modifié. Reconnectez-vous."))
    response.status_code = 401
    return response

