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
    """Every term of the invariant (DESIGN.md §3.9), from the rows alone:

    paid       Σ payments received (card, desk)            refunded  Σ refunds (pending or done)
    confirmed  Σ prices of the confirmed weeks             absences  Σ cancellation-kind avoirs tied to a
                                                                     still-confirmed week (justified absent days,
                                                                     a refund documented on it)
    kept       Σ over cancelled weeks of price − the cancellation-kind avoirs tied to them (a refund of a
               week is documented by such an avoir, settled to the card at once): what the service kept
    balance    the credit book balance                      regie     Σ credit paid back by the régie
    granted    Σ avoirs of the grant kind (staff grants, goodwill refunds)
    withdrawn  Σ credit withdrawn by staff
    """
    from sqlalchemy import func, select

    from app.models import CreditNote, CreditUse, Payment, Refund, Reservation, db
    from app.services.payments import credits
    from app.services.payments.common import PAID_STATES

    def total(query):
        return int(db.session.execute(query).scalar_one())

    with app.app_context():
        paid = total(select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(
            Payment.household_id == household_id, Payment.status.in_(PAID_STATES)))
        refunded = total(select(func.coalesce(func.sum(Refund.amount_cents), 0)).join(Payment).where(
            Payment.household_id == household_id, Refund.status.in_(("pending", "succeeded"))))
        given_back = dict(db.session.execute(
            select(CreditNote.reservation_id, func.sum(CreditNote.amount_cents)).where(
                CreditNote.household_id == household_id, CreditNote.kind == "cancellation",
                CreditNote.reservation_id.is_not(None)).group_by(CreditNote.reservation_id)).all())
        weeks = db.session.execute(select(Reservation.id, Reservation.status, Reservation.price_cents + Reservation.bus_price_cents).where(
            Reservation.household_id == household_id,
            Reservation.status.in_(("confirmed", "cancelled")))).all()
        confirmed = sum(price for _id, state, price in weeks if state == "confirmed")
        absences = sum(given_back.get(rid, 0) for rid, state, _price in weeks if state == "confirmed")
        kept_by_week = {rid: price - given_back.get(rid, 0) for rid, state, price in weeks if state == "cancelled"}
        over_given = {rid: (price, given_back.get(rid, 0)) for rid, _state, price in weeks
                      if given_back.get(rid, 0) > price}
        uses = dict(db.session.execute(select(CreditUse.kind, func.sum(CreditUse.amount_cents)).where(
            CreditUse.household_id == household_id).group_by(CreditUse.kind)).all())
        granted = total(select(func.coalesce(func.sum(CreditNote.amount_cents), 0)).where(
            CreditNote.household_id == household_id, CreditNote.kind == "grant"))
        balance = credits.book_balance(household_id)
        available = credits.available_credit(household_id)
    return {"paid": paid, "refunded": refunded, "confirmed": confirmed, "absences": absences,
            "kept": sum(kept_by_week.values()), "kept_by_week": kept_by_week, "over_given": over_given,
            "balance": balance, "regie": int(uses.get("refund_regie") or 0), "granted": granted,
            "withdrawn": int(uses.get("withdrawal") or 0), "available": available}


def assert_money_conserved(app, household_id, granted: int | None = None, withdrawn: int | None = None) -> dict:
    """DESIGN.md §3.9, every term read from the rows (see `money`):

        Σ payments − Σ refunds = Σ confirmed prices − Σ cancellation-kind avoirs on confirmed weeks
                                 + kept + credit balance + Σ régie − Σ grant avoirs + Σ withdrawals

    `granted` / `withdrawn`, when a test passes what it did itself, are checked against the rows
    (`withdrawn` counts the weeks staff cancelled without compensation: the service's `kept`)."""
    m = money(app, household_id)
    left = m["paid"] - m["refunded"]
    right = (m["confirmed"] - m["absences"] + m["kept"] + m["balance"] + m["regie"] - m["granted"]
             + m["withdrawn"])
    assert left == right, m
    assert not m["over_given"], m  # a week never gives back more than it cost
    assert all(kept >= 0 for kept in m["kept_by_week"].values()), m
    assert 0 <= m["available"] <= m["balance"], m
    if granted is not None:
        assert m["granted"] == granted, m
    if withdrawn is not None:
        assert m["withdrawn"] + m["kept"] == withdrawn, m
    return m
