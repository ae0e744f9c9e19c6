"""Guards shared by every route: bad ids are 404, unknown FAB actions are 404, the parent area's
errors are French pages in the portal's layout, every answer carries the security headers (no
framing by another site, a Content-Security-Policy), and logging out takes a same-site POST."""
from __future__ import annotations

from flask import (
    Flask,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
)
from flask_talisman import DENY, SAMEORIGIN, Talisman
from werkzeug.exceptions import HTTPException

# Paths of the parent area, whose errors are shown in French in the portal's layout; staff screens
# keep Flask-AppBuilder's.
PARENT_PREFIXES = ("/famille", "/compte", "/payments/sandbox")


from app.models.types import MAX_ID  # noqa: E402 (the bound of every id, shared with the API)


def register_hardening(app: Flask) -> None:
    def _parent_http_error(error):
        if not isinstance(error, HTTPException) or not request.path.startswith(PARENT_PREFIXES):
            return error
        return render_template("parent/http_error.html", code=error.code), error.code

    for code in (403, 404, 405, 500):
        app.register_error_handler(code, _parent_http_error)

    @app.before_request
    def _jwt_login_needs_its_provider():
        # FAB 5.3's login schema leaves "provider" optional but its view reads it (KeyError → 500).
        if request.endpoint == "SecurityApi.login" and request.is_json:
            body = request.get_json(silent=True)
            if isinstance(body, dict) and "provider" not in body:
                return jsonify(message={"provider": ["Champ obligatoire : « db »."]}), 400
        return None

    @app.before_request
    def _ids_beyond_the_database_are_404():
        for name, value in (request.view_args or {}).items():
            if isinstance(value, str) and (name == "pk" or name.endswith("_id")):
                # FAB's routes take the primary key as a string: only a number the database can hold
                # may reach it.
                if not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
                    abort(404)
            elif isinstance(value, int) and not isinstance(value, bool) and value > MAX_ID:
                abort(404)
        return None

    @app.before_request
    def _unknown_action_is_404():
        # FAB's ModelView.action(<name>, <pk>) and action_post (form field "action") look the action
        # up without checking it exists (AttributeError → 500, for anyone, anonymous included).
        endpoint = request.endpoint or ""
        view_name, _, method = endpoint.rpartition(".")
        if method == "action":
            name = (request.view_args or {}).get("name")
        elif method == "action_post" and request.method == "POST":
            name = request.form.get("action")
        else:
            return None
        view = next((v for v in current_app.appbuilder.baseviews if v.endpoint == view_name), None)
        if view is not None and name not in getattr(view, "actions", {}):
            abort(404)
        return None

    _register_security_headers(app)
    _register_logout_by_post(app)


# --- security headers ----------------------------------------------------------------------

# Pages that are the portal's own templates (parent area, account pages, API, static files): no
# inline script or style at all, nothing from another origin. Scripts live in app/static/.
# The animators' phone pages (issue 18) are the portal's own templates too.
STRICT_CSP_PREFIXES = PARENT_PREFIXES + ("/login", "/logout", "/api/", "/static/", "/health", "/animateur")

_COMMON_CSP = {
    "default-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    # Nobody may frame any page: staff one-click actions and the « Payer » button are not clickjackable.
    "frame-ancestors": "'none'",
    # Forms post to the portal only; Stripe Checkout is reached by a redirect after the portal's POST,
    # which Chromium checks against form-action too.
    "form-action": "'self' https://checkout.stripe.com",
    # The parent layout's favicon is an empty data: URL (no request at all).
    "img-src": "'self' data:",
}
# PayFiP's payment page (app/services/payments/payfip_provider.py), added when it is the provider.
PAYFIP_ORIGIN = "https://www.payfip.gouv.fr"
STRICT_CSP = {**_COMMON_CSP, "script-src": "'self'", "style-src": "'self'"}
# Flask-AppBuilder's own templates (list, show, edit, menus, action confirmations) ship inline
# <script> blocks, onclick attributes and style attributes that the portal cannot rewrite without
# forking FAB. Staff screens therefore allow inline code — but nothing from another origin, and
# never framed. No nonce here: a nonce would make browsers ignore 'unsafe-inline'.
STAFF_CSP = {**_COMMON_CSP, "script-src": "'self' 'unsafe-inline'", "style-src": "'self' 'unsafe-inline'",
             # The file review page shows a PDF proof in an <object> from this origin.
             "object-src": "'self'"}
