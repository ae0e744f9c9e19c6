"""Small helpers shared by the booking tests (eligibility, basket, pages, API, expiry, concurrency)."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date

from sqlalchemy import event, func, select, update


def add(app, household_id, child_id, week_id, transport=None, **kwargs):
    """add_line in its own app context; returns the line id."""
    from app.services.booking import basket

    with app.app_context():
        line = basket.add_line(household_id, child_id, week_id, transport or {"mode": "onsite"}, **kwargs)
        return line.id


def confirm_basket(app, household_id):
    """Simulate a paid basket (the payment issue owns the real fulfilment)."""
    from app.models import Basket, Reservation, db, utcnow

    with app.app_context():
        basket = db.session.execute(select(Basket).where(Basket.household_id == household_id,
                                                         Basket.status.in_(("open", "checkout")))).scalar_one()
        now = utcnow()
        db.session.execute(update(Reservation).where(Reservation.basket_id == basket.id,
                                                     Reservation.status == "held")
                           .values(status="confirmed", confirmed_at=now))
        basket.status = "paid"
        basket.confirmed_at = now
        db.session.commit()
        basket_id = basket.id
    return basket_id


def set_basket_status(app, basket_id, status):
    from app.models import Basket, db

    with app.app_context():
        db.session.get(Basket, basket_id).status = status
        db.session.commit()


def set_birth_date(app, child_id, birth_date: date):
    from app.models import Child, db

    with app.app_context():
        db.session.get(Child, child_id).birth_date = birth_date
        db.session.commit()


def count_rows(app, model, **filters):
    from app.models import db

    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in filters.items():
            query = query.where(getattr(model, name) == value)
        result = db.session.execute(query).scalar()
    return result


@contextmanager
def count_queries(app):
    """Count the SQL statements sent to the database inside the block."""
    from app.models import db

    statements: list[str] = []

    def _before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", _before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _before)
