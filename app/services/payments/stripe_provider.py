"""Stripe Checkout: one Checkout Session per payment attempt of a basket, verified webhooks, refunds.

Choices worth knowing (see also service.py):

* Expiry of the session. Stripe accepts `expires_at` between 30 minutes and 24 hours after
  creation. We ask for the basket's hold end plus a short grace (`GRACE`), raised to the
  30-minute floor (plus a safety margin for clock skew) and capped below 24 hours. The session
  therefore usually outlives the hold: the expiry job of the basket expires the session at the
  hold's end (`sessions.expire`, which only works on open sessions) and a payment that still lands
  late goes through the late-payment path (places re-taken if free, else automatic refund). The
  grace only covers a lost or late expiry job; it never extends the hold, which stays exactly what
  the parent's countdown shows.
* Idempotency. The key is derived from the basket and the attempt number
  (`portail-basket-<id>-attempt-<n>`) and every parameter comes from the database (the expiry is
  stored on the payment row before the first call), so a retry after a network error sends the
  same request and Stripe answers with the same session instead of opening a second one.
* Amounts are integer cents in EUR, one line item per reservation, `client_reference_id` and
  metadata carry the basket and payment ids so that a notification can always be matched.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, cast

import stripe
from flask_babel import gettext as _

from app.services.payments.provider import (
    CheckoutRequest,
    CheckoutSession,
    CheckoutState,
    CheckoutStatus,
    InvalidNotification,
    Notification,
    NotificationKind,
    PaymentProvider,
    ProviderError,
    ProviderUnavailable,
    RefundOutcome,
)

log = logging.getLogger(__name__)

# Stripe's bounds for a Checkout Session's expires_at, with margins for clock skew and latency.
STRIPE_MIN_LIFETIME = timedelta(minutes=30)
STRIPE_MAX_LIFETIME = timedelta(hours=24)
SAFETY_MARGIN = timedelta(minutes=2)
GRACE = timedelta(minutes=2)

HANDLED_EVENTS = {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
}


def _get(obj, key, default=None):
    """StripeObject has no .get(): attribute access raises, item access raises KeyError."""
    if obj is None:
        return default
    try:
        value = obj[key]
    except (KeyError, TypeError, AttributeError):
        return default
    return default if value is None else value


def _int_or_none(value) -> int | None:
    """Integers for our own columns (ids, cents): anything else, or out of range, is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 <= value < 2**31:
        return value
    return None


def _clean_str(value, max_length: int = 255) -> str | None:
    """A provider id we will store or look up: a short printable string, else None."""
    if not isinstance(value, str) or not value or len(value) > max_length or not value.isprintable():
        return None
    return value


