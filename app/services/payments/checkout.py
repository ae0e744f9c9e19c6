"""Checkout: "Valider mon panier" opens (or reuses) the basket's one payment page; the parent may
leave it to change the basket; the success page and the sandbox page drive the same fulfilment as
the provider's notification; staff record a payment taken at the desk.

A payment page is opened in three steps so that no lock is held during the network call: the
payment row is committed (pending), the provider is asked with an idempotency key derived from
that row, and the page's reference is written in a second short transaction. A lost answer is
retried with the same key, which finds the same page.
"""
from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Basket, BasketStatus, Payment, PaymentStatus, db, utcnow
from app.services import audit
from app.services.errors import Busy, Conflict, NotFound, ValidationFailed
from app.services.payments import credits
from app.services.payments.common import (
    BASKET_FIELDS,
    PAID_STATES,
    CheckoutResult,
    FulfilOutcome,
    FulfilResult,
    _active_basket,
    _actor_id,
    _checkout_request,
    _db_id,
    _held_lines,
    _lock,
    _next_attempt,
    _payment_snapshot,
    _pending_payment,
    _reprice,
)
from app.services.payments.desk import DESK_METHODS
from app.services.payments.fulfilment import (
    _apply_close,
    _checkout_ended,
    _fulfil_locked,
    _probe_checkout,
    _probe_inputs,
    fulfil,
)
from app.services.payments.provider import CheckoutLine, CheckoutStatus, ProviderError, ProviderUnavailable
from app.services.payments.refunds import _send_refunds
from app.services.payments.registry import get_provider
from app.services.payments.sandbox import refuse_in_production
from app.services.transactions import unit_of_work

log = logging.getLogger(__name__)


def start_checkout(household_id: int, *, actor=None, now: datetime | None = None) -> CheckoutResult:
    """"Valider mon panier": price the basket again, then open (or reuse) its one payment page.
    A basket whose total is zero is confirmed at once, without payment."""
    now = now or utcnow()
    reopen_payment_id: int | None = None
    new_total: int | None = None
    refund_ids: list[int] = []
    with unit_of_work():
        basket = _active_basket(household_id)
        if basket is None:
            raise NotFound(_("Votre panier est vide."), code="basket_empty")
        if basket.expires_at <= now:
            raise Conflict(_("Votre panier a expiré : les places ne sont plus réservées. "
                             "Ajoutez à nouveau les semaines souhaitées."), code="basket_expired")
        if basket.status == BasketStatus.CHECKOUT:
            payment = _pending_payment(basket)
            if payment is not None:
                if payment.provider_ref and payment.checkout_url:
                    return CheckoutResult(basket.id, payment.amount_cents, payment.checkout_url, payment.id)
                # The page of this attempt was never confirmed to us (network error): ask again with
                # the same idempotency key (below, no lock held), which finds the same page if it exists.
                reopen_payment_id = payment.id
            else:
                basket.status = BasketStatus.OPEN  # no live attempt left: start a new one below
        if reopen_payment_id is None:
            lines = _held_lines(basket)
            if not lines:
                raise NotFound(_("Votre panier est vide."), code="basket_empty")
            if _reprice(basket, lines, actor):
                new_total = sum(line.total_cents for line in lines)  # committed, then said (below)
            else:
                result, refund_ids = _create_payment(basket, lines, actor, now)
                if result.status == "payment_required":  # else a zero total, confirmed in this block
                    reopen_payment_id = result.payment_id
    if new_total is not None:
        from app.services.localize import euros

        raise Conflict(_("Les tarifs de votre panier ont été mis à jour (nouveau total : %(total)s). "
                         "Vérifiez votre panier puis validez-le à nouveau.", total=euros(new_total)),
                       code="price_changed")
    if reopen_payment_id is not None:
        return _open_provider_page(reopen_payment_id)
    _send_refunds(refund_ids)
    return result


