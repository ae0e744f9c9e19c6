"""The payment provider interface: what booking code may ask of a card-payment service.

Booking and payment services only speak these dataclasses; Stripe, the local sandbox, the desk
(cash, cheques…) and a future PayFiP provider each translate them to their own protocol. Adding a
provider means one new module here and one line in `registry.py`, nothing in the booking code.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from flask_babel import gettext as _

from app.services.errors import ServiceError

# --- errors ------------------------------------------------------------------------------------

class ProviderError(ServiceError):
    """The provider refused the request (bad parameters, refund impossible…): retrying will not help."""

    code = "payment_provider_error"
    http_status = 502


class ProviderUnavailable(ProviderError):
    """Network error, timeout or provider outage: the request may or may not have been applied.
    Every call is idempotent (idempotency keys), so the caller retries with the same key."""

    code = "payment_provider_unavailable"
    http_status = 503

    def __init__(self, message: str | None = None, **kwargs):
        super().__init__(message or _("Le service de paiement ne répond pas pour le moment. "
                                      "Rien n'a été débité : réessayez dans quelques minutes."), **kwargs)


class InvalidNotification(ServiceError):
    """A notification whose signature or content cannot be trusted."""

    code = "invalid_notification"
    http_status = 400


# --- values exchanged with providers -----------------------------------------------------------

@dataclass(frozen=True)
class CheckoutLine:
    reservation_id: int
    label: str
    amount_cents: int


@dataclass(frozen=True)
class CheckoutRequest:
    """Everything a provider needs to open a payment page for one payment attempt of one basket.

    Built from the database only (never from the clock), so that a retry after a network error
    sends exactly the same parameters under the same idempotency key."""

    payment_id: int
    basket_id: int
    household_id: int
    attempt: int
    amount_cents: int
    currency: str
    customer_email: str | None
    expires_at: datetime
    lines: tuple[CheckoutLine, ...]
    success_url: str
    cancel_url: str

    @property
    def idempotency_key(self) -> str:
        return f"portail-basket-{self.basket_id}-attempt-{self.attempt}"


@dataclass(frozen=True)
class CheckoutSession:
    ref: str  # the provider's id of the payment page (Stripe Checkout Session id, sandbox token)
    url: str
    expires_at: datetime | None = None


class CheckoutStatus:
    OPEN = "open"  # the payer can still pay
    PAID = "paid"  # money received
    PROCESSING = "processing"  # completed, money not yet received (delayed payment methods)
    EXPIRED = "expired"  # can no longer be paid, nothing received
    FAILED = "failed"  # the payment failed for good


@dataclass(frozen=True)
class CheckoutState:
    status: str
    payment_ref: str | None = None  # Stripe PaymentIntent id
    amount_cents: int | None = None


@dataclass(frozen=True)
class RefundOutcome:
    ref: str | None
    status: str  # "succeeded" or "pending" (the provider will confirm later)


class NotificationKind:
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_PENDING = "payment_pending"  # checkout completed, payment not received yet
    PAYMENT_FAILED = "payment_failed"
    CHECKOUT_EXPIRED = "checkout_expired"
    REFUNDED = "refunded"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Notification:
    """A verified provider notification, in the portal's words."""

    event_id: str
    event_type: str  # the provider's own name, for the staff screen
    kind: str  # NotificationKind
    checkout_ref: str | None = None
    payment_ref: str | None = None
    payment_id: int | None = None  # from our metadata, when the provider echoes it
    basket_id: int | None = None
    amount_cents: int | None = None
    amount_refunded_cents: int | None = None
    payload: str = ""
    extra: dict = field(default_factory=dict)


# --- the interface -----------------------------------------------------------------------------

class PaymentProvider(ABC):
    """One card-payment service. Methods may raise ProviderUnavailable (retry) or ProviderError."""

    name: str = ""
    #: False for providers without a payment page (desk payments).
    online: bool = True

    @abstractmethod
    def checkout_expires_at(self, hold_expires_at: datetime, now: datetime) -> datetime:
        """When the payment page should stop accepting payments, within the provider's limits."""

    @abstractmethod
    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Open (or, for the same idempotency key, find again) the payment page of one attempt."""

    @abstractmethod
    def fetch_status(self, checkout_ref: str) -> CheckoutState:
        """Read the state of a payment page."""

    @abstractmethod
    def expire_checkout(self, checkout_ref: str) -> CheckoutState:
        """Make the payment page unpayable, then say what state it ended in. When it had already
        been paid, the answer is PAID and nothing is expired: the caller must fulfil."""

    @abstractmethod
    def refund(self, *, payment_ref: str | None, checkout_ref: str | None, amount_cents: int,
               idempotency_key: str, reason: str) -> RefundOutcome:
        """Give `amount_cents` back to the payer of a paid payment."""

    @abstractmethod
    def verify_and_parse_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        """Check the notification's signature on the raw body, then translate it."""
