"""PayFiP (formerly TIPI), the public treasury's (DGFiP) card payment for a régie, through
Entr'ouvert's `eopayment` (its `payfip_ws` backend: SOAP web service, zeep).

What PayFiP is, and how the port's promises are kept with it:

* A payment operation is created by a SOAP call (`creerPaiementSecurise`) for an amount, a
  reference of ours (`refdet`: 6 to 30 letters or digits), the payer's e-mail and an object; PayFiP
  answers with an operation id (`idOp`), which is the checkout reference here, and the parent is sent
  to `https://www.payfip.gouv.fr/tpa/paiementws.web?idop=…`.
* PayFiP signs nothing. Its server-to-server notification (POST `idOp=…` to the notification URL)
  and the parent's return carry only the operation id: the result is always read back from PayFiP
  (`recupererDetailPaiementSecurise`) before anything is confirmed, so a forged or replayed call
  can at worst make us ask again. The event id is the operation id and the result read back, so
  the existing de-duplication makes a replay harmless.
* No idempotency key: the refdet is derived from the basket and the attempt (unique per payment
  row), and a lost answer leaves an operation nobody can reach (its id was never shown).
* It cannot expire a payment page (an operation id lives about 15 minutes, and PayFiP says
  « résultat non connu » while a payment may still be in progress). Closing a page therefore
  only stops waiting: a payment that completes after the basket's hold follows the late-payment
  rule (places re-taken if free, else refunded).
* It has no refund call: a refund becomes a « remboursement à effectuer par la régie » task
  (RegieRefund), and the portal's Refund row is counted as refunded once handed over.
* Amounts between 1 € and 100 000 € (eopayment's bounds, PayFiP's rules); an e-mail is mandatory.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Mapping
from urllib.parse import parse_qs

import eopayment
from eopayment import payfip_ws
from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Payment, RegieRefund, RegieRefundStatus, db
from app.services import audit
from app.services.localize import PARIS
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
from app.services.transactions import unit_of_work

log = logging.getLogger(__name__)

PAYFIP_ORIGIN = "https://www.payfip.gouv.fr"
MODES = {"test": "T", "activation": "X", "production": "W"}
MIN_AMOUNT_CENTS = int(payfip_ws.Payment.minimal_amount * 100)
MAX_AMOUNT_CENTS = int(payfip_ws.Payment.maximal_amount * 100)
GRACE = timedelta(minutes=2)
IDOP_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# Technical failures of the SOAP exchange (eopayment's codes): retrying may help.
UNAVAILABLE_CODES = {"HTTP error", "SOAP error", "Unexpected error", "Cound not initialize the SOAP client",
                     "unknown"}


class PayFiPRefused(ProviderError):
    """What PayFiP's own rules refuse before any call (amount out of bounds, no valid e-mail): the
    parent has to pay another way or fix the file. Nothing failed at a gateway, hence a conflict
    (409) rather than the 502 of a provider's refusal; still a ProviderError for the checkout."""

    http_status = 409


def refdet_for(basket_id: int, attempt: int) -> str:
    """The reference PayFiP shows the régie and sends back: « PJ » (Pôle Jeunesse, one régie may
    collect for several services), the basket, the attempt. Letters and digits only, ≤ 30."""
    return f"PJB{basket_id:08d}T{attempt:03d}"


def objet_for(basket_id: int) -> str:
    return f"Inscriptions ALSH — panier n° {basket_id}"


def notification_url(public_url: str) -> str:
    return public_url.rstrip("/") + "/payments/payfip/notification"


def return_url(public_url: str) -> str:
    return public_url.rstrip("/") + "/payments/payfip/retour"


