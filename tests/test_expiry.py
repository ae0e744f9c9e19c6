"""Holds are exact and expiry only tidies up: lazy expiry frees the place at once; the scheduled job
and the sweeper mark lines expired and send one mail, also when run twice; real Redis + real RQ
scheduler; Redis unreachable while booking."""
from __future__ import annotations

import logging
import time
from datetime import timedelta, timezone

import pytest
from sqlalchemy import select

from tests.booking_helpers import add, count_rows
from tests.support.apps import TEST_OVERRIDES


def _basket_id(app, line_id):
    from app.models import Reservation, db

    with app.app_context():
        basket_id = db.session.get(Reservation, line_id).basket_id
    return basket_id


def _state(app, basket_id):
    from app.models import Basket, MailLog, Reservation, db

    with app.app_context():
        basket = db.session.get(Basket, basket_id)
        lines = [line.status for line in db.session.execute(
            select(Reservation).where(Reservation.basket_id == basket_id).order_by(Reservation.id)).scalars()]
        mails = db.session.execute(select(MailLog).where(MailLog.dedupe_key == f"basket-expired-{basket_id}")
                                   ).scalars().all()
        result = basket.status, lines, [(m.kind, m.to_address, m.body_text) for m in mails]
    return result


def test_lazy_expiry_frees_the_place_at_once(app, factory):
    from app.models import utcnow

    catalog = factory.catalog(capacities=(1,))
    first = factory.household()
    second = factory.household()
    add(app, first.id, first.child_ids[0], catalog.week_ids[0])
    from app.services.errors import Conflict

    with pytest.raises(Conflict):
        add(app, second.id, second.child_ids[0], catalog.week_ids[0])
    # No job has run; one minute after the hold's end the place is free.
    later = utcnow() + timedelta(minutes=61)
    assert add(app, second.id, second.child_ids[0], catalog.week_ids[0], now=later)


