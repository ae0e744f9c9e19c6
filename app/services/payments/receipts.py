"""What the family and staff read about payments: receipts, paid baskets, a payment's notifications.
Reads only: no transaction is opened or ended here."""
from __future__ import annotations

import json

from flask_babel import gettext as _
from sqlalchemy import select

from app.models import Basket, BasketStatus, ProviderEvent, db
from app.services.errors import NotFound
from app.services.payments.common import _db_id


def receipt(household_id: int, basket_id: int) -> Basket:
    basket = db.session.get(Basket, basket_id) if _db_id(basket_id) else None
    if basket is None or basket.household_id != household_id or basket.status != BasketStatus.PAID:
        raise NotFound(_("Reçu introuvable."), code="receipt_not_found")
    return basket


def paid_baskets(household_id: int) -> list[Basket]:
    return list(db.session.execute(
        select(Basket).where(Basket.household_id == household_id, Basket.status == BasketStatus.PAID)
        .order_by(Basket.confirmed_at.desc())
    ).scalars().all())


def payment_events(payment_id: int) -> list[ProviderEvent]:
    return list(db.session.execute(select(ProviderEvent).where(ProviderEvent.payment_id == payment_id)
                                   .order_by(ProviderEvent.received_at)).scalars().all())


def event_summary(event: ProviderEvent) -> str:
    try:
        data = json.loads(event.payload or "{}")
    except ValueError:
        return ""
    obj = (data.get("data") or {}).get("object") or {}
    return ", ".join(f"{k}={obj[k]}" for k in ("status", "payment_status", "amount_total", "amount_refunded")
                     if k in obj)
