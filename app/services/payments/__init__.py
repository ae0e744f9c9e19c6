"""Payments: the provider interface, its implementations and the domain functions.

Import the domain functions from here (``from app.services.payments import fulfil``)."""
from app.services.payments.provider import (  # noqa: F401
    InvalidNotification,
    PaymentProvider,
    ProviderError,
    ProviderUnavailable,
)
from app.services.payments.registry import get_provider, register_provider  # noqa: F401
from app.services.payments.service import (  # noqa: F401
    CheckoutResult,
    FulfilOutcome,
    FulfilResult,
    NotificationResult,
    abandon_checkout,
    cancel_reservation,
    confirm_return,
    fulfil,
    handle_notification,
    paid_baskets,
    receipt,
    record_desk_payment,
    refund,
    refundable_cents,
    retry_pending_refunds,
    sandbox_complete,
    settle_before_expiry,
    start_checkout,
)

from app.services.booking.basket import register_settle_hook  # noqa: E402

register_settle_hook(settle_before_expiry)
