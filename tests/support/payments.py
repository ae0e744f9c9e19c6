"""Payment test data: baskets with held lines built directly with the ORM, lapsed holds, full weeks,
and a basket's whole state as plain values. The fake Stripe lives in tests/support/stripe_fake.py
and is re-exported here, so a payment test imports from one place."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from tests.support.db import call
from tests.support.stripe_fake import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    charge_refunded,
    event,
    sign,
    unflatten,
    use_stripe,
)

__all__ = [
    "SECRET_KEY", "WEBHOOK_SECRET", "FakeStripe", "charge_refunded", "event", "sign", "unflatten", "use_stripe",
    "call", "make_basket", "lapse", "fill_week", "state", "audit_actions",
]


# --- baskets ------------------------------------------------------------------------------------

def make_basket(app, factory, *, children=(("Léa", 8),), weeks=(0,), bus=False, expires_in=timedelta(minutes=45),
                capacities=(10, 10), seats=5, household=None, catalog=None, tariffs=None, bus_price_cents=500,
                status="open", quotient=650):
    """A household (or the given one) with an active basket holding one line per child × week."""
    from app.models import Basket, Household, Reservation, db
    from app.services.booking.pricing import price_line

    if catalog is None:
        kwargs = {"capacities": capacities, "seats": seats, "bus_price_cents": bus_price_cents}
        if tariffs is not None:
            kwargs["tariffs"] = tariffs
        catalog = factory.catalog(**kwargs)
    household = household or factory.household(children=list(children), quotient=quotient)
    now = datetime.now(timezone.utc)
    with app.app_context():
        hh = db.session.get(Household, household.id)
        basket = Basket(household_id=household.id, status=status, expires_at=now + expires_in,
                        created_at=now + expires_in - timedelta(minutes=60))
        db.session.add(basket)
        db.session.flush()
        line_ids = []
        from app.models import Week

        for child_id in household.child_ids:
            for index in weeks:
                week = db.session.get(Week, catalog.week_ids[index])
                mode = "bus" if bus else "onsite"
                price = price_line(hh, week.period, mode)
                line = Reservation(basket_id=basket.id, household_id=household.id, child_id=child_id,
                                   week_id=week.id, status="held", transport_mode=mode,
                                   circuit_id=catalog.circuit_id if bus else None,
                                   stop_id=catalog.stop_ids[0] if bus else None,
                                   price_cents=price.price_cents, bus_price_cents=price.bus_price_cents,
                                   hold_expires_at=basket.expires_at)
                db.session.add(line)
                db.session.flush()
                line_ids.append(line.id)
        db.session.commit()
        result = SimpleNamespace(household=household, catalog=catalog, basket_id=basket.id, line_ids=line_ids)
    return result


def lapse(app, basket_id: int, minutes: int = 5) -> None:
    """Move a basket's hold into the past (as if the parent paid too late)."""
    from app.models import Basket, db

    with app.app_context():
        basket = db.session.get(Basket, basket_id)
        past = datetime.now(timezone.utc) - timedelta(minutes=minutes)
        basket.expires_at = past
        for line in basket.lines:
            line.hold_expires_at = past
        db.session.commit()


def fill_week(app, factory, catalog, week_index: int = 0, count: int = 1, confirmed: bool = True) -> list[int]:
    """Other families take `count` places of a week (confirmed lines in their own paid baskets)."""
    from app.models import Basket, Reservation, db

    ids = []
    for _ in range(count):
        other = factory.household(children=[("Autre", 8)])
        with app.app_context():
            now = datetime.now(timezone.utc)
            basket = Basket(household_id=other.id, status="paid" if confirmed else "open",
                            expires_at=now + timedelta(minutes=30), confirmed_at=now if confirmed else None)
            db.session.add(basket)
            db.session.flush()
            line = Reservation(basket_id=basket.id, household_id=other.id, child_id=other.child_ids[0],
                               week_id=catalog.week_ids[week_index], status="confirmed" if confirmed else "held",
                               transport_mode="onsite", price_cents=4500, hold_expires_at=basket.expires_at,
                               confirmed_at=now if confirmed else None)
            db.session.add(line)
            db.session.commit()
            ids.append(line.id)
    return ids


def state(app, basket_id: int) -> SimpleNamespace:
    """Basket, lines, payments, refunds and mails, as plain values."""
    from sqlalchemy import select

    from app.models import Basket, MailLog, Payment, Refund, db

    with app.app_context():
        basket = db.session.get(Basket, basket_id)
        payments = db.session.execute(select(Payment).where(Payment.basket_id == basket_id)
                                      .order_by(Payment.id)).scalars().all()
        refunds = db.session.execute(select(Refund).join(Payment).where(Payment.basket_id == basket_id)
                                     .order_by(Refund.id)).scalars().all()
        mails = db.session.execute(select(MailLog).where(MailLog.household_id == basket.household_id)
                                   .order_by(MailLog.id)).scalars().all()
        result = SimpleNamespace(
            status=basket.status,
            lines=[line.status for line in basket.lines],
            payments=[SimpleNamespace(id=p.id, status=p.status, amount_cents=p.amount_cents,
                                      refunded_cents=p.refunded_cents, flagged=p.flagged, flag_reason=p.flag_reason,
                                      provider=p.provider, provider_ref=p.provider_ref,
                                      provider_payment_ref=p.provider_payment_ref, checkout_url=p.checkout_url,
                                      checkout_expires_at=p.checkout_expires_at, attempt=p.attempt,
                                      method=p.method)
                      for p in payments],
            refunds=[SimpleNamespace(id=r.id, amount_cents=r.amount_cents, status=r.status,
                                     provider_ref=r.provider_ref, reservation_id=r.reservation_id)
                     for r in refunds],
            mails=[SimpleNamespace(kind=m.kind, subject=m.subject, body=m.body_text, to=m.to_address,
                                   html=m.body_html) for m in mails],
        )
    return result


def audit_actions(app, entity: str | None = None) -> list[str]:
    from sqlalchemy import select

    from app.models import AuditLog, db

    with app.app_context():
        query = select(AuditLog.action).order_by(AuditLog.id)
        if entity:
            query = query.where(AuditLog.entity == entity)
        actions = list(db.session.execute(query).scalars())
    return actions
