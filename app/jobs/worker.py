"""Workers: `flask worker` for production, and the embedded thread for a laptop.

The embedded worker runs in a thread of the web process with the in-process Redis substitute. RQ
workers install signal handlers and SIGALRM timeouts, which only work in the main thread, so this
one skips both (a blocking job cannot be interrupted: acceptable for a demo, never for production).
"""
from __future__ import annotations

import logging
import threading

from flask import Flask
from rq import SimpleWorker
from rq.scheduler import RQScheduler
from rq.timeouts import BaseDeathPenalty

from app.services import tasks as job_queue

log = logging.getLogger(__name__)


class _NoDeathPenalty(BaseDeathPenalty):
    def setup_death_penalty(self):
        pass

    def cancel_death_penalty(self):
        pass


class ThreadWorker(SimpleWorker):
    death_penalty_class = _NoDeathPenalty

    def _install_signal_handlers(self):
        pass


def run_pending(app: Flask, scheduler: RQScheduler | None = None) -> None:
    """Move due scheduled jobs to the queue, then run everything queued, in this thread."""
    queue = job_queue.get_queue(app)
    if scheduler is None:
        scheduler = RQScheduler([queue], connection=queue.connection)
        scheduler.acquire_locks()
    scheduler.enqueue_scheduled_jobs()
    with app.app_context():
        ThreadWorker([queue], connection=queue.connection).work(burst=True, logging_level="WARNING")


class EmbeddedWorker(threading.Thread):
    def __init__(self, app: Flask, interval: float = 1.0):
        super().__init__(name="embedded-rq-worker", daemon=True)
        self.app = app
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        queue = job_queue.get_queue(self.app)
        scheduler = RQScheduler([queue], connection=queue.connection)
        scheduler.acquire_locks()
        from app.jobs.privacy import ensure_retention_job
        from app.jobs.sweeper import ensure_sweeper

        ensure_sweeper(self.app)
        ensure_retention_job(self.app)
        while not self.stopping.is_set():
            try:
                run_pending(self.app, scheduler)
            except Exception:  # keep the demo alive; the error is in the log
                log.exception("embedded worker iteration failed")
            self.stopping.wait(self.interval)

    def stop(self) -> None:
        self.stopping.set()


def start_embedded_worker(app: Flask) -> EmbeddedWorker | None:
    if not job_queue.state(app).embedded or not app.config.get("EMBEDDED_WORKER", True):
        return None
    worker = EmbeddedWorker(app)
    worker.start()
    log.info("embedded worker started (in-process Redis substitute)")
    return worker


def run_worker(app: Flask, burst: bool = False) -> None:
    """Production worker: one process, the scheduler in-thread polling every second."""
    queue = job_queue.get_queue(app)
    from app.jobs.privacy import ensure_retention_job
    from app.jobs.sweeper import ensure_sweeper

    ensure_sweeper(app)
    ensure_retention_job(app)
    with app.app_context():
        worker = SimpleWorker([queue], connection=queue.connection)
        worker.work(burst=burst, with_scheduler=True)
