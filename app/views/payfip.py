"""PayFiP's two calls to the portal: the server-to-server notification and the parent's return.

A plain Flask blueprint like the Stripe webhook (no Flask-AppBuilder permission: PayFiP has no
account here). Both are CSRF-exempt and trust nothing but the operation id they carry: the service
reads the result back from PayFiP (app/services/payments/payfip_provider.py) and runs the same
fulfilment as every other provider. The return page then hands the parent, by a GET redirect (the
session cookie is sent again), to the ordinary return page, scoped to their household.

POST /payments/payfip/notification   idOp=…   → 200, 400 unreadable, 503 PayFiP unreachable or busy
GET|POST /payments/payfip/retour     idop=…   → 303 to /famille/paiement/retour?session_id=… (paid or
                                              not known yet) or /famille/paiement/annule (not paid)
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, redirect, request, url_for

from app.models import db
from app.services import payments as service
from app.services.errors import Busy, ServiceError
from app.services.payments.payfip_provider import idop_from
from app.services.payments.provider import InvalidNotification, ProviderUnavailable

log = logging.getLogger(__name__)

payfip_bp = Blueprint("payfip", __name__, url_prefix="/payments/payfip")


def _notify(idop: str | None, raw_body: bytes):
    """Run the notification service; (answer, HTTP status)."""
    try:
        result = service.handle_notification("payfip", raw_body if idop is None else f"idOp={idop}".encode(), {})
    except InvalidNotification as exc:
        log.warning("payfip notification refused: %s", exc.message)
        return {"error": exc.code, "message": exc.message}, 400
    except (Busy, ProviderUnavailable) as exc:
        return {"error": exc.code, "message": exc.message}, 503
    except ServiceError as exc:  # PayFiP not configured on this instance, refused answer…
        log.error("payfip notification not processed: %s", exc.message)
        return {"error": exc.code, "message": exc.message}, 400
    finally:
        db.session.remove()
    return {"received": True, "status": result.status, "outcome": result.outcome, "event_id": result.event_id}, 200


def _idop() -> str | None:
    """The operation id, wherever PayFiP puts it (form body, query string); the form may already
    have been parsed by an earlier hook, so it is read from there first."""
    for source in (request.form, request.args):
        for name in ("idOp", "idop"):
            values = source.getlist(name)
            if values:
                return idop_from(f"idOp={values[0]}") if len(values) == 1 else None
    return idop_from(request.get_data(cache=True, as_text=False))


@payfip_bp.post("/notification")
def notification():
    idop = _idop()
    answer, status = _notify(idop, b"" if idop else b"-")
    response = jsonify(answer)
    if status == 503:
        response.headers["Retry-After"] = "30"
    return response, status


@payfip_bp.route("/retour", methods=["GET", "POST"])
def back():
    idop = _idop()
    if idop is None:
        return redirect(url_for("ParentBasketView.basket"), code=303)
    answer, _status = _notify(idop, b"")
    # The event id ends with the result read back from PayFiP (see the provider): not paid → the
    # page that offers to pay again or change the basket; paid, or not known yet (PayFiP slow, lock
    # busy) → the return page, which asks again and refreshes itself until it knows.
    result = str(answer.get("event_id") or "").rpartition(":")[2]
    if result in ("failed", "expired"):
        return redirect(url_for("ParentPaymentView.cancelled", refuse="1" if result == "failed" else None), code=303)
    return redirect(url_for("ParentPaymentView.back", session_id=idop), code=303)


def register(appbuilder) -> None:
    app = current_app._get_current_object()
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(notification)
        csrf.exempt(back)
    if "payfip" not in app.blueprints:
        app.register_blueprint(payfip_bp)