def _create_payment(basket: Basket, lines, actor, now: datetime) -> tuple[CheckoutResult, list[int]]:
    """Inside start_checkout's block: the payment row of a new attempt. A zero total is confirmed at
    once (its result says "confirmed"); otherwise the basket goes to checkout and the result carries
    the payment to open a page for (no URL yet)."""
    total = sum(line.total_cents for line in lines)
    attempt = _next_attempt(basket.id)
    basket_before = audit.snapshot(basket, BASKET_FIELDS)
    credit = credits.credit_to_take(basket.household_id, total)  # the household's avoirs pay first
    if total - credit == 0:
        payment = Payment(basket_id=basket.id, household_id=basket.household_id, provider="free",
                          method="credit" if credit else "free", attempt=attempt, amount_cents=0,
                          status=PaymentStatus.PENDING, created_by_id=_actor_id(actor))
        db.session.add(payment)
        db.session.flush()
        credits.reserve_for_checkout(payment, credit, actor=actor)
        audit.record("payment.created", "payment", payment.id, actor=actor, household_id=basket.household_id,
                     after=_payment_snapshot(payment))
        outcome, refund_ids = _fulfil_locked(basket, payment, source="free", actor=actor, now=now)
        return CheckoutResult(basket.id, 0, None, payment.id,
                              status="confirmed" if outcome in (FulfilOutcome.CONFIRMED,
                                                                FulfilOutcome.LATE_CONFIRMED) else outcome), refund_ids
    provider = get_provider()
    payment = Payment(basket_id=basket.id, household_id=basket.household_id, provider=provider.name,
                      method="card", attempt=attempt, amount_cents=total - credit, currency="EUR",
                      status=PaymentStatus.PENDING, created_by_id=_actor_id(actor),
                      checkout_expires_at=provider.checkout_expires_at(basket.expires_at, now))
    db.session.add(payment)
    basket.status = BasketStatus.CHECKOUT
    db.session.flush()
    credits.reserve_for_checkout(payment, credit, actor=actor)
    audit.record("basket.checkout", "basket", basket.id, actor=actor, household_id=basket.household_id,
                 before=basket_before, after=audit.snapshot(basket, BASKET_FIELDS))
    audit.record("payment.created", "payment", payment.id, actor=actor, household_id=basket.household_id,
                 after=_payment_snapshot(payment))
    return CheckoutResult(basket.id, total - credit, None, payment.id), []


def _open_provider_page(payment_id: int) -> CheckoutResult:
    """Network call with no lock held, then record the page in a short transaction."""
    with unit_of_work():  # a read, ended before the call: no lock or snapshot kept during it
        payment = db.session.get(Payment, payment_id)
        provider = get_provider(name=payment.provider)
        request = _checkout_request(payment)
    try:
        session = provider.start_checkout(request)
    except ProviderUnavailable:
        raise  # the payment stays pending without a page: the next click retries with the same key
    except ProviderError:
        # Refused: no page exists for this key (Stripe stores no result for a refused request).
        with unit_of_work():
            basket = _lock(Basket, request.basket_id)
            payment = _lock(Payment, payment_id)
            if payment.status == PaymentStatus.PENDING and not payment.provider_ref:
                before = _payment_snapshot(payment)
                payment.status = PaymentStatus.FAILED
                if basket.status == BasketStatus.CHECKOUT:
                    basket.status = BasketStatus.OPEN
                audit.record("payment.checkout_refused", "payment", payment.id, household_id=payment.household_id,
                             before=before, after=_payment_snapshot(payment))
        raise
    with unit_of_work():
        _lock(Basket, request.basket_id)
        payment = _lock(Payment, payment_id)
        if payment.provider_ref is None:
            payment.provider_ref = session.ref
            payment.checkout_url = session.url
            audit.record("payment.checkout_opened", "payment", payment.id, household_id=payment.household_id,
                         after={"provider_ref": session.ref, "checkout_expires_at": payment.checkout_expires_at})
        return CheckoutResult(request.basket_id, payment.amount_cents, payment.checkout_url, payment.id)


def abandon_checkout(household_id: int, *, actor=None) -> str:
    """The parent wants to change the basket after opening the payment page: close the page
    first (never two payable pages), then the basket is editable again until its hold ends.
    The provider is asked before any lock is taken."""
    with unit_of_work():
        basket = _active_basket(household_id, lock=False)
        if basket is None or basket.status != BasketStatus.CHECKOUT:
            return "released"
        payment = _pending_payment(basket)
        if payment is None:
            basket = _lock(Basket, basket.id)
            if basket.status == BasketStatus.CHECKOUT:
                basket.status = BasketStatus.OPEN
            return "released"
        basket_id, payment_id = basket.id, payment.id
        probe = _probe_inputs(payment)
    checkout_ref, status, payment_ref = _probe_checkout(*probe)
    with unit_of_work():
        basket = _lock(Basket, basket_id)
        payment = _lock(Payment, payment_id)
        if payment.status != PaymentStatus.PENDING or basket.status != BasketStatus.CHECKOUT:
            return "paid" if payment.status in PAID_STATES else "released"
        result, refund_ids = _apply_close(basket, payment, checkout_ref, status, payment_ref, reason="parent",
                                          actor=actor)
    _send_refunds(refund_ids)
    return result


# --- return pages -------------------------------------------------------------------------------

