"""Payments: the provider interface, its implementations and the domain functions.

Import the domain functions from here (``from app.services.payments import fulfil``); the modules
are split by responsibility: common (results, locks, labels, mails), refunds, cancellations (the
parents' and staff's, one rule), credits (avoirs), fulfilment (confirming a paid basket, closing a
payment page), checkout (opening a page, return pages, desk payments), notifications (provider
webhooks), receipts (reads), staff (the staff screens' reads and flags).
Every transaction goes through app.services.transactions."""
from app.services.booking.basket import register_settle_hook
from app.services.payments.cancellations import cancel_reservation  # noqa: F401
from app.services.payments.checkout import (  # noqa: F401
    abandon_checkout,
    confirm_return,
    record_desk_payment,
    sandbox_checkout,
    sandbox_complete,
    start_checkout,
)
from app.services.payments.common import (  # noqa: F401
    PAID_STATES,
    CheckoutResult,
    FulfilOutcome,
    FulfilResult,
    NotificationResult,
    line_label,
)
from app.services.payments.fulfilment import fulfil, settle_before_expiry  # noqa: F401
from app.services.payments.invoices import document_refund
from app.services.payments.notifications import handle_notification  # noqa: F401
from app.services.payments.provider import (  # noqa: F401
    InvalidNotification,
    PaymentProvider,
    ProviderError,
    ProviderUnavailable,
)
from app.services.payments.receipts import event_summary, paid_baskets, payment_events, receipt  # noqa: F401
from app.services.payments.refunds import (  # noqa: F401
    refund,
    refundable_cents,
    register_refund_documenter,
    retry_pending_refunds,
)
from app.services.payments.registry import get_provider, register_provider  # noqa: F401

register_settle_hook(settle_before_expiry)
register_refund_documenter(document_refund)  # issue 16: every card refund of a sale has its credit note
