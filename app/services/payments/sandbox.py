"""The sandbox provider: a local "paiement de test" page for the embedded default and demos.

It has no state of its own: a sandbox checkout is the Payment row (its token in `provider_ref`),
and its Payer / Refuser buttons call the very same service functions as Stripe's notifications
(`service.sandbox_complete` → `fulfil`). It refuses to exist when the app runs in production, on top
of `config.check_production`, so a misconfigured deployment can never take fake payments.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Mapping

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Payment, PaymentStatus, db, utcnow
from app.services.payments.provider import (
    CheckoutRequest,
    CheckoutSession,
    CheckoutState,
    CheckoutStatus,
    InvalidNotification,
    Notification,
    PaymentProvider,
    ProviderError,
    RefundOutcome,
)

GRACE = timedelta(minutes=2)


class SandboxRefused(ProviderError):
    code = "sandbox_refused"
    http_status = 403


def refuse_in_production(config: Mapping) -> None:
    if config.get("APP_ENV") == "production":
        raise SandboxRefused(_("Le paiement de test est interdit en production."))


class SandboxProvider(PaymentProvider):
    name = "sandbox"

    def __init__(self, *, config: Mapping, public_url: str):
        refuse_in_production(config)
        self.secret = (config.get("SECRET_KEY") or "sandbox").encode()
        self.public_url = public_url.rstrip("/")

    def token_for(self, payment_id: int, attempt: int) -> str:
        """Deterministic (a retry finds the same page) and unguessable (keyed by SECRET_KEY)."""
        digest = hmac.new(self.secret, f"sandbox-{payment_id}-{attempt}".encode(), hashlib.sha256).hexdigest()
        return f"sbx_{payment_id}_{digest[:32]}"

    def checkout_expires_at(self, hold_expires_at: datetime, now: datetime) -> datetime:
        return (hold_expires_at + GRACE).replace(microsecond=0)

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        token = self.token_for(request.payment_id, request.attempt)
        return CheckoutSession(ref=token, url=f"{self.public_url}/payments/sandbox/{token}",
                               expires_at=request.expires_at)

    @staticmethod
    def _payment(checkout_ref: str) -> Payment | None:
        return db.session.execute(
            select(Payment).where(Payment.provider == "sandbox", Payment.provider_ref == checkout_ref)
        ).scalar_one_or_none()

    def fetch_status(self, checkout_ref: str) -> CheckoutState:
        payment = self._payment(checkout_ref)
        if payment is None:
            return CheckoutState(CheckoutStatus.EXPIRED)
        if payment.status in (PaymentStatus.PAID, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED):
            return CheckoutState(CheckoutStatus.PAID, payment.provider_payment_ref, payment.amount_cents)
        if payment.status == PaymentStatus.FAILED:
            return CheckoutState(CheckoutStatus.FAILED)
        if payment.status == PaymentStatus.EXPIRED or (
                payment.checkout_expires_at and payment.checkout_expires_at <= utcnow()):
            return CheckoutState(CheckoutStatus.EXPIRED)
        return CheckoutState(CheckoutStatus.OPEN)

    def expire_checkout(self, checkout_ref: str) -> CheckoutState:
        # The test page checks the payment row under lock before paying: once the service marks
        # the payment expired, the page refuses to pay, exactly like an expired Stripe session.
        state = self.fetch_status(checkout_ref)
        if state.status == CheckoutStatus.OPEN:
            return CheckoutState(CheckoutStatus.EXPIRED)
        return state

    def refund(self, *, payment_ref: str | None, checkout_ref: str | None, amount_cents: int,
               idempotency_key: str, reason: str) -> RefundOutcome:
        return RefundOutcome(ref=f"sandbox_{idempotency_key}", status="succeeded")

    def verify_and_parse_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        raise InvalidNotification(_("Le paiement de test n'envoie pas de notification."))
