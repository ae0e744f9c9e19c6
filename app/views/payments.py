"""Provider-facing routes: the Stripe webhook and the sandbox's test payment page.

A plain Flask blueprint (no Flask-AppBuilder permission: Stripe has no account here, the sandbox
page is reached through its unguessable token like a Stripe page). The webhook is CSRF-exempt,
reads the raw body (the signature is over the exact bytes), and answers:
400 bad signature, 503 lock timeout or provider unreachable (Stripe retries), 200 otherwise.
"""
from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for

from app.models import db
from app.services import payments as service
from app.services.errors import Busy, ServiceError
from app.services.payments.provider import InvalidNotification, ProviderUnavailable
from app.services.payments.sandbox import SandboxRefused

log = logging.getLogger(__name__)

payments_bp = Blueprint("payments", __name__, url_prefix="/payments")


@payments_bp.post("/stripe/webhook")
def stripe_webhook():
    raw_body = request.get_data(cache=False, as_text=False, parse_form_data=False)
    try:
        result = service.handle_notification("stripe", raw_body, request.headers)
    except InvalidNotification as exc:
        log.warning("stripe webhook refused: %s", exc.message)
        return jsonify(error=exc.code, message=exc.message), 400
    except (Busy, ProviderUnavailable) as exc:  # the service rolled its transaction back
        response = jsonify(error=exc.code, message=exc.message)
        response.headers["Retry-After"] = "5"
        return response, 503
    except ServiceError as exc:  # e.g. Stripe not configured on this instance
        log.error("stripe webhook not processed: %s", exc.message)
        return jsonify(error=exc.code, message=exc.message), 400
    finally:
        db.session.remove()
    return jsonify(received=True, status=result.status, outcome=result.outcome), 200


def _sandbox_allowed() -> None:
    if current_app.config.get("APP_ENV") == "production":
        abort(404)


@payments_bp.get("/sandbox/<token>")
def sandbox_page(token: str):
    _sandbox_allowed()
    try:
        payment, lines = service.sandbox_checkout(token)
    except SandboxRefused:
        abort(404)
    except ServiceError:
        abort(404)
    return render_template("parent/payment/sandbox.html", payment=payment, lines=lines, token=token)


@payments_bp.post("/sandbox/<token>")
def sandbox_submit(token: str):
    _sandbox_allowed()
    action = request.form.get("action")
    try:
        service.sandbox_complete(token, "pay" if action == "pay" else "refuse")
    except SandboxRefused:
        abort(404)
    except ServiceError as exc:
        if exc.http_status == 404:
            abort(404)
        flash(exc.message, "danger")
        return redirect(url_for(".sandbox_page", token=token))
    if action == "pay":
        return redirect(url_for("ParentPaymentView.back", session_id=token))
    return redirect(url_for("ParentPaymentView.cancelled", refuse=1))


def register(appbuilder) -> None:
    """Register the blueprint (CSRF-exempt webhook) on the app being built."""
    app = current_app._get_current_object()  # register_views runs inside the app context
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(stripe_webhook)
    if "payments" not in app.blueprints:
        app.register_blueprint(payments_bp)
