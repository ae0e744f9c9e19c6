"""Payments taken by staff at the desk (cash, cheques, chèques-vacances, card terminal), and baskets
whose total is zero. No payment page; a refund is handed back by staff (or by the treasury), so the
provider simply records it."""
from __future__ import annotations

from datetime import datetime
from typing import Mapping

from flask_babel import gettext as _

from app.services.localize import DESK_PAYMENT_METHODS, PAYMENT_METHOD_LABELS
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

DESK_METHODS = {method: PAYMENT_METHOD_LABELS[method] for method in DESK_PAYMENT_METHODS}


class DeskProvider(PaymentProvider):
    online = False

    def __init__(self, name: str = "desk"):
        self.name = name

    def checkout_expires_at(self, hold_expires_at: datetime, now: datetime) -> datetime:
        return hold_expires_at

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        raise ProviderError(_("Ce mode de paiement n'a pas de page de paiement."))

    def fetch_status(self, checkout_ref: str) -> CheckoutState:
        return CheckoutState(CheckoutStatus.EXPIRED)

    def expire_checkout(self, checkout_ref: str) -> CheckoutState:
        return CheckoutState(CheckoutStatus.EXPIRED)

    def refund(self, *, payment_ref: str | None, checkout_ref: str | None, amount_cents: int,
               idempotency_key: str, reason: str) -> RefundOutcome:
        return RefundOutcome(ref=f"{self.name}_{idempotency_key}", status="succeeded")

    def verify_and_parse_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        raise InvalidNotification(_("Ce mode de paiement n'envoie pas de notification."))
