"""What the staff payment screens read, and the one thing they change besides refunds and
cancellations: marking a flagged payment as dealt with (audited)."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from app.models import AuditLog, Household, Payment, ProviderEvent, db
from app.services import audit
from app.services.errors import NotFound, ValidationFailed
from app.services.localize import PAYMENT_STATUS_LABELS
from app.services.payments.common import PAID_STATES, _db_id, _lock
from app.services.payments.receipts import event_summary
from app.services.payments.refunds import refundable_cents
from app.services.transactions import unit_of_work


def list_payments(*, status: str | None = None, flagged: bool = False, q: str | None = None,
                  limit: int = 200) -> list[Payment]:
    query = (select(Payment).join(Household, Payment.household_id == Household.id)
             .options(joinedload(Payment.household)).order_by(Payment.id.desc()).limit(limit))
    if status in PAYMENT_STATUS_LABELS:
        query = query.where(Payment.status == status)
    if flagged:
        query = query.where(Payment.flagged.is_(True))
    q = (q or "").strip()[:100]
    if q:
        like = f"%{q}%"
        conditions = [Household.name.ilike(like), Payment.provider_ref.ilike(like),
                      Payment.provider_payment_ref.ilike(like), Household.email.ilike(like)]
        if q.isdigit():
            conditions += [Payment.id == int(q), Payment.basket_id == int(q)]
        query = query.where(or_(*conditions))
    return db.session.execute(query).unique().scalars().all()


@dataclass
class PaymentDetail:
    payment: Payment
    events: list[tuple[ProviderEvent, str]]
    history: list[AuditLog]
    refundable_cents: int
    can_refund: bool


def payment_detail(payment_id: int) -> PaymentDetail:
    payment = db.session.get(Payment, payment_id) if _db_id(payment_id) else None
    if payment is None:
        raise NotFound(_("Paiement introuvable."), code="payment_not_found")
    events = db.session.execute(select(ProviderEvent).where(ProviderEvent.payment_id == payment_id)
                                .order_by(ProviderEvent.received_at, ProviderEvent.id)).scalars().all()
    refund_ids = [r.id for r in payment.refunds]
    line_ids = [line.id for line in payment.basket.lines]
    history = db.session.execute(
        select(AuditLog).where(or_(
            (AuditLog.entity == "payment") & (AuditLog.entity_id == payment_id),
            (AuditLog.entity == "basket") & (AuditLog.entity_id == payment.basket_id),
            (AuditLog.entity == "refund") & (AuditLog.entity_id.in_(refund_ids or [0])),
            (AuditLog.entity == "reservation") & (AuditLog.entity_id.in_(line_ids or [0])),
        )).order_by(AuditLog.at, AuditLog.id)
    ).scalars().all()
    available = refundable_cents(payment)
    return PaymentDetail(payment, [(e, event_summary(e)) for e in events], history, available,
                         payment.status in PAID_STATES and payment.status != "refunded" and available > 0)


def resolve_flag(payment_id: int, note: str, *, actor) -> Payment:
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(_("Indiquez ce qui a été fait."), code="note_required")
    with unit_of_work():
        payment = db.session.get(Payment, payment_id) if _db_id(payment_id) else None
        if payment is None:
            raise NotFound(_("Paiement introuvable."), code="payment_not_found")
        _lock(type(payment.basket), payment.basket_id)
        payment = _lock(Payment, payment_id)
        if payment.flagged:
            before = {"flagged": True, "flag_reason": payment.flag_reason}
            payment.flagged = False
            audit.record("payment.flag_resolved", "payment", payment.id, actor=actor,
                         household_id=payment.household_id, before=before, after={"flagged": False, "note": note})
    return db.session.get(Payment, payment_id)