def _id_of(value) -> str | None:
    """An expandable field: either an id string or an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    elif value is not None and not isinstance(value, str):
        value = _get(value, "id")
    return _clean_str(value)


class StripeProvider(PaymentProvider):
    name = "stripe"

    def __init__(self, *, secret_key: str | None, webhook_secret: str | None,
                 http_client: stripe.HTTPClient | None = None, max_network_retries: int = 2,
                 webhook_tolerance: int = stripe.Webhook.DEFAULT_TOLERANCE):
        if not secret_key:
            raise ProviderError(_("Le paiement en ligne n'est pas configuré (clé Stripe absente). "
                                  "Contactez le Pôle Jeunesse."), code="payment_not_configured")
        self.webhook_secret = webhook_secret
        self.webhook_tolerance = webhook_tolerance
        self.client = stripe.StripeClient(secret_key, http_client=http_client,
                                          max_network_retries=max_network_retries)

    # --- errors ------------------------------------------------------------------------------
    @staticmethod
    def _translate(exc: stripe.StripeError) -> ProviderError:
        if isinstance(exc, (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)):
            log.warning("stripe unavailable: %s", exc)
            return ProviderUnavailable()
        if isinstance(exc, stripe.AuthenticationError):
            log.error("stripe authentication failed: check STRIPE_SECRET_KEY")
            return ProviderUnavailable(_("Le paiement en ligne est momentanément indisponible. "
                                         "Rien n'a été débité : réessayez plus tard."))
        log.warning("stripe refused the request: %s", exc)
        return ProviderError(_("Le service de paiement a refusé la demande. Rien n'a été débité : "
                               "réessayez, ou contactez le Pôle Jeunesse si cela se reproduit."),
                             provider_message=str(exc))

    # --- checkout ----------------------------------------------------------------------------
    def checkout_expires_at(self, hold_expires_at: datetime, now: datetime) -> datetime:
        earliest = now + STRIPE_MIN_LIFETIME + SAFETY_MARGIN
        latest = now + STRIPE_MAX_LIFETIME - SAFETY_MARGIN
        wanted = hold_expires_at + GRACE
        return min(max(wanted, earliest), latest).replace(microsecond=0)

    def session_params(self, request: CheckoutRequest) -> dict:
        metadata = {"basket_id": str(request.basket_id), "payment_id": str(request.payment_id),
                    "household_id": str(request.household_id), "attempt": str(request.attempt)}
        return {
            "mode": "payment",
            "currency": request.currency.lower(),
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": request.currency.lower(),
                        "unit_amount": line.amount_cents,
                        "product_data": {"name": line.label[:250],
                                         "metadata": {"reservation_id": str(line.reservation_id)}},
                    },
                }
                for line in request.lines
            ],
            "client_reference_id": str(request.basket_id),
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata,
                                    "description": f"Portail Familles — panier n° {request.basket_id}"},
            **({"customer_email": request.customer_email} if request.customer_email else {}),
            "expires_at": int(request.expires_at.timestamp()),
            "locale": "fr",
            "submit_type": "pay",
            "success_url": request.success_url + "?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": request.cancel_url,
        }

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        try:
            # A plain dict built field by field: Stripe's TypedDict is checked by its API instead.
            session = self.client.v1.checkout.sessions.create(
                cast(Any, self.session_params(request)), {"idempotency_key": request.idempotency_key})
        except stripe.StripeError as exc:
            raise self._translate(exc) from exc
        expires = _get(session, "expires_at")
        return CheckoutSession(ref=session["id"], url=session["url"],
                               expires_at=datetime.fromtimestamp(expires, timezone.utc) if expires else None)

    @staticmethod
    def _state(session) -> CheckoutState:
        status = _get(session, "status")
        payment_status = _get(session, "payment_status")
        payment_ref = _id_of(_get(session, "payment_intent"))
        amount = _int_or_none(_get(session, "amount_total"))
        if status == "complete":
            if payment_status in ("paid", "no_payment_required"):
                return CheckoutState(CheckoutStatus.PAID, payment_ref, amount)
            return CheckoutState(CheckoutStatus.PROCESSING, payment_ref, amount)
        if status == "expired":
            return CheckoutState(CheckoutStatus.EXPIRED, payment_ref, amount)
        return CheckoutState(CheckoutStatus.OPEN, payment_ref, amount)

    def fetch_status(self, checkout_ref: str) -> CheckoutState:
        try:
            session = self.client.v1.checkout.sessions.retrieve(checkout_ref)
        except stripe.StripeError as exc:
            raise self._translate(exc) from exc
        return self._state(session)

    def expire_checkout(self, checkout_ref: str) -> CheckoutState:
        try:
            session = self.client.v1.checkout.sessions.expire(checkout_ref)
            return self._state(session)
        except stripe.InvalidRequestError:
            # Only open sessions can be expired: it is complete (paid or processing) or already
            # expired. Ask what it is rather than guess.
            pass
        except stripe.StripeError as exc:
            raise self._translate(exc) from exc
        return self.fetch_status(checkout_ref)

    # --- refunds -----------------------------------------------------------------------------
    def refund(self, *, payment_ref: str | None, checkout_ref: str | None, amount_cents: int,
               idempotency_key: str, reason: str) -> RefundOutcome:
        if not payment_ref and checkout_ref:
            payment_ref = self.fetch_status(checkout_ref).payment_ref
        if not payment_ref:
            raise ProviderError(_("Paiement introuvable chez Stripe : remboursement impossible."),
                                code="refund_no_payment")
        params: Any = {"payment_intent": payment_ref, "amount": amount_cents,
                       "metadata": {"reason": reason[:490]}}
        try:
            refund = self.client.v1.refunds.create(params, {"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise self._translate(exc) from exc
        status = _get(refund, "status")
        if status in ("failed", "canceled"):
            raise ProviderError(_("Stripe a refusé le remboursement."), provider_message=str(status))
        # "pending" / "requires_action": Stripe has accepted it; the money is on its way.
        return RefundOutcome(ref=refund["id"], status="succeeded")

    # --- notifications -----------------------------------------------------------------------
    def verify_and_parse_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        """Verify the signature on the raw bytes, then read the event defensively: Stripe signs what
        it sends, but shapes change with API versions; anything unexpected is ignored or refused
        (400), never trusted."""
        if not self.webhook_secret:
            raise InvalidNotification(_("Notification refusée : STRIPE_WEBHOOK_SECRET n'est pas configuré."))
        signature = headers.get("Stripe-Signature")
        try:
            stripe.WebhookSignature.verify_header(raw_body, signature, self.webhook_secret,
                                                  self.webhook_tolerance)
            payload = raw_body.decode("utf-8")
            data = json.loads(payload)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise InvalidNotification(_("Signature de notification invalide.")) from exc
        if not isinstance(data, dict):
            raise InvalidNotification(_("Notification illisible."))
        event_id = _clean_str(data.get("id"))
        event_type = _clean_str(data.get("type"), max_length=100)
        if not event_id or not event_type:
            raise InvalidNotification(_("Notification illisible."))
        envelope = data.get("data")
        obj = envelope.get("object") if isinstance(envelope, dict) else None
        if not isinstance(obj, dict):
            obj = {}
        metadata = obj.get("metadata")
        if not isinstance(metadata, dict):
            metadata = {}
        common: dict[str, Any] = dict(
            event_id=event_id, event_type=event_type, payload=payload,
            payment_id=_int_or_none(metadata.get("payment_id")),
            basket_id=_int_or_none(metadata.get("basket_id", obj.get("client_reference_id"))))
        if event_type.startswith("checkout.session."):
            common.update(checkout_ref=_clean_str(obj.get("id")), payment_ref=_id_of(obj.get("payment_intent")),
                          amount_cents=_int_or_none(obj.get("amount_total")))
            currency = obj.get("currency")
            if currency is not None and (not isinstance(currency, str) or currency.lower() != "eur"):
                common["extra"] = {"currency": str(currency)[:10]}
        if event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
            paid = obj.get("payment_status") in ("paid", "no_payment_required")
            kind = NotificationKind.PAYMENT_SUCCEEDED if paid else NotificationKind.PAYMENT_PENDING
        elif event_type == "checkout.session.async_payment_failed":
            kind = NotificationKind.PAYMENT_FAILED
        elif event_type == "checkout.session.expired":
            kind = NotificationKind.CHECKOUT_EXPIRED
        elif event_type == "charge.refunded":
            kind = NotificationKind.REFUNDED
            common.update(payment_ref=_id_of(obj.get("payment_intent")),
                          amount_cents=_int_or_none(obj.get("amount")),
                          amount_refunded_cents=_int_or_none(obj.get("amount_refunded")))
        else:
            kind = NotificationKind.IGNORED
        return Notification(kind=kind, **common)
