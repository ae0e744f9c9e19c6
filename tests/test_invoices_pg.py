"""Invoice numbers are gapless under racing fulfilments on PostgreSQL, real threads (DESIGN.md §3.10):
every fulfilment takes the next FA number from the locked counter row, and a transaction that took a
number and rolled back leaves no hole."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.postgres

PAYERS = 12
ROLLBACKS = 6


def test_invoice_numbers_gapless_when_fulfilments_race_and_some_roll_back(pg_app, pg_factory):
    from app.models import Invoice, Payment, db, utcnow
    from app.services import payments
    from app.services.localize import to_paris
    from app.services.payments.credits import next_number
    from app.services.payments.invoices import INVOICE_PREFIX
    from tests.credit_helpers import add, checkout

    cat = pg_factory.catalog(capacities=(PAYERS + 5,))
    tokens = []
    for _ in range(PAYERS):
        fam = pg_factory.household(children=[("Léa", 8)])
        add(pg_app, fam.id, fam.child_ids[0], cat.week_ids[0])
        result = checkout(pg_app, fam.id)
        with pg_app.app_context():
            tokens.append(db.session.get(Payment, result.payment_id).provider_ref)

    barrier = threading.Barrier(PAYERS + ROLLBACKS)
    outcomes: list[str] = []

    def pay(token):
        with pg_app.app_context():
            try:
                barrier.wait(timeout=30)
                outcomes.append(payments.sandbox_complete(token, "pay").status)
            except Exception as exc:  # a crash fails the test below
                outcomes.append(f"crash:{exc!r}")
            finally:
                db.session.remove()

    def take_and_roll_back():
        with pg_app.app_context():
            try:
                barrier.wait(timeout=30)
                next_number(INVOICE_PREFIX, to_paris(utcnow()).year)
                db.session.rollback()  # a fulfilment that failed after taking its number
                outcomes.append("rolled_back")
            except Exception as exc:
                outcomes.append(f"crash:{exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=pay, args=(token,)) for token in tokens]
    threads += [threading.Thread(target=take_and_roll_back) for _ in range(ROLLBACKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(outcomes) == sorted(["paid"] * PAYERS + ["rolled_back"] * ROLLBACKS), outcomes

    with pg_app.app_context():
        rows = db.session.execute(select(Invoice.year, Invoice.sequence, Invoice.number)).all()
    assert len(rows) == PAYERS
    year = rows[0].year
    assert sorted(row.sequence for row in rows) == list(range(1, PAYERS + 1))
    assert {row.number for row in rows} == {f"FA-{year}-{n:06d}" for n in range(1, PAYERS + 1)}


GRANTS = 10


def test_credit_note_numbers_gapless_and_unique_when_issues_race_and_some_roll_back(pg_app, pg_factory):
    """AV numbers: staff grants to different households at once (each locks only its household, so
    they meet on the AV counter row), an issue that rolls back after taking its number, and invoices
    taking FA numbers meanwhile (another counter row): the AV numbers are 1…n, each once."""
    from flask_appbuilder.security.sqla.models import User

    from app.models import CreditNote, Payment, db
    from app.services import payments
    from app.services.payments import credits
    from app.services.payments.credits import CREDIT_NOTE_PREFIX
    from tests.credit_helpers import add, checkout

    staff = pg_factory.staff()
    households = [pg_factory.household(children=[("Léa", 8)]).id for _ in range(GRANTS)]
    others = [pg_factory.household().id for _ in range(ROLLBACKS)]  # as real issuers, each its own row
    cat = pg_factory.catalog(capacities=(10,))
    tokens = []
    for _ in range(3):
        fam = pg_factory.household(children=[("Hugo", 8)])
        add(pg_app, fam.id, fam.child_ids[0], cat.week_ids[0])
        result = checkout(pg_app, fam.id)
        with pg_app.app_context():
            tokens.append(db.session.get(Payment, result.payment_id).provider_ref)

    barrier = threading.Barrier(GRANTS + ROLLBACKS + len(tokens))
    outcomes: list[str] = []

    def grant(household_id):
        with pg_app.app_context():
            try:
                actor = db.session.get(User, staff.id)
                barrier.wait(timeout=30)
                credits.grant(household_id, 1500, "Geste commercial", actor=actor)
                outcomes.append("granted")
            except Exception as exc:  # a crash fails the test below
                outcomes.append(f"crash:{exc!r}")
            finally:
                db.session.remove()

    def issue_and_roll_back(household_id):
        with pg_app.app_context():
            try:
                barrier.wait(timeout=30)
                credits.lock_household(household_id)  # every issuer holds its household first
                credits.issue_credit_note(household_id, 700, "grant", "Annulé")
                db.session.rollback()  # an issue that failed after taking its number
                outcomes.append("rolled_back")
            except Exception as exc:
                outcomes.append(f"crash:{exc!r}")
            finally:
                db.session.remove()

    def pay(token):
        with pg_app.app_context():
            try:
                barrier.wait(timeout=30)
                outcomes.append(payments.sandbox_complete(token, "pay").status)
            except Exception as exc:
                outcomes.append(f"crash:{exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=grant, args=(household_id,)) for household_id in households]
    threads += [threading.Thread(target=issue_and_roll_back, args=(household_id,)) for household_id in others]
    threads += [threading.Thread(target=pay, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(outcomes) == sorted(["granted"] * GRANTS + ["rolled_back"] * ROLLBACKS
                                      + ["paid"] * len(tokens)), outcomes

    with pg_app.app_context():
        rows = db.session.execute(select(CreditNote.year, CreditNote.sequence, CreditNote.number,
                                         CreditNote.household_id)).all()
    assert len(rows) == GRANTS
    year = rows[0].year
    assert sorted(row.sequence for row in rows) == list(range(1, GRANTS + 1))
    assert {row.number for row in rows} == {f"{CREDIT_NOTE_PREFIX}-{year}-{n:06d}" for n in range(1, GRANTS + 1)}
    assert sorted(row.household_id for row in rows) == sorted(households)  # one each, none lost
