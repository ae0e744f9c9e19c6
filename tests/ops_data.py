"""Builders for staff-operations tests: reservations, payments and refunds written with the ORM
directly (any status), so that lists and reports can be tested without going through a basket."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

BASKET_FOR = {"confirmed": "paid", "held": "open", "expired": "expired", "removed": "open", "cancelled": "paid"}


def now() -> datetime:
    return datetime.now(timezone.utc)


def reserve(app, household_id: int, child_id: int, week_id: int, *, status: str = "confirmed",
            stop_id: int | None = None, circuit_id: int | None = None, hold_minutes: float = 30,
            price_cents: int = 4500, bus_price_cents: int = 0, basket_id: int | None = None,
            basket_status: str | None = None) -> tuple[int, int]:
    """One reservation (and its basket unless `basket_id`); returns (reservation id, basket id)."""
    from app.models import Basket, Reservation, db

    with app.app_context():
        at = now()
        if basket_id is None:
            wanted = basket_status or BASKET_FOR[status]
            basket = None
            if wanted in ("open", "checkout"):
                basket = db.session.query(Basket).filter(Basket.household_id == household_id,
                                                         Basket.status.in_(("open", "checkout"))).one_or_none()
            if basket is None:
                basket = Basket(household_id=household_id, status=wanted,
                                expires_at=at + timedelta(minutes=hold_minutes))
                db.session.add(basket)
                db.session.flush()
            basket_id = basket.id
        reservation = Reservation(
            basket_id=basket_id, household_id=household_id, child_id=child_id, week_id=week_id, status=status,
            transport_mode="bus" if stop_id else "onsite", stop_id=stop_id, circuit_id=circuit_id if stop_id else None,
            price_cents=price_cents, bus_price_cents=bus_price_cents if stop_id else 0,
            hold_expires_at=at + timedelta(minutes=hold_minutes) if status in ("held", "expired") else None,
            confirmed_at=at if status in ("confirmed", "cancelled") else None,
            ended_at=at if status in ("expired", "removed", "cancelled") else None,
        )
        db.session.add(reservation)
        db.session.commit()
        ids = reservation.id, basket_id
    return ids


def pay(app, basket_id: int, household_id: int, amount_cents: int, *, method: str = "card",
        status: str = "paid", provider: str = "sandbox") -> int:
    from app.models import Payment, db

    with app.app_context():
        attempt = db.session.query(Payment).filter_by(basket_id=basket_id).count() + 1
        payment = Payment(basket_id=basket_id, household_id=household_id, provider=provider, method=method,
                          attempt=attempt,
                          status=status, amount_cents=amount_cents, paid_at=now(),
                          provider_ref=f"ref-{basket_id}-{method}-{amount_cents}-{now().timestamp()}")
        db.session.add(payment)
        db.session.commit()
        payment_id = payment.id
    return payment_id


def refund(app, payment_id: int, amount_cents: int, *, reservation_id: int | None = None,
           status: str = "succeeded") -> int:
    from app.models import Payment, Refund, db

    with app.app_context():
        row = Refund(payment_id=payment_id, reservation_id=reservation_id, amount_cents=amount_cents,
                     reason="test", status=status)
        db.session.add(row)
        payment = db.session.get(Payment, payment_id)
        if status == "succeeded":
            payment.refunded_cents += amount_cents
        db.session.commit()
        refund_id = row.id
    return refund_id


def set_health(app, child_id: int, **fields) -> None:
    from app.models import Child, db

    with app.app_context():
        child = db.session.get(Child, child_id)
        for key, value in fields.items():
            setattr(child, key, value)
        db.session.commit()


def add_guardian(app, household_id: int, first: str, last: str, phone: str, relationship: str = "Père") -> None:
    from app.models import Guardian, db

    with app.app_context():
        db.session.add(Guardian(household_id=household_id, first_name=first, last_name=last, phone=phone,
                                relationship_label=relationship))
        db.session.commit()


def add_pickup(app, household_id: int, child_id: int, name: str, phone: str, relationship: str = "") -> None:
    from app.models import AuthorizedPickup, HouseholdChild, db

    with app.app_context():
        link = db.session.query(HouseholdChild).filter_by(household_id=household_id, child_id=child_id).one()
        db.session.add(AuthorizedPickup(link_id=link.id, name=name, phone=phone, relationship_label=relationship))
        db.session.commit()
