"""A worker killed with SIGKILL in the middle of a job: the job's effect happens exactly once.

The job is a real mail send, run by a real `flask worker` subprocess against real Redis. The SMTP
server stalls the first delivery, the test kills the worker right then (the worst moment: the
mail log row is locked, the message half-sent), and then both recovery paths run: RQ's
maintenance retries the abandoned job, and the sweeper re-queues the mail still marked queued.
One message reaches the mailbox, the log says sent after one attempt.
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
    from app.jobs.queue import get_queue
    from app.jobs.worker import run_pending
    from app.models import MailLog, db
    from app.services.mail import queue_mail, resend_stuck_mails

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
            db.session.remove()
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
        db.session.remove()
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
        db.session.remove()
    assert queue.count == 2  # two copies of the same work: the retried job and the sweeper's
    run_pending(web)

    assert len(handler.delivered) == 1, "the mail must be delivered once, not zero or two times"
    assert b"Votre inscription" in handler.delivered[0]
    with web.app_context():
        mail = db.session.get(MailLog, mail_id)
        assert (mail.status, mail.attempts) == ("sent", 1)
        db.session.remove()
    queue.connection.flushdb()