def test_expire_job_marks_lines_expired_and_mails_once(app, factory):
    from app.jobs.booking import expire_basket_job
    from app.models import AuditLog, db, utcnow
    from app.services.booking import basket

    catalog = factory.catalog()
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    line = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    add(app, family.id, family.child_ids[1], catalog.week_ids[1], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    basket_id = _basket_id(app, line)
    with app.app_context():
        assert expire_basket_job(basket_id) is False  # not due yet: nothing happens
    assert _state(app, basket_id)[0] == "open"
    later = utcnow() + timedelta(minutes=60, seconds=1)
    with app.app_context():
        assert basket.expire_basket(basket_id, now=later) is True
        assert basket.expire_basket(basket_id, now=later) is False  # twice: idempotent
        assert db.session.query(AuditLog).filter_by(action="basket.expired", entity_id=basket_id).count() == 1
    status, lines, mails = _state(app, basket_id)
    assert status == "expired" and lines == ["expired", "expired"]
    assert len(mails) == 1
    kind, to, body = mails[0]
    assert kind == "basket_expired" and to == family.email
    assert "Léa" in body and "Tom" in body and "Semaine du" in body and "expiré" in body


def test_sweeper_expires_every_due_basket_once(app, factory):
    from app.models import MailLog, db, utcnow
    from app.services.booking import basket

    catalog = factory.catalog()
    start = utcnow()
    due = [factory.household() for _ in range(2)]
    for family in due:
        add(app, family.id, family.child_ids[0], catalog.week_ids[0], now=start)
    fresh = factory.household()
    add(app, fresh.id, fresh.child_ids[0], catalog.week_ids[0], now=start + timedelta(minutes=30))
    with app.app_context():
        sweep_at = start + timedelta(minutes=61)
        assert basket.expire_due_baskets(now=sweep_at) == 2
        assert basket.expire_due_baskets(now=sweep_at) == 0
        assert db.session.query(MailLog).filter_by(kind="basket_expired").count() == 2
        assert basket.open_basket(fresh.id, now=sweep_at) is not None


def test_maintenance_sweep_calls_the_basket_sweeper(app, factory):
    from app.models import utcnow
    from app.services import maintenance

    catalog = factory.catalog()
    family = factory.household()
    line = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    with app.app_context():
        maintenance.sweep(now=utcnow() + timedelta(minutes=61))  # the sweep a minute after the hour's hold
    assert _state(app, _basket_id(app, line))[0] == "expired"


def test_paid_or_removed_baskets_are_left_alone(app, factory):
    from app.models import Basket, db, utcnow
    from app.services.booking import basket
    from tests.booking_helpers import confirm_basket

    catalog = factory.catalog()
    family = factory.household()
    line = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    basket_id = confirm_basket(app, family.id)
    with app.app_context():
        assert basket.expire_basket(basket_id, now=utcnow() + timedelta(hours=2)) is False
        assert db.session.get(Basket, basket_id).status == "paid"
        assert basket.expire_basket(987654) is False
    assert _state(app, _basket_id(app, line))[1] == ["confirmed"]


@pytest.mark.parametrize("outcome", ["paid", "released", "raises"])
def test_checkout_basket_is_settled_with_the_provider_first(app, factory, monkeypatch, outcome):
    from app.models import BasketStatus, MailLog, db, utcnow
    from app.services.booking import basket
    from tests.booking_helpers import set_basket_status

    catalog = factory.catalog()
    family = factory.household()
    line = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    basket_id = _basket_id(app, line)
    set_basket_status(app, basket_id, "checkout")
    calls = []

    def settle(b):
        calls.append(b.id)
        if outcome == "raises":
            raise RuntimeError("provider unreachable")
        if outcome == "paid":
            b.status = BasketStatus.PAID
            db.session.commit()
        else:
            b.status = BasketStatus.OPEN  # the payment page is closed; left for the caller to commit
        return outcome

    monkeypatch.setattr(basket, "_settle_hook", lambda: settle)
    later = utcnow() + timedelta(minutes=61)
    with app.app_context():
        if outcome == "raises":
            with pytest.raises(RuntimeError):
                basket.expire_basket(basket_id, now=later)
        else:
            assert basket.expire_basket(basket_id, now=later) is (outcome == "released")
    assert calls == [basket_id]
    expected = {"paid": "paid", "released": "expired", "raises": "checkout"}[outcome]
    assert _state(app, basket_id)[0] == expected
    assert count_rows(app, MailLog, kind="basket_expired") == (1 if outcome == "released" else 0)


def test_scheduled_job_runs_through_the_queue(app, factory, monkeypatch):
    """The expiry job is scheduled at the hold's end with a unique id; the scheduler runs it."""
    from rq.scheduler import RQScheduler

    from app.jobs.worker import run_pending
    from app.services import tasks as job_queue

    monkeypatch.setitem(app.config, "BASKET_HOLD_MINUTES", 0.01)  # 0.6 s
    catalog = factory.catalog()
    family = factory.household()
    line = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    basket_id = _basket_id(app, line)
    queue = job_queue.get_queue(app)
    assert queue.scheduled_job_registry.get_job_ids() == [f"expire-basket-{basket_id}"]
    # Never before the hold's end (RQ truncates to the second): an early run would find nothing due.
    scheduled = queue.scheduled_job_registry.get_scheduled_time(f"expire-basket-{basket_id}")
    with app.app_context():
        from app.models import Basket, db

        expires_at = db.session.get(Basket, basket_id).expires_at
    assert scheduled.replace(tzinfo=timezone.utc) >= expires_at
    scheduler = RQScheduler([queue], connection=queue.connection)
    assert scheduler.acquire_locks()
    deadline = time.monotonic() + 10
    while _state(app, basket_id)[0] != "expired" and time.monotonic() < deadline:
        time.sleep(0.3)  # RQ's scheduler reads the wall clock: the job is due when the real hold ends
        run_pending(app, scheduler)
    scheduler.release_locks()
    status, lines, mails = _state(app, basket_id)
    assert status == "expired" and lines == ["expired"] and len(mails) == 1


@pytest.mark.redis
def test_real_redis_and_real_scheduler_expire_the_basket(app, factory, real_redis_url, tmp_path_factory):
    from rq.scheduler import RQScheduler

    from app import create_app
    from app.jobs.worker import run_pending
    from app.models import MailLog, db
    from app.services import tasks as job_queue

    real = create_app({**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                       "UPLOAD_DIR": str(tmp_path_factory.mktemp("up")), "REDIS_URL": real_redis_url,
                       "BASKET_HOLD_MINUTES": 0.05})  # 3 seconds
    queue = job_queue.get_queue(real)
    queue.connection.flushdb()
    try:
        catalog = factory.catalog()
        family = factory.household()
        line = add(real, family.id, family.child_ids[0], catalog.week_ids[0])
        basket_id = _basket_id(real, line)
        assert f"expire-basket-{basket_id}" in queue.scheduled_job_registry.get_job_ids()
        scheduler = RQScheduler([queue], connection=queue.connection, interval=1)
        assert scheduler.acquire_locks()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            run_pending(real, scheduler)  # moves due jobs with the real scheduler, runs them in this thread
            status, _, mails = _state(real, basket_id)
            if status == "expired" and mails:
                break
            time.sleep(0.5)  # the real RQ scheduler on Redis moves the job at its real time
        run_pending(real, scheduler)  # the mail job queued by the expiry
        scheduler.release_locks()
        status, lines, mails = _state(real, basket_id)
        assert status == "expired" and lines == ["expired"] and len(mails) == 1
        with real.app_context():
            mail = db.session.execute(select(MailLog).where(MailLog.kind == "basket_expired")).scalar_one()
            assert mail.status == "sent"
    finally:
        queue.connection.flushdb()


def test_redis_unreachable_booking_succeeds_and_sweeper_catches_up(app, factory, tmp_path_factory, caplog):
    from app import create_app
    from app.models import Basket, db, utcnow
    from app.services import maintenance

    broken = create_app({**TEST_OVERRIDES, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                         "UPLOAD_DIR": str(tmp_path_factory.mktemp("up")), "REDIS_URL": "redis://127.0.0.1:1/0"})
    catalog = factory.catalog()
    family = factory.household()
    with caplog.at_level(logging.ERROR, logger="app.services.tasks"):
        line = add(broken, family.id, family.child_ids[0], catalog.week_ids[0])
    assert line  # the booking succeeded
    basket_id = _basket_id(broken, line)
    assert any("could not enqueue" in r.getMessage() and f"expire-basket-{basket_id}" in r.getMessage()
               for r in caplog.records)
    with broken.app_context():
        maintenance.sweep(now=utcnow() + timedelta(minutes=61))  # what the sweeper runs every minute
        assert db.session.get(Basket, basket_id).status == "expired"
    status, lines, mails = _state(broken, basket_id)
    assert lines == ["expired"] and len(mails) == 1
