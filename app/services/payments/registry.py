"""Which provider handles a payment: the configured one for new checkouts (`PAYMENT_PROVIDER`),
the payment's own for everything after (a Stripe payment stays a Stripe payment even if the
configuration changes). A new provider (PayFiP…) registers a factory here; booking code is untouched.

Tests inject Stripe's HTTP transport with `app.extensions["stripe_http_client"]` (or the config key
`STRIPE_HTTP_CLIENT`): the real stripe-python code then runs against canned responses.
"""
from __future__ import annotations

from typing import Callable

from flask import Flask, current_app
from flask_babel import gettext as _

from app.services.payments.desk import DeskProvider
from app.services.payments.provider import PaymentProvider, ProviderError
from app.services.payments.sandbox import SandboxProvider
from app.services.payments.stripe_provider import StripeProvider

HTTP_CLIENT_EXTENSION = "stripe_http_client"
PAYFIP_SESSION_EXTENSION = "payfip_http_session"


def _stripe_http_client(app: Flask):
    client = app.extensions.get(HTTP_CLIENT_EXTENSION) or app.config.get("STRIPE_HTTP_CLIENT")
    if client is not None:
        return client
    default = app.extensions.get("stripe_default_http_client")
    if default is None:
        import stripe

        # Stripe's default waits 80 s: too long for a parent's click or a webhook answer.
        default = stripe.RequestsClient(timeout=float(app.config.get("STRIPE_TIMEOUT_SECONDS", 20)))
        app.extensions["stripe_default_http_client"] = default
    return default


def _stripe(app: Flask) -> PaymentProvider:
    return StripeProvider(
        secret_key=app.config.get("STRIPE_SECRET_KEY"),
        webhook_secret=app.config.get("STRIPE_WEBHOOK_SECRET"),
        http_client=_stripe_http_client(app),
        max_network_retries=int(app.config.get("STRIPE_MAX_NETWORK_RETRIES", 2)),
    )


def _payfip_soap(app: Flask):
    """eopayment's SOAP client (zeep, WSDL bundled with eopayment), built once per app and HTTP
    session: tests put a requests.Session whose transport returns canned answers in
    `app.extensions["payfip_http_session"]`, so eopayment's real code runs with no network."""
    import requests
    import zeep
    from eopayment.payfip_ws import PayFiP

    session = app.extensions.get(PAYFIP_SESSION_EXTENSION)
    if session is None:
        session = app.extensions.setdefault("payfip_default_http_session", requests.Session())
    cached = app.extensions.get("payfip_soap")
    if cached is None or cached[0] is not session:
        timeout = float(app.config.get("PAYFIP_TIMEOUT_SECONDS", 15))
        soap = PayFiP(zeep_client_kwargs={"transport": zeep.Transport(session=session, timeout=timeout,
                                                                      operation_timeout=timeout)})
        cached = app.extensions["payfip_soap"] = (session, soap)
    return cached[1]


def _payfip(app: Flask) -> PaymentProvider:
    from app.services.payments.payfip_provider import PayFiPProvider

    return PayFiPProvider(numcli=app.config.get("PAYFIP_NUMCLI"), mode=app.config.get("PAYFIP_MODE") or "test",
                          public_url=app.config["PUBLIC_URL"], soap=_payfip_soap(app),
                          timeout=float(app.config.get("PAYFIP_TIMEOUT_SECONDS", 15)))


def _sandbox(app: Flask) -> PaymentProvider:
    return SandboxProvider(config=app.config, public_url=app.config["PUBLIC_URL"])


PROVIDERS: dict[str, Callable[[Flask], PaymentProvider]] = {
    "stripe": _stripe,
    "sandbox": _sandbox,
    "payfip": _payfip,
    "desk": lambda app: DeskProvider("desk"),
    "free": lambda app: DeskProvider("free"),
}


def register_provider(name: str, factory: Callable[[Flask], PaymentProvider]) -> None:
    PROVIDERS[name] = factory


def get_provider(app: Flask | None = None, name: str | None = None) -> PaymentProvider:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    name = name or app.config.get("PAYMENT_PROVIDER") or "sandbox"
    factory = PROVIDERS.get(name)
    if factory is None:
        raise ProviderError(_("Mode de paiement inconnu : %(name)s.", name=name), code="unknown_provider")
    return factory(app)
