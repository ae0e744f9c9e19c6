"""Job plumbing: safe enqueueing, after-commit deferral, mails, the embedded worker, the sweeper."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.apps import build_app

# Jobs must be importable by RQ workers: module-level functions only.
CALLS: list[str] = []


def record_call(tag: str) -> None:
    CALLS.append(tag)


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()
    yield
    CALLS.clear()


def test_enqueue_with_redis_down_returns_none_and_logs(app, tmp_path_factory, caplog):
    from app.services.tasks import enqueue

    broken = build_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path_factory, REDIS_URL="redis://127.0.0.1:1/0")
    caplog.set_level(logging.ERROR, logger="app.services.tasks")
    with broken.app_context():
        assert enqueue(record_call, "x") is None  # how long it takes: `python -m bench.dead_redis`
    assert "could not enqueue record_call" in caplog.text


def test_deferred_job_is_queued_after_commit_and_dropped_on_rollback(app):
    from app.models import db
    from app.services.tasks import defer, get_queue

    with app.app_context():
        queue = get_queue()
        defer(db.session, record_call, "rolled back")
        db.session.rollback()
        assert queue.count == 0
        defer(db.session, record_call, "committed")
        assert queue.count == 0  # nothing before the commit
        db.session.commit()
        assert queue.count == 1
        assert queue.jobs[0].args == ("committed",)


def test_queued_mail_is_logged_then_sent_once(app):
    from app.jobs.worker import run_pending
    from app.models import MailLog, db
    from app.services.mail import queue_mail

    with app.app_context():
        for _ in range(2):  # the same dedupe key twice: one mail
            queue_mail("test", "famille@example.test", "Objet", "test_mail", dedupe_key="once-1", name="Léa")
            db.session.commit()
        assert db.session.query(MailLog).count() == 1
    run_pending(app)
    with app.app_context():
        mail = db.session.query(MailLog).one()
        assert mail.status == "sent" and mail.attempts == 1
        assert "Léa" in mail.body_text and "<strong>Léa</strong>" in mail.body_html


def test_failed_smtp_keeps_the_mail_queued_for_retry(app, tmp_path_factory):
    from app.models import MailLog, db
    from app.services.mail import deliver, queue_mail

    smtp_down = build_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path_factory,
                          MAIL_SERVER="127.0.0.1", MAIL_PORT=1)
    with smtp_down.app_context():
        mail = queue_mail("test", "famille@example.test", "Objet", "test_mail", name="Léa")
        db.session.commit()
        with pytest.raises(OSError):
            deliver(mail.id)
        db.session.expire_all()
        mail = db.session.get(MailLog, mail.id)
        assert mail.status == "queued" and mail.attempts == 1 and "ConnectionRefused" in mail.error


def test_stuck_mails_are_queued_again_by_the_sweeper(app):
    from app.models import MailLog, db, utcnow
    from app.services.mail import resend_stuck_mails
    from app.services.tasks import get_queue

    with app.app_context():
        db.session.add(MailLog(kind="test", to_address="a@example.test", subject="s", body_text="b",
                               status="queued", created_at=utcnow() - timedelta(minutes=10)))
        db.session.add(MailLog(kind="test", to_address="b@example.test", subject="s", body_text="b",
                               status="sent", created_at=utcnow() - timedelta(minutes=10)))
        db.session.commit()
        assert resend_stuck_mails() == 1
        assert get_queue().count == 1


def test_embedded_worker_runs_a_scheduled_job_at_its_time(app):
    from app.jobs.worker import EmbeddedWorker
    from app.services.tasks import enqueue

    if app.config["REDIS_URL"] is not None:
        pytest.skip("the embedded worker is for the embedded substitute")
    with app.app_context():
        # RQ truncates scheduled times to the second: +2 s is at least +1 s.
        enqueue(record_call, "later", at=datetime.now(timezone.utc) + timedelta(seconds=2), job_id="t-later")
    worker = EmbeddedWorker(app, interval=0.2)
    worker.start()
    try:
        # The worker thread and RQ's scheduler read the wall clock: only waiting lets the job fall due.
        time.sleep(0.4)
        assert CALLS == []  # not before its time
        deadline = time.monotonic() + 30  # generous: CI machines can be very busy
        while not CALLS and time.monotonic() < deadline:
            time.sleep(0.1)
        assert CALLS == ["later"]
    finally:
        worker.stop()
        worker.join(timeout=5)


@pytest.mark.redis
def test_unique_job_ids_are_not_scheduled_twice(app, tmp_path_factory, real_redis_url):
    from app.services.tasks import enqueue, get_queue

    real = build_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path_factory, REDIS_URL=real_redis_url)
    with real.app_context():
        get_queue().connection.flushdb()
        at = datetime.now(timezone.utc) + timedelta(minutes=5)
        assert enqueue(record_call, "a", at=at, job_id="unique-1", unique=True) is not None
        assert enqueue(record_call, "b", at=at, job_id="unique-1", unique=True) is None
        assert get_queue().scheduled_job_registry.count == 1
        get_queue().connection.flushdb()


@pytest.mark.redis
def test_production_worker_with_real_redis_and_scheduler(app, tmp_path_factory, real_redis_url):
    """`flask worker` code path: a real RQ worker with its scheduler runs a job scheduled for later."""
    from rq import SimpleWorker
    from rq.scheduler import RQScheduler

    from app.services.tasks import enqueue, get_queue

    real = build_app(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path_factory, REDIS_URL=real_redis_url)
    with real.app_context():
        queue = get_queue()
        queue.connection.flushdb()
        enqueue(record_call, "scheduled", at=datetime.now(timezone.utc) + timedelta(seconds=1), job_id="t-sched")
        assert queue.count == 0 and queue.scheduled_job_registry.count == 1
        scheduler = RQScheduler([queue], connection=queue.connection, interval=1)
        assert scheduler.acquire_locks()
        deadline = time.monotonic() + 10
        while queue.scheduled_job_registry.count and time.monotonic() < deadline:
            scheduler.enqueue_scheduled_jobs()
            time.sleep(0.2)  # the real RQ scheduler on Redis moves the job at its real time
        scheduler.release_locks()
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        queue.connection.flushdb()
    assert CALLS == ["scheduled"]


def test_sweeper_schedules_itself_once_per_slot(app):
    from app.jobs.sweeper import ensure_sweeper
    from app.services.tasks import get_queue

    with app.app_context():
        ensure_sweeper(app)
        ensure_sweeper(app)
        registry = get_queue().scheduled_job_registry
        ids = registry.get_job_ids()
        assert len(ids) == 1 and ids[0].startswith("sweep-")


def test_sweeper_slot_follows_the_given_clock(app):
    from app.jobs.sweeper import ensure_sweeper
    from app.services.tasks import get_queue

    interval = app.config["SWEEP_INTERVAL_SECONDS"]
    now = datetime(2031, 3, 4, 10, 0, 0, tzinfo=timezone.utc) + timedelta(seconds=interval // 2)
    next_slot = datetime(2031, 3, 4, 10, 0, 0, tzinfo=timezone.utc) + timedelta(seconds=interval)
    with app.app_context():
        ensure_sweeper(app, now=now)
        assert get_queue().scheduled_job_registry.get_job_ids() == [f"sweep-{int(next_slot.timestamp())}"]


def test_sweep_reads_one_clock_for_every_task(app):
    """A mail logged just now is not "stuck" yet; five minutes later, by the sweep's clock, it is."""
    from app.models import MailLog, db, utcnow
    from app.services import maintenance
    from app.services.tasks import get_queue

    with app.app_context():
        db.session.add(MailLog(kind="test", to_address="a@example.test", subject="s", body_text="b",
                               status="queued", created_at=utcnow()))
        db.session.commit()
        maintenance.sweep()
        assert get_queue().count == 0
        maintenance.sweep(now=utcnow() + timedelta(minutes=5))
        assert get_queue().count == 1


def test_sweep_job_runs_and_reschedules(app):
    from app.jobs.sweeper import sweep_job
    from app.services.tasks import get_queue

    with app.app_context():
        sweep_job()
        assert any(i.startswith("sweep-") for i in get_queue().scheduled_job_registry.get_job_ids())


def test_job_wrapper_gives_a_fresh_session(app):
    from app.jobs.context import job
    from app.models import db

    seen = []

    @job
    def probe():
        seen.append(db.session())

    with app.app_context():
        probe()
        probe()
    assert len(seen) == 2 and seen[0] is not seen[1]


def test_concurrent_dedupe_mails_log_once(app):
    """Two workers logging the same idempotent mail at once: one row."""
    from app.models import MailLog, db
    from app.services.mail import queue_mail

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite serialises writers; the race is exercised on PostgreSQL")
    barrier = threading.Barrier(2)
    errors = []

    def send():
        try:
            with app.app_context():
                barrier.wait()
                queue_mail("test", "x@example.test", "Objet", "test_mail", dedupe_key="race-1", name="A")
                db.session.commit()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    with app.app_context():
        assert db.session.query(MailLog).filter_by(dedupe_key="race-1").count() == 1
