"""The régie's side of PayFiP: the refunds it pays by hand, and the daily reconciliation.

* Refund tasks (RegieRefund) are created by the PayFiP provider when a refund is asked (staff
  refund, staff cancellation, late or duplicate payment): PayFiP cannot refund. Staff follow them
  here: bank details asked for, then transfer made (who, when, note), each step audited.
* The reconciliation lists, for one day (Europe/Paris), every PayFiP operation the portal opened
  with its state in the portal and the state read back from PayFiP, and marks the differences
  (e.g. paid at PayFiP, not confirmed here because the notification was lost). A difference is
  settled by « Relire chez PayFiP », which runs the very same notification path (read back, then
  fulfilment), never by trusting the list.
* `regie_refund_totals` gives what the money invariant needs (DESIGN.md §3.9): refunds handed to
  the régie are counted as refunded; those still to be paid are shown apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.models import Payment, RegieRefund, RegieRefundStatus, db, utcnow
from app.services import audit
from app.services.errors import Conflict, NotFound, ValidationFailed
from app.services.localize import PARIS
from app.services.payments.common import PAID_STATES, _db_id, _lock
from app.services.payments.notifications import handle_notification
from app.services.payments.payfip_provider import PayFiPProvider, refdet_for
from app.services.payments.provider import CheckoutStatus, ProviderError
from app.services.payments.registry import get_provider
from app.services.transactions import unit_of_work

TASK_FIELDS = ["status", "details_requested_at", "done_at", "done_by_id", "note"]


# --- refund tasks -------------------------------------------------------------------------------

def list_tasks(*, status: str | None = None, limit: int = 300) -> list[RegieRefund]:
    """Open tasks first (oldest first: the family has waited longest), then the done ones."""
    query = select(RegieRefund).options(joinedload(RegieRefund.household), joinedload(RegieRefund.payment))
    if status in RegieRefundStatus.ALL:
        query = query.where(RegieRefund.status == status)
    elif status == "open":
        query = query.where(RegieRefund.status.in_(RegieRefundStatus.OPEN))
    query = query.order_by((RegieRefund.status == RegieRefundStatus.DONE).asc(), RegieRefund.created_at,
                           RegieRefund.id).limit(limit)
    return list(db.session.execute(query).unique().scalars())


def payment_references(payment: Payment) -> dict:
    """What the staff payment screen shows of a PayFiP payment: its refdet (the reference the régie
    reads in PayFiP's back office), its operation id, and the régie refund tasks made for it."""
    if payment.provider != PayFiPProvider.name:
        return {"refdet": None, "idop": None, "day": None, "tasks": []}
    tasks = db.session.execute(
        select(RegieRefund).where(RegieRefund.payment_id == payment.id).order_by(RegieRefund.id)).scalars().all()
    return {"refdet": refdet_for(payment.basket_id, payment.attempt), "idop": payment.provider_ref,
            "day": payment.created_at.astimezone(PARIS).date().isoformat() if payment.created_at else None,
            "tasks": list(tasks)}


def _task(task_id: int) -> RegieRefund:
    task = db.session.get(RegieRefund, task_id) if _db_id(task_id) else None
    if task is None:
        raise NotFound(_("Remboursement régie introuvable."), code="regie_refund_not_found")
    return _lock(RegieRefund, task_id)


def mark_details_requested(task_id: int, *, actor) -> RegieRefund:
    """The régie has asked the family for its bank details (RIB)."""
    with unit_of_work():
        task = _task(task_id)
        if task.status != RegieRefundStatus.TODO:
            raise Conflict(_("Ce remboursement n'est plus « à effectuer »."), code="regie_refund_state")
        before = audit.snapshot(task, TASK_FIELDS)
        task.status = RegieRefundStatus.DETAILS_REQUESTED
        task.details_requested_at = utcnow()
        audit.record("regie_refund.details_requested", "regie_refund", task.id, actor=actor,
                     household_id=task.household_id, before=before, after=audit.snapshot(task, TASK_FIELDS))
        return task


def mark_done(task_id: int, note: str, *, actor) -> RegieRefund:
    """The régie made the transfer: who, when, and its own reference (note, required)."""
    note = (note or "").strip()[:500]
    if not note:
        raise ValidationFailed(_("Indiquez la référence du virement (date, mandat…)."), code="note_required")
    with unit_of_work():
        task = _task(task_id)
        if task.status == RegieRefundStatus.DONE:
            raise Conflict(_("Ce remboursement est déjà marqué effectué."), code="regie_refund_done")
        before = audit.snapshot(task, TASK_FIELDS)
        task.status = RegieRefundStatus.DONE
        task.done_at = utcnow()
        task.done_by_id = getattr(actor, "id", None)
        task.note = note
        audit.record("regie_refund.done", "regie_refund", task.id, actor=actor, household_id=task.household_id,
                     before=before, after=audit.snapshot(task, TASK_FIELDS))
        return task


@dataclass(frozen=True)
class RegieTotals:
    handed_over_cents: int  # every refund handed to the régie (counted as refunded in the books)
    outstanding_cents: int  # of which the régie has not paid yet


def regie_refund_totals(household_id: int | None = None) -> RegieTotals:
    query = select(RegieRefund.status, func.coalesce(func.sum(RegieRefund.amount_cents), 0)) \
        .group_by(RegieRefund.status)
    if household_id is not None:
        query = query.where(RegieRefund.household_id == household_id)
    sums = dict(db.session.execute(query).tuples().all())
    total = sum(sums.values())
    return RegieTotals(total, total - sums.get(RegieRefundStatus.DONE, 0))


# --- daily reconciliation -----------------------------------------------------------------------

@dataclass(frozen=True)
class ReconciliationRow:
    payment: Payment
    refdet: str
    payfip_status: str | None  # CheckoutStatus read back, None when PayFiP could not be asked
    payfip_amount_cents: int | None
    payfip_fields: dict
    difference: str | None  # what does not match, in French; None when both agree


def _portal_view(payment: Payment) -> str:
    if payment.status in PAID_STATES:
        return CheckoutStatus.PAID
    return {"failed": CheckoutStatus.FAILED, "expired": CheckoutStatus.EXPIRED}.get(payment.status,
                                                                                  CheckoutStatus.OPEN)


def _difference(payment: Payment, status: str | None, amount: int | None) -> str | None:
    if status is None:
        return _("PayFiP n'a pas répondu : relire plus tard.")
    portal = _portal_view(payment)
    if status == CheckoutStatus.PAID and portal != CheckoutStatus.PAID:
        return _("Payé chez PayFiP, non encaissé au portail.")
    if status != CheckoutStatus.PAID and portal == CheckoutStatus.PAID:
        return _("Encaissé au portail, non payé chez PayFiP.")
    if status == CheckoutStatus.PAID and amount is not None and amount != payment.amount_cents:
        return _("Montant différent chez PayFiP.")
    return None


def reconciliation(day: date) -> list[ReconciliationRow]:
    """Every PayFiP operation opened on `day` (Paris time), with PayFiP's answer beside the portal's.
    One read per operation: a day's operations of a youth service are counted in dozens."""
    start = datetime.combine(day, time.min, PARIS).astimezone(timezone.utc)
    payments = db.session.execute(
        select(Payment).options(joinedload(Payment.household))
        .where(Payment.provider == PayFiPProvider.name, Payment.created_at >= start,
               Payment.created_at < start + timedelta(days=1))
        .order_by(Payment.created_at, Payment.id)).unique().scalars().all()
    provider = get_provider(name=PayFiPProvider.name) if payments else None
    rows = []
    for payment in payments:
        status = amount = None
        fields: dict = {}
        if payment.provider_ref and isinstance(provider, PayFiPProvider):
            try:
                state, fields = provider.read_operation(payment.provider_ref)
                status, amount = state.status, state.amount_cents
            except ProviderError:
                pass
        elif not payment.provider_ref:
            status = CheckoutStatus.EXPIRED  # no operation was ever opened for this attempt
        rows.append(ReconciliationRow(payment, refdet_for(payment.basket_id, payment.attempt), status, amount,
                                      fields, _difference(payment, status, amount)))
    return rows


def recheck(payment_id: int):
    """« Relire chez PayFiP »: the notification path for one operation (read back, then fulfil)."""
    payment = db.session.get(Payment, payment_id) if _db_id(payment_id) else None
    if payment is None or payment.provider != PayFiPProvider.name or not payment.provider_ref:
        raise NotFound(_("Opération PayFiP introuvable."), code="payment_not_found")
    return handle_notification(PayFiPProvider.name, f"idOp={payment.provider_ref}".encode(), {})
