"""Helpers of the cancellation and credit tests: a week booked and paid through the real basket,
checkout and sandbox fulfilment, and the money invariant (DESIGN.md §3.9) computed from the rows."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def add(app, household_id, child_id, week_id, stop_id=None):
    from app.services.booking import basket

    transport = {"mode": "bus", "stop_id": stop_id} if stop_id else {"mode": "onsite"}
    with app.app_context():
        return basket.add_line(household_id, child_id, week_id, transport).id


def checkout(app, household_id):
    from app.services import payments

    with app.app_context():
        return payments.start_checkout(household_id)


def pay(app, result, outcome="pay"):
    """Complete the sandbox page of a checkout result (no-op for a basket confirmed at once)."""
    from app.models import Payment, db
    from app.services import payments

    if result.payment_url is None:
        return None
    with app.app_context():
        token = db.session.get(Payment, result.payment_id).provider_ref
        return payments.sandbox_complete(token, outcome).status


def book_and_pay(app, household_id, child_id, week_id, stop_id=None) -> int:
    line_id = add(app, household_id, child_id, week_id, stop_id)
    pay(app, checkout(app, household_id))
    return line_id


def status(app, reservation_id):
    from app.models import Reservation, db

    with app.app_context():
        return db.session.get(Reservation, reservation_id).status


def week_start(app, week_id) -> datetime:
    from app.models import Week, db

    with app.app_context():
        starts_on = db.session.get(Week, week_id).starts_on
    return datetime.combine(starts_on, time(0, 0), tzinfo=PARIS).astimezone(timezone.utc)


def after_deadline(app, week_id) -> datetime:
    """Three days before the week starts: past the default free deadline (7 days)."""
    return week_start(app, week_id) - timedelta(days=3)


def money(app, household_id) -> dict:
    """Both sides of the invariant, from the rows alone."""
    from sqlalchemy import func, select

    from app.models import CreditUse, Payment, Refund, Reservation, db
    from app.services.payments import credits
    from app.services.payments.common import PAID_STATES

    with app.app_context():
        paid = db.session.execute(select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(
            Payment.household_id == household_id, Payment.status.in_(PAID_STATES))).scalar_one()
        refunded = db.session.execute(select(func.coalesce(func.sum(Refund.amount_cents), 0)).join(Payment).where(
            Payment.household_id == household_id, Refund.status.in_(("pending", "succeeded")))).scalar_one()
        confirmed = sum(line.total_cents for line in db.session.execute(select(Reservation).where(
            Reservation.household_id == household_id, Reservation.status == "confirmed")).scalars())
        regie = db.session.execute(select(func.coalesce(func.sum(CreditUse.amount_cents), 0)).where(
            CreditUse.household_id == household_id, CreditUse.kind == "refund_regie")).scalar_one()
        balance = credits.book_balance(household_id)
        available = credits.available_credit(household_id)
    return {"paid": paid, "refunded": refunded, "confirmed": confirmed, "balance": balance, "regie": regie,
            "available": available}


def assert_money_conserved(app, household_id, granted: int = 0, withdrawn: int = 0) -> dict:
    """Σ payments − Σ refunds = Σ confirmed prices + credit balance + Σ refunded by the régie
    (− staff grants + staff withdrawals: money the service itself put in or took out)."""
    m = money(app, household_id)
    left = m["paid"] - m["refunded"]
    right = m["confirmed"] + m["balance"] + m["regie"] - granted + withdrawn
    assert left == right, m
    assert 0 <= m["available"] <= m["balance"], m
    return m
