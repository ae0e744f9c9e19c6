"""A worker killed with SIGKILL in the middle of a job: the job's effect happens exactly once.

Real `flask worker` subprocesses against real Redis, killed at the worst moment:
* a mail job whose SMTP server stalls the delivery (the mail log row is locked, the message
  half-sent); then RQ's maintenance retries the abandoned job and the sweeper re-queues the mail
  still marked queued: one message reaches the mailbox, the log says sent after one attempt;
* (PostgreSQL) a basket expiry job waiting for the basket's row lock; then maintenance, the sweeper
  and a late duplicate of the job all run: the basket is released, audited and mailed once.
"""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
import uuid
from datetime import timedelta

import pytest

from tests.faults.conftest import app_on, free_port, worker_process

pytestmark = pytest.mark.faults


class StallingSMTP:
    """Stalls the first DATA until released (then refuses it); records the others."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.delivered: list[bytes] = []
        self._stalled = False

    async def handle_DATA(self, server, session, envelope):
        if not self._stalled:
            self._stalled = True
            self.entered.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 coupure simulée"
        self.delivered.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    handler = StallingSMTP()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    handler.release.set()
    controller.stop()


def test_worker_killed_during_a_mail_job_sends_it_exactly_once(app, real_redis_url, smtp, tmp_path,
                                                               tmp_path_factory):
    from app.jobs.worker import run_pending
    from app.models import MailLog, db
    from app.services.mail import queue_mail, resend_stuck_mails
    from app.services.tasks import get_queue

    handler, smtp_port = smtp
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    queue_name = f"faults-{uuid.uuid4().hex[:8]}"
    settings = {"REDIS_URL": real_redis_url, "RQ_QUEUE": queue_name, "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": smtp_port}
    web = app_on(database_url, tmp_path_factory, **settings)
    queue = get_queue(web)
    queue.connection.flushdb()
    worker = worker_process({"DATABASE_URL": database_url, **settings}, tmp_path / "worker.log")
    try:
        with web.app_context():
            mail = queue_mail("test", "famille@example.test", "Votre inscription", "test_mail", name="Léa")
            db.session.commit()
            mail_id = mail.id
        assert handler.entered.wait(60), (tmp_path / "worker.log").read_text()
        os.kill(worker.pid, signal.SIGKILL)  # mid-send: the row is locked, the message not accepted
        worker.wait(timeout=10)
    finally:
        # RQ runs the worker's scheduler in a child process, which SIGKILL on the worker orphans
        # (as it would in production without a process supervisor): end the whole group we started.
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait(timeout=10)
        handler.release.set()

    with web.app_context():
        mail = db.session.get(MailLog, mail_id)
        assert (mail.status, mail.attempts, handler.delivered) == ("queued", 0, [])  # nothing half-done
    # Entries are "<job id>:<execution id>"; the dead worker left its job registered as started.
    abandoned = {entry.decode().split(":")[0]
                 for entry in queue.connection.zrange(queue.started_job_registry.key, 0, -1)}
    assert len(abandoned) == 1, "the killed job should still be registered as started"

    # Recovery 1, RQ's maintenance once the dead worker's heartbeat has lapsed: the job has retries
    # left, so it is scheduled again; bring its retry delay forward instead of waiting for it.
    queue.started_job_registry.cleanup(timestamp=time.time() + 3600)
    retried = abandoned & set(queue.scheduled_job_registry.get_job_ids())
    assert retried == abandoned, "maintenance should schedule the abandoned job for a retry"
    for job_id in retried:
        queue.scheduled_job_registry.requeue(job_id)
    # Recovery 2, the sweeper: a mail still "queued" is queued again under its own unique id.
    with web.app_context():
        assert resend_stuck_mails(older_than=timedelta(0)) == 1
    assert queue.count == 2  # two copies of the same work: the retried job and the sweeper's
    run_pending(web)

    assert len(handler.delivered) == 1, "the mail must be delivered once, not zero or two times"
    assert b"Votre inscription" in handler.delivered[0]
    with web.app_context():
        mail = db.session.get(MailLog, mail_id)
        assert (mail.status, mail.attempts) == ("sent", 1)
    queue.connection.flushdb()



@pytest.mark.postgres
def test_worker_killed_while_expiring_a_basket_releases_it_exactly_once(pg_app, pg_factory, pg_url, real_redis_url,
                                                                        tmp_path, tmp_path_factory):
    """The expiry job of a lapsed basket is stuck on the basket's row lock (a payment being recorded
    at that moment holds it) when its worker is killed. Nothing is half-done; then both RQ's
    maintenance (the job is moved aside and re-queued by hand, as an operator would) and the
    sweeper run it again: the basket is released once, mailed once, audited once."""
    from sqlalchemy import create_engine, func, select, text

    from app.jobs.booking import expire_basket_job
    from app.jobs.sweeper import sweep_job
    from app.jobs.worker import run_pending
    from app.models import AuditLog, Basket, MailLog, Reservation, db
    from app.services.tasks import enqueue, get_queue
    from tests.support.payments import lapse, make_basket

    queue_name = f"faults-{uuid.uuid4().hex[:8]}"
    web = app_on(pg_url, tmp_path_factory, REDIS_URL=real_redis_url, RQ_QUEUE=queue_name)
    queue = get_queue(web)
    queue.connection.flushdb()
    basket = make_basket(pg_app, pg_factory, children=(("Léa", 8), ("Tom", 6)))
    lapse(pg_app, basket.basket_id)

    holder = create_engine(pg_url)
    lock = holder.connect()
    lock.execute(text("SELECT id FROM basket WHERE id = :id FOR UPDATE"), {"id": basket.basket_id})
    with web.app_context():
        job = enqueue(expire_basket_job, basket.basket_id, job_id=f"expire-basket-{basket.basket_id}")
    assert job is not None
    worker = worker_process({"DATABASE_URL": pg_url, "REDIS_URL": real_redis_url, "RQ_QUEUE": queue_name,
                             "LOCK_TIMEOUT_SECONDS": 60}, tmp_path / "worker.log")
    watcher = holder.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        deadline = time.monotonic() + 60
        while True:  # the job is running and waiting for the row
            waiting = watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE '%FROM basket%FOR UPDATE%'")).scalar()
            if waiting:
                break
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.1)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        worker.wait(timeout=10)
        watcher.close()
        lock.rollback()
        lock.close()
        holder.dispose()

    with pg_app.app_context():
        assert db.session.get(Basket, basket.basket_id).status == "open"  # nothing half-done

    # Maintenance after the heartbeat lapsed: no retries left, the job is failed; re-queue it.
    queue.started_job_registry.cleanup(timestamp=time.time() + 3600)
    assert job.id in queue.failed_job_registry.get_job_ids()
    queue.failed_job_registry.requeue(job.id)
    # And the sweeper, which would have caught it anyway within a minute.
    with web.app_context():
        enqueue(sweep_job, job_id=f"sweep-now-{uuid.uuid4().hex[:6]}")
    run_pending(web)
    # A late duplicate of the same job (RQ delivers at least once): it must find nothing to do.
    with web.app_context():
        assert enqueue(expire_basket_job, basket.basket_id, job_id=f"expire-again-{basket.basket_id}") is not None
    run_pending(web)

    with pg_app.app_context():
        assert db.session.get(Basket, basket.basket_id).status == "expired"
        statuses = db.session.execute(select(Reservation.status)
                                      .where(Reservation.basket_id == basket.basket_id)).scalars().all()
        assert statuses == ["expired", "expired"]
        assert db.session.execute(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "basket.expired", AuditLog.entity_id == basket.basket_id)).scalar() == 1
        mails = db.session.execute(select(MailLog.status).where(MailLog.kind == "basket_expired")).scalars().all()
        assert mails == ["sent"]
    queue.connection.flushdb()
