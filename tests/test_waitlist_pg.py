"""The waiting list under real concurrency, on PostgreSQL with real threads (DESIGN §3.8):
confirmed + live held + live offered ≤ capacity, a freed place is offered once to one entry, even
when releases race each other and families join at the same instant."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

JOINERS = 50


def _race(app, tasks):
    """Run each callable at once (a barrier releases them together), each in its own app context."""
    from app.models import db
    from app.services.errors import ServiceError

    barrier = threading.Barrier(len(tasks))
    outcomes: list[str] = [""] * len(tasks)

    def run(index, task):
        with app.app_context():
            try:
                barrier.wait(timeout=30)
                task()
                outcomes[index] = "ok"
            except ServiceError as exc:
                outcomes[index] = exc.code
            except Exception as exc:  # a crash fails the test, never a silent pass
                outcomes[index] = f"crash:{exc.__class__.__name__}:{exc}"
            finally:
                db.session.rollback()

    threads = [threading.Thread(target=run, args=(i, task)) for i, task in enumerate(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def _check_invariants(app, week_id, capacity, now=None):
    """No overbooking counting live offers; every pending offer is one live held line; one per entry."""
    from app.models import OfferOutcome, Reservation, WaitlistEntry, WaitlistOffer, db, utcnow
    from app.services.booking.capacity import live_condition

    with app.app_context():
        now = now or utcnow()
        live = db.session.execute(select(func.count()).select_from(Reservation).where(
            Reservation.week_id == week_id, live_condition(now))).scalar()
        assert live <= capacity
        pending = db.session.execute(
            select(WaitlistOffer).join(WaitlistEntry, WaitlistEntry.id == WaitlistOffer.entry_id)
            .where(WaitlistOffer.outcome == OfferOutcome.PENDING, WaitlistEntry.week_id == week_id)
        ).scalars().all()
        assert len({o.entry_id for o in pending}) == len(pending)  # one running offer per entry
        assert len({o.reservation_id for o in pending}) == len(pending)  # one place per offer
        for offer in pending:
            line = db.session.get(Reservation, offer.reservation_id)
            assert line.status in ("held", "confirmed")
        per_child = db.session.execute(
            select(Reservation.child_id, func.count()).where(Reservation.week_id == week_id,
                                                             Reservation.status.in_(("held", "confirmed")))
            .group_by(Reservation.child_id)).all()
        assert all(count == 1 for _child, count in per_child)
        return live, len(pending)


def test_fifty_families_join_while_holds_expire_and_lines_are_removed(pg_app, pg_factory):
    from app.models import Reservation, db, utcnow
    from app.services.booking import basket, waitlist
    from tests.booking_helpers import add, confirm_basket

    capacity = 12
    catalog = pg_factory.catalog(capacities=(capacity,), seats=100)
    week_id = catalog.week_ids[0]
    holders = [pg_factory.household() for _ in range(capacity)]
    lines = [add(pg_app, h.id, h.child_ids[0], week_id) for h in holders]
    for holder in holders[8:]:
        confirm_basket(pg_app, holder.id)
    with pg_app.app_context():
        baskets = [db.session.get(Reservation, line).basket_id for line in lines]
    # A few families are already waiting, so every release has someone to offer to.
    early = [pg_factory.household() for _ in range(3)]
    for family in early:
        with pg_app.app_context():
            waitlist.join(family.id, family.child_ids[0], week_id, {"mode": "onsite"})
    joiners = [pg_factory.household() for _ in range(JOINERS)]
    later = utcnow() + timedelta(minutes=61, seconds=1)  # past the 60-minute holds, well before any offer ends

    def joining(family):
        return lambda: waitlist.join(family.id, family.child_ids[0], week_id, {"mode": "onsite"})

    def removing(holder, line):
        return lambda: basket.remove_line(holder.id, line)

    def expiring(basket_id):
        return lambda: basket.expire_basket(basket_id, later)

    tasks = [joining(f) for f in joiners]
    tasks += [removing(h, line) for h, line in zip(holders[:4], lines[:4])]  # 4 removed
    tasks += [expiring(b) for b in baskets[4:8]]  # 4 expire (their job runs)
    tasks += [expiring(b) for b in baskets[4:8]]  # … twice at once: idempotent
    outcomes = _race(pg_app, tasks)
    counts = Counter(outcomes)
    assert not [o for o in outcomes if o.startswith("crash")], counts
    assert set(counts) <= {"ok", "busy", "not_full"}, counts
    # Settle whatever a refused join rolled back, as the sweeper does.
    with pg_app.app_context():
        waitlist.sweep(later)
    live, pending = _check_invariants(pg_app, week_id, capacity, now=later)
    # Eight places were freed; the list was long enough to take every one of them.
    assert pending == 8 and live == capacity
    _check_invariants(pg_app, week_id, capacity)


def test_two_releases_racing_offer_one_place_to_one_entry(pg_app, pg_factory):
    from app.models import WaitlistOffer, db
    from app.services.booking import basket, waitlist
    from tests.booking_helpers import add

    for _round in range(5):
        catalog = pg_factory.catalog(capacities=(2,))
        week_id = catalog.week_ids[0]
        holders = [pg_factory.household() for _ in range(2)]
        lines = [add(pg_app, h.id, h.child_ids[0], week_id) for h in holders]
        family = pg_factory.household()
        with pg_app.app_context():
            entry = waitlist.join(family.id, family.child_ids[0], week_id, {"mode": "onsite"})
        outcomes = _race(pg_app, [lambda h=h, line=line: basket.remove_line(h.id, line)
                                  for h, line in zip(holders, lines)])
        assert outcomes == ["ok", "ok"], outcomes
        with pg_app.app_context():
            offers = db.session.execute(select(WaitlistOffer).where(WaitlistOffer.entry_id == entry["id"])
                                        ).scalars().all()
            assert len(offers) == 1 and offers[0].outcome == "pending"
        live, pending = _check_invariants(pg_app, week_id, 2)
        assert (live, pending) == (1, 1)