def confirm_return(household_id: int, checkout_ref: str) -> Payment:
    """The success page: ask the provider (Stripe's advice: fulfil from the redirect too, not only
    from the webhook). Scoped to the household: another household's reference is not found."""
    payment = db.session.execute(select(Payment).where(
        Payment.provider_ref == checkout_ref, Payment.household_id == household_id)).scalar_one_or_none()
    if payment is None:
        raise NotFound(_("Paiement introuvable."), code="payment_not_found")
    if payment.status == PaymentStatus.PENDING:
        provider = get_provider(name=payment.provider)
        payment_id = payment.id
        try:
            state = provider.fetch_status(checkout_ref)
        except ProviderUnavailable:
            state = None  # the webhook will finish the job; the page says we are checking
        if state is not None and state.status == CheckoutStatus.PAID:
            try:
                fulfil(payment_id, source="return", provider_payment_ref=state.payment_ref)
            except Busy:
                # The webhook holds the basket right now: it is confirming this very payment. The
                # page says "being checked" and refreshes itself.
                log.info("return page for payment %s: busy, leaving it to the notification", payment_id)
        payment = db.session.get(Payment, payment_id)
    return payment


def sandbox_complete(token: str, outcome: str) -> Payment:
    """The sandbox page's buttons: "pay" fulfils through the same function as a Stripe payment,
    "refuse" ends the attempt like a declined payment."""
    refuse_in_production(current_app.config)
    refund_ids: list[int] = []
    with unit_of_work():
        payment = db.session.execute(select(Payment).where(
            Payment.provider == "sandbox", Payment.provider_ref == token)).scalar_one_or_none()
        if payment is None:
            raise NotFound(_("Page de paiement de test introuvable."), code="payment_not_found")
        payment_id = payment.id
        if outcome == "refuse":
            _checkout_ended(payment_id, PaymentStatus.FAILED, reason="sandbox refused")
        elif outcome != "pay":
            raise ValidationFailed(_("Action inconnue."))
        else:
            basket = _lock(Basket, payment.basket_id)
            payment = _lock(Payment, payment_id)
            if payment.status not in PAID_STATES:
                if payment.status != PaymentStatus.PENDING or (
                        payment.checkout_expires_at and payment.checkout_expires_at <= utcnow()):
                    raise Conflict(_("Cette page de paiement a expiré : rien n'a été débité."),
                                   code="checkout_expired")
                _outcome, refund_ids = _fulfil_locked(basket, payment, source="sandbox",
                                                      provider_payment_ref=f"sandbox_pi_{payment_id}")
    _send_refunds(refund_ids)
    return db.session.get(Payment, payment_id)


def sandbox_checkout(token: str) -> tuple[Payment, list[CheckoutLine]]:
    """What the sandbox test page shows: the payment and its lines as the provider would list them."""
    refuse_in_production(current_app.config)
    payment = db.session.execute(select(Payment).where(
        Payment.provider == "sandbox", Payment.provider_ref == token)).scalar_one_or_none()
    if payment is None:
        raise NotFound(_("Page de paiement de test introuvable."), code="payment_not_found")
    return payment, list(_checkout_request(payment).lines)


# --- desk payments ------------------------------------------------------------------------------

def record_desk_payment(basket_id: int, method: str, *, actor) -> FulfilResult:
    """Staff took the money at the desk (cash, cheque, chèques-vacances, card terminal): confirm the
    basket through the same fulfilment as card payments. The household's avoirs pay first, as
    online: staff take only the rest (the desk page says how much)."""
    if method not in DESK_METHODS:
        raise ValidationFailed(_("Mode de paiement inconnu."), code="invalid_method")
    with unit_of_work():
        basket = _lock(Basket, basket_id) if _db_id(basket_id) else None
        if basket is None:
            raise NotFound(_("Panier introuvable."), code="basket_not_found")
        if basket.status == BasketStatus.CHECKOUT:
            raise Conflict(_("Un paiement en ligne est en cours pour ce panier : attendez son issue ou son "
                             "expiration."), code="checkout_in_progress")
        if basket.status != BasketStatus.OPEN:
            raise Conflict(_("Ce panier n'est plus modifiable (déjà payé, expiré ou annulé)."),
                           code="basket_closed")
        if basket.expires_at <= utcnow():
            raise Conflict(_("Le panier a expiré : les places ne sont plus réservées."), code="basket_expired")
        lines = _held_lines(basket)
        if not lines:
            raise Conflict(_("Le panier est vide."), code="basket_empty")
        _reprice(basket, lines, actor)
        total = sum(line.total_cents for line in lines)
        credit = credits.credit_to_take(basket.household_id, total)
        payment = Payment(basket_id=basket.id, household_id=basket.household_id, provider="desk", method=method,
                          attempt=_next_attempt(basket.id), amount_cents=total - credit,
                          status=PaymentStatus.PENDING, created_by_id=_actor_id(actor))
        db.session.add(payment)
        db.session.flush()
        credits.reserve_for_checkout(payment, credit, actor=actor)
        audit.record("payment.created", "payment", payment.id, actor=actor, household_id=basket.household_id,
                     after={**_payment_snapshot(payment), "method": method})
        outcome, refund_ids = _fulfil_locked(basket, payment, source="desk", actor=actor)
        payment_id = payment.id
    _send_refunds(refund_ids)
    return FulfilResult(payment_id, basket_id, outcome)
