"""Redis dies in the middle of a rush: bookings go on, and the holds are released once it is back.

The portal uses a throw-away redis-server without persistence, so killing it loses every queued
and scheduled job, like a real crash. Parents keep adding weeks while it is down (no 500, no
overbooking) and one of them pays; then Redis comes back empty, an hour passes, a worker starts
(which starts the sweeper): every lapsed hold is released and mailed once although no expiry job survived, the paid
basket is left alone and its confirmation mail, logged while Redis was down, is sent once.
"""
from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.faults.conftest import app_on
from tests.support.clients import jwt_headers

pytestmark = pytest.mark.faults

HOUSEHOLDS = 6
CAPACITY = 8
SEATS = 4


def _rush(web, families, catalog, redis_server, kill_after: int):
    """Every household adds every week for each of its children, all at once; the request that
    makes the `kill_after`-th booking kills Redis while the others are in flight."""
    results = []  # (status, redis_was_down_when_sent, body)
    lock = threading.Lock()
    booked = Counter()
    down = threading.Event()
    start = threading.Barrier(len(families))

    def parent(family, n):
        client = web.test_client()
        headers = jwt_headers(client, family.email)
        start.wait()
        for week_index, week_id in enumerate(catalog.week_ids):
            for child_index, child_id in enumerate(family.child_ids):
                transport = ({"mode": "bus", "stop_id": catalog.stop_ids[(n + child_index) % len(catalog.stop_ids)]}
                             if (n + week_index + child_index) % 2 else {"mode": "onsite"})
                was_down = down.is_set()
                try:
                    response = client.post("/api/v1/portal/basket/lines", headers=headers,
                                           json={"child_id": child_id, "week_id": week_id, "transport": transport})
                except Exception as exc:  # TESTING propagates what would be a 500
                    with lock:
                        results.append((f"exception {exc!r}", was_down, None))
                    continue
                with lock:
                    results.append((response.status_code, was_down, response.get_json(silent=True)))
                    if response.status_code == 201:
                        booked["total"] += 1
                        if booked["total"] == kill_after:
                            redis_server.kill()
                            down.set()

    threads = [threading.Thread(target=parent, args=(family, n)) for n, family in enumerate(families)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung while Redis was down"
    return results


def test_bookings_go_on_while_redis_is_down_and_holds_are_released_by_the_sweeper(app, throwaway_redis,
                                                                                  tmp_path_factory):
    from rq.scheduler import RQScheduler

    from app.jobs.sweeper import ensure_sweeper
    from app.jobs.worker import run_pending
    from app.models import Basket, MailLog, Reservation, db, utcnow
    from app.services.tasks import get_queue
    from tests.support.factories import Factory

    web = app_on(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path_factory, REDIS_URL=throwaway_redis.url,
                 RQ_QUEUE=f"faults-{uuid.uuid4().hex[:8]}", SWEEP_INTERVAL_SECONDS=1)
    factory = Factory(web)
    catalog = factory.catalog(capacities=(CAPACITY,) * 3, seats=SEATS)
    families = [factory.household(children=[("Léa", 8), ("Tom", 6)]) for _ in range(HOUSEHOLDS)]

    results = _rush(web, families, catalog, throwaway_redis, kill_after=6)

    statuses = Counter(status for status, _, _ in results)
    assert set(statuses) <= {201, 409}, f"unexpected answers: {statuses} " \
        f"{[body for status, _, body in results if status not in (201, 409)][:3]}"
    assert statuses[409] and statuses[201] <= 3 * CAPACITY  # demand exceeded the places
    assert any(status == 201 and was_down for status, was_down, _ in results), "no booking while Redis was down"
    assert all(body.get("message") for status, _, body in results if status == 409)  # French reasons
    health = web.test_client().get("/health")
    assert health.status_code == 200 and health.get_json()["redis"] == "down"

    with web.app_context():
        live = db.session.execute(select(Reservation.week_id, func.count()).where(Reservation.status == "held")
                                  .group_by(Reservation.week_id)).all()
        assert all(count <= CAPACITY for _, count in live)
        bus = db.session.execute(select(Reservation.week_id, func.count())
                                 .where(Reservation.status == "held", Reservation.transport_mode == "bus")
                                 .group_by(Reservation.week_id)).all()
        assert all(count <= SEATS for _, count in bus)
        baskets = db.session.execute(select(Basket.id, Basket.household_id).where(Basket.status == "open")).all()
        assert baskets and db.session.execute(select(func.count()).select_from(Basket)).scalar() == len(baskets)

    # Still without Redis, the first household with a basket pays it: the payment goes through; its
    # confirmation mail is logged but its send job cannot be queued.
    payer_basket, payer_household = baskets[0]
    payer = next(f for f in families if f.id == payer_household)
    client = web.test_client()
    checkout = client.post("/api/v1/portal/basket/checkout", json={}, headers=jwt_headers(client, payer.email))
    assert checkout.status_code == 200, checkout.get_data(as_text=True)
    paid = client.post(checkout.get_json()["payment_url"].split("portail.test", 1)[-1], data={"action": "pay"})
    assert paid.status_code in (302, 303)
    baskets = [(b, h) for b, h in baskets if b != payer_basket]
    basket_ids = [basket_id for basket_id, _ in baskets]
    with web.app_context():
        assert db.session.get(Basket, payer_basket).status == "paid"
        confirmation = db.session.execute(select(MailLog).where(MailLog.kind == "payment_confirmation")).scalar_one()
        assert confirmation.status == "queued"

    # Redis comes back empty: every expiry job is gone (those scheduled before the crash and those
    # that could never be scheduled during it). An hour later...
    throwaway_redis.start()
    queue = get_queue(web)
    assert queue.scheduled_job_registry.count == 0
    with web.app_context():
        past = utcnow().replace(microsecond=0)
        db.session.execute(update(Basket).where(Basket.id.in_(basket_ids)).values(expires_at=past))
        db.session.execute(update(Reservation).where(Reservation.basket_id.in_(basket_ids))
                           .values(hold_expires_at=past))
        db.session.execute(update(MailLog).values(created_at=past - timedelta(hours=1)))
        db.session.commit()

    # ...a worker (re)starts, which starts the sweeper; its run releases the holds and mails once.
    ensure_sweeper(web)
    scheduler = RQScheduler([queue], connection=queue.connection)
    assert scheduler.acquire_locks()
    deadline = utcnow().timestamp() + 20
    while True:
        run_pending(web, scheduler)
        with web.app_context():
            still_open = db.session.execute(select(func.count()).select_from(Basket)
                                            .where(Basket.status.in_(("open", "checkout")))).scalar()
            unsent = db.session.execute(select(func.count()).select_from(MailLog)
                                        .where(MailLog.status != "sent")).scalar()
        if (still_open == 0 and unsent == 0) or utcnow().timestamp() > deadline:
            break
        threading.Event().wait(0.3)
    scheduler.release_locks()

    with web.app_context():
        statuses = dict(db.session.execute(select(Basket.id, Basket.status)).all())
        assert statuses == {**{b: "expired" for b in basket_ids}, payer_basket: "paid"}
        assert db.session.execute(select(func.count()).select_from(Reservation)
                                  .where(Reservation.status == "held")).scalar() == 0
        assert {r.status for r in db.session.execute(select(Reservation).where(
            Reservation.basket_id == payer_basket)).scalars()} == {"confirmed"}  # the sweep left it alone
        confirmation = db.session.execute(select(MailLog).where(MailLog.kind == "payment_confirmation")).scalar_one()
        assert (confirmation.status, confirmation.attempts) == ("sent", 1)  # re-queued by the sweeper, once
        mails = db.session.execute(select(MailLog.household_id, MailLog.status)
                                   .where(MailLog.kind == "basket_expired")).all()
        assert sorted(h for h, _ in mails) == sorted(h for _, h in baskets)  # one mail per basket
        assert {status for _, status in mails} == {"sent"}
        # The places are back in the pool, but for the paid ones.
        from app.services.booking.capacity import week_usage

        confirmed = Counter(db.session.execute(select(Reservation.week_id).where(
            Reservation.status == "confirmed")).scalars())
        assert week_usage(catalog.week_ids) == {w: confirmed.get(w, 0) for w in catalog.week_ids}
    queue.connection.flushdb()