# The proofs themselves, which that <object> embeds: framed by the portal's own pages only.
EMBEDDED_BY_SELF_PREFIXES = ("/revue-dossiers/document/",)
EMBEDDED_CSP = {**STRICT_CSP, "frame-ancestors": "'self'"}


class _PortalTalisman(Talisman):
    """Talisman with one policy per area: strict on the portal's own pages, FAB-compatible on staff
    screens. Talisman only offers per-view options through attributes on view functions, which
    FAB's bound-method views cannot carry, so the choice is made here from the path
    (flask-talisman 1.1.0, pinned)."""

    def _get_local_options(self):
        options = dict(super()._get_local_options())
        if request.path.startswith(EMBEDDED_BY_SELF_PREFIXES):
            options["frame_options"] = SAMEORIGIN
            options["content_security_policy"] = EMBEDDED_CSP
        elif request.path.startswith(STRICT_CSP_PREFIXES):
            options["content_security_policy"] = STRICT_CSP
        else:
            options["content_security_policy"] = STAFF_CSP
        if current_app.config.get("PAYMENT_PROVIDER") == "payfip":
            # « Payer » posts to the portal, which redirects to PayFiP's page: form-action must allow it.
            policy = dict(options["content_security_policy"])
            policy["form-action"] = f"{policy['form-action']} {PAYFIP_ORIGIN}"
            options["content_security_policy"] = policy
        return options


def _register_security_headers(app: Flask) -> None:
    """X-Frame-Options, CSP, nosniff, Referrer-Policy on every answer (pages, API, errors, static),
    and HSTS plus Secure cookies when the portal is published over https.

    The laptop demo is served over plain http: no redirect to https (Talisman's default would make
    it unreachable) and no Secure cookie (the browser would drop it and nobody could log in).
    Behind a TLS proxy Talisman sends HSTS when the request is https or X-Forwarded-Proto says so."""
    https = str(app.config.get("PUBLIC_URL", "")).lower().startswith("https://")
    if https:
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["REMEMBER_COOKIE_SECURE"] = True
    _PortalTalisman(
        app,
        force_https=False,
        frame_options=DENY,
        strict_transport_security=https,
        content_security_policy=STRICT_CSP,
        referrer_policy="same-origin",
        # Talisman would force Secure on every non-debug app, http demo included: decided above.
        session_cookie_secure=False,
        session_cookie_http_only=True,
        session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE") or "Lax",
    )


# --- logout --------------------------------------------------------------------------------

def _register_logout_by_post(app: Flask) -> None:
    """FAB logs out on GET /logout/, so any site could log a user out with an <img>. Here GET only
    shows a French page with the button, and the logout itself is a POST checked by CSRFProtect
    (an app route, not exempt), which then runs FAB's own logout view (hooks, redirect)."""
    logout_endpoint = f"{app.appbuilder.sm.auth_view.endpoint}.logout"
    rule = next(app.url_map.iter_rules(logout_endpoint))

    def portal_logout():
        return current_app.view_functions[logout_endpoint]()

    # Named like FAB's own endpoint: it is the login view's logout, public like the rest of that view.
    app.add_url_rule(rule.rule, endpoint=f"{logout_endpoint}_post", view_func=portal_logout, methods=["POST"])

    @app.before_request
    def _get_logout_only_asks():
        if request.endpoint != logout_endpoint:
            return None
        user = getattr(g, "user", None)
        if user is None or not user.is_authenticated:
            return redirect("/")
        return render_template("auth/logout.html", logout_url=rule.rule)
