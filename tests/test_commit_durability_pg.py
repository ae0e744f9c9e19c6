"""Commit durability chosen per kind of write (issue 21, DESIGN §4), on PostgreSQL.

A parent's hold commits with `synchronous_commit = off` for its own transaction only; a desk
booking, a checkout and a payment's fulfilment wait for the disk. The SQL each sends is captured."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests import credit_helpers as money
from tests.booking_helpers import count_queries

pytestmark = pytest.mark.postgres

ASYNC = "SET LOCAL synchronous_commit = off"


def _sent_async(statements) -> bool:
    return any(statement.strip() == ASYNC for statement in statements)


def test_a_parent_hold_commits_asynchronously_and_only_its_own_transaction(pg_app, pg_factory):
    from app.models import db
    from app.services.booking import basket

    catalog = pg_factory.catalog()
    family = pg_factory.household()
    with count_queries(pg_app) as statements:
        with pg_app.app_context():
            basket.add_line(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
            # SET LOCAL ends with the transaction: the connection's next one is durable again.
            assert db.session.execute(text("SHOW synchronous_commit")).scalar() == "on"
    assert _sent_async(statements)


def test_the_api_add_commits_asynchronously(pg_app, pg_factory):
    """The API's add holds through pf_hold, which sets synchronous_commit off for its own transaction."""
    from app.models import db, utcnow
    from app.services.booking import fast_hold

    catalog = pg_factory.catalog()
    family = pg_factory.household()
    with count_queries(pg_app) as statements:
        with pg_app.app_context():
            held = fast_hold.try_add(family.id, family.child_ids[0], catalog.week_ids[0], "onsite", None, None,
                                     utcnow())
            assert held is not None
            assert db.session.execute(text("SHOW synchronous_commit")).scalar() == "off"
            db.session.commit()
            assert db.session.execute(text("SHOW synchronous_commit")).scalar() == "on"
    assert any("pf_hold_v2(" in statement for statement in statements)


def test_a_desk_booking_checkout_and_payment_stay_synchronous(pg_app, pg_factory):
    from app.services.operations import desk

    catalog = pg_factory.catalog()
    family = pg_factory.household()
    agent = pg_factory.staff()
    with count_queries(pg_app) as statements:
        with pg_app.app_context():
            desk.desk_add_line(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"},
                               actor=pg_app.appbuilder.sm.get_user_by_id(agent.id))
    assert not _sent_async(statements)

    money.add(pg_app, family.id, family.child_ids[0], catalog.week_ids[1])
    with count_queries(pg_app) as statements:
        result = money.checkout(pg_app, family.id)
        assert money.pay(pg_app, result) is not None
    assert statements and not _sent_async(statements)