def idop_from(raw: bytes | str | None) -> str | None:
    """The operation id of a notification or return (`idOp=…`, `idop=…`), or None."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
    if not raw or len(raw) > 2000:
        return None
    fields = parse_qs(raw, keep_blank_values=False)
    values = fields.get("idOp") or fields.get("idop") or []
    if len(values) != 1 or not IDOP_RE.match(values[0]):
        return None
    return values[0]


class PayFiPProvider(PaymentProvider):
    name = "payfip"

    def __init__(self, *, numcli: str | None, mode: str, public_url: str, soap: payfip_ws.PayFiP | None = None,
                 timeout: float = 15):
        if not numcli or not (numcli.isdigit() and len(numcli) == 6):
            raise ProviderError(_("Le paiement PayFiP n'est pas configuré (numéro de client de la régie "
                                  "absent ou invalide). Contactez le Pôle Jeunesse."), code="payment_not_configured")
        saisie = MODES.get(mode)
        if saisie is None:
            raise ProviderError(_("Mode PayFiP inconnu : %(mode)s.", mode=mode), code="payment_not_configured")
        self.public_url = public_url.rstrip("/")
        self.timeout = timeout
        self.numcli = numcli
        self.backend = eopayment.Payment(eopayment.PAYFIP_WS, {
            "numcli": numcli, "saisie": saisie,
            "normal_return_url": return_url(public_url), "automatic_return_url": notification_url(public_url),
        }, logger=log).backend
        if soap is not None:  # the SOAP client with its HTTP session (shared, and replaced in tests)
            self.backend.payfip = soap

    # --- errors ------------------------------------------------------------------------------
    @staticmethod
    def _translate(exc: Exception) -> ProviderError:
        code = getattr(exc, "code", None)
        if isinstance(exc, payfip_ws.PayFiPError) and code in UNAVAILABLE_CODES:
            log.warning("payfip unavailable: %s", exc)
            return ProviderUnavailable()
        log.warning("payfip refused the request: %s", exc)
        return ProviderError(_("Le service de paiement PayFiP a refusé la demande. Rien n'a été débité : "
                               "réessayez, ou contactez le Pôle Jeunesse si cela se reproduit."),
                             provider_message=str(exc)[:500])

    # --- checkout ----------------------------------------------------------------------------
    def checkout_expires_at(self, hold_expires_at: datetime, now: datetime) -> datetime:
        # PayFiP cannot be told when to stop: this is when the portal stops waiting.
        return (hold_expires_at + GRACE).replace(microsecond=0)

    def operation_params(self, request: CheckoutRequest) -> dict:
        """What eopayment's `request()` receives (it builds the SOAP call from these)."""
        if request.amount_cents < MIN_AMOUNT_CENTS:
            raise PayFiPRefused(_("Le paiement en ligne par PayFiP n'est possible qu'à partir de 1,00 € : "
                                  "réglez ce panier au guichet du Pôle Jeunesse."), code="amount_too_low")
        if request.amount_cents > MAX_AMOUNT_CENTS:
            raise PayFiPRefused(_("Montant trop élevé pour un paiement en ligne PayFiP : réglez ce panier "
                                  "au guichet du Pôle Jeunesse."), code="amount_too_high")
        email = (request.customer_email or "").strip()
        if "@" not in email or not 6 <= len(email) <= 80:
            raise PayFiPRefused(_("PayFiP demande une adresse e-mail valide (6 à 80 caractères) : "
                                  "corrigez celle de votre dossier famille."), code="email_required")
        return {
            "amount": str(Decimal(request.amount_cents) / 100),
            "email": email,
            "refdet": refdet_for(request.basket_id, request.attempt),
            # The payment's budget year, from the database (never the clock: a retry sends the same).
            "exer": str(request.expires_at.astimezone(PARIS).year),
            "subject": objet_for(request.basket_id),
            "timeout": self.timeout,
        }

    def start_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        params = self.operation_params(request)
        try:
            idop, _kind, url = self.backend.request(**params)
        except (payfip_ws.PayFiPError, ValueError) as exc:
            raise self._translate(exc) from exc
        return CheckoutSession(ref=str(idop), url=url, expires_at=request.expires_at)

    def read_operation(self, idop: str) -> tuple[CheckoutState, dict]:
        """Ask PayFiP what became of an operation (eopayment's reading of its codes: « P5 » result
        not known yet = still waiting, « P1 » unknown operation = expired, a cancel within two
        minutes = still waiting, which is overridden below). Returns the state and PayFiP's own fields, for staff."""
        try:
            response = self.backend.payment_status(idop, timeout=self.timeout)
        except payfip_ws.PayFiPError as exc:
            raise self._translate(exc) from exc
        data = {key: (None if value is None else str(value)) for key, value in (response.bank_data or {}).items()}
        if data.get("numcli") and data["numcli"] != self.numcli:
            log.error("payfip operation %s belongs to another régie (%s)", idop, data["numcli"])
            return CheckoutState(CheckoutStatus.EXPIRED), data
        amount = data.get("montant")
        amount_cents = int(amount) if amount and amount.isdigit() else None
        result = response.result
        if data.get("resultrans") == "A":
            # Cancelled by the payer. eopayment keeps it « waiting » for two minutes (the operation id
            # is still valid); the parent who came back is rather offered a new attempt at once, and
            # a payment on the old page would still follow the late-payment rule.
            return CheckoutState(CheckoutStatus.EXPIRED, None, amount_cents), data
        if result == eopayment.PAID:
            return CheckoutState(CheckoutStatus.PAID, data.get("numauto") or idop, amount_cents), data
        if result == eopayment.DENIED:
            return CheckoutState(CheckoutStatus.FAILED, None, amount_cents), data
        if result in (eopayment.CANCELLED, eopayment.EXPIRED):
            return CheckoutState(CheckoutStatus.EXPIRED, None, amount_cents), data
        if result == eopayment.WAITING:
            return CheckoutState(CheckoutStatus.OPEN, None, amount_cents), data
        raise ProviderError(_("Réponse de PayFiP incompréhensible : à vérifier par la régie."),
                            provider_message=str(response.bank_status)[:200])

    def fetch_status(self, checkout_ref: str) -> CheckoutState:
        return self.read_operation(checkout_ref)[0]

    def expire_checkout(self, checkout_ref: str) -> CheckoutState:
        """PayFiP has no call to close an operation: once the hold is over the portal stops
        waiting (EXPIRED), and a payment that still completes goes through the late-payment rule."""
        state = self.fetch_status(checkout_ref)
        if state.status == CheckoutStatus.OPEN:
            return CheckoutState(CheckoutStatus.EXPIRED, None, state.amount_cents)
        return state

    # --- refunds -----------------------------------------------------------------------------
    def refund(self, *, payment_ref: str | None, checkout_ref: str | None, amount_cents: int,
               idempotency_key: str, reason: str) -> RefundOutcome:
        """No refund call at PayFiP: hand the refund over to the régie as a task (idempotent on the
        refund's key). Called outside any transaction, like every provider call."""
        with unit_of_work():
            task = db.session.execute(
                select(RegieRefund).where(RegieRefund.refund_key == idempotency_key)).scalar_one_or_none()
            if task is None:
                payment = db.session.execute(select(Payment).where(
                    Payment.provider == self.name, Payment.provider_ref == checkout_ref)).scalar_one_or_none() \
                    if checkout_ref else None
                if payment is None:
                    raise ProviderError(_("Paiement PayFiP introuvable : remboursement impossible."),
                                        code="refund_no_payment")
                match = re.fullmatch(r"portail-refund-([0-9]{1,9})", idempotency_key)
                task = RegieRefund(refund_key=idempotency_key, refund_id=int(match.group(1)) if match else None,
                                   payment_id=payment.id, household_id=payment.household_id,
                                   amount_cents=amount_cents, reason=reason, status=RegieRefundStatus.TODO,
                                   refdet=refdet_for(payment.basket_id, payment.attempt), payfip_idop=checkout_ref)
                db.session.add(task)
                db.session.flush()
                audit.record("regie_refund.created", "regie_refund", task.id, household_id=payment.household_id,
                             after={"payment_id": payment.id, "amount_cents": amount_cents, "reason": reason,
                                    "refund_id": task.refund_id})
            ref = f"regie-{task.id}"
        return RefundOutcome(ref=ref, status="pending")

    # --- notifications -----------------------------------------------------------------------
    def verify_and_parse_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        """Nothing in the call is trusted but the operation id: the result is read back from PayFiP."""
        idop = idop_from(raw_body)
        if idop is None:
            raise InvalidNotification(_("Notification PayFiP illisible (identifiant d'opération absent)."))
        state, data = self.read_operation(idop)
        kind = {
            CheckoutStatus.PAID: NotificationKind.PAYMENT_SUCCEEDED,
            CheckoutStatus.FAILED: NotificationKind.PAYMENT_FAILED,
            CheckoutStatus.EXPIRED: NotificationKind.CHECKOUT_EXPIRED,
        }.get(state.status, NotificationKind.IGNORED)
        return Notification(
            event_id=f"{idop}:{state.status}"[:255], event_type=f"payfip.{state.status}", kind=kind,
            checkout_ref=idop, payment_ref=state.payment_ref, amount_cents=state.amount_cents,
            payload=repr(sorted(data.items()))[:10_000], extra={"refdet": data.get("refdet")} if data else {})
