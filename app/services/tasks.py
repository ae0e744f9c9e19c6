"""Redis connection, the queue, and safe enqueueing (jobs are named by dotted path, e.g.
"app.jobs.mail.send_mail_job", so that services never import the jobs that call them).

Web requests must never fail because Redis is down (DESIGN.md §4): every enqueue goes through
`enqueue()`, which logs the failure and returns None; the sweeper recovers what was not queued.
Jobs that depend on a database change are deferred to after the commit (`defer()`), so a worker
never reads a row that is not there yet and a rolled-back request schedules nothing.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable

import redis
from flask import Flask, current_app
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

log = logging.getLogger(__name__)

_EXT = "portail_jobs"


class JobsState:
    def __init__(self, connection: redis.Redis, embedded: bool, queue_name: str):
        self.connection = connection
        self.embedded = embedded
        self.queue = Queue(queue_name, connection=connection)


def make_connection(app: Flask) -> tuple[redis.Redis, bool]:
    url = app.config.get("REDIS_URL")
    if url:
        # Short timeouts and no retry storms: a dead Redis must cost a request milliseconds, not a minute.
        conn = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2,
                                    retry_on_timeout=False, health_check_interval=30)
        return conn, False
    import fakeredis

    server = fakeredis.FakeServer()
    return fakeredis.FakeRedis(server=server), True


def init_app(app: Flask) -> None:
    connection, embedded = make_connection(app)
    app.extensions[_EXT] = JobsState(connection, embedded, app.config["RQ_QUEUE"])


def state(app: Flask | None = None) -> JobsState:
    return (app or current_app).extensions[_EXT]


def get_queue(app: Flask | None = None) -> Queue:
    return state(app).queue


def redis_status(app: Flask | None = None) -> str:
    st = state(app)
    if st.embedded:
        return "embedded"
    try:
        st.connection.ping()
        return "ok"
    except redis.exceptions.RedisError:
        return "down"


def enqueue(func: Any, *args: Any, job_id: str | None = None, at: datetime | None = None,
            unique: bool = False, retry: Retry | None = None, app: Flask | None = None, **kwargs: Any):
    """Enqueue now or at `at`; never raises. Returns the job, or None when it was not queued
    (Redis down, or a unique job with the same id already exists)."""
    queue = get_queue(app)
    options: dict[str, Any] = {"job_id": job_id, "retry": retry, "unique": unique,
                               "failure_ttl": 7 * 24 * 3600}
    try:
        if at is not None:
            return queue.enqueue_at(at, func, *args, **options, **kwargs)
        return queue.enqueue(func, *args, **options, **kwargs)
    except DuplicateJobError:
        log.info("job %s already queued", job_id)
        return None
    except redis.exceptions.RedisError as exc:
        log.error("could not enqueue %s (%s): %s; the sweeper will recover",
                  getattr(func, "__name__", func), job_id, exc.__class__.__name__)
        return None


def defer(session: Session | scoped_session, func: Callable | str, *args: Any, **kwargs: Any) -> None:
    """Enqueue `func` once `session` commits; dropped if it rolls back."""
    target: Session = session() if isinstance(session, scoped_session) else session
    if not target.in_transaction():
        target.begin()  # so that a rollback, even before any SQL, drops the job
    target.info.setdefault(_EXT, []).append((func, args, kwargs))


@event.listens_for(Session, "after_commit")
def _enqueue_deferred(session: Session) -> None:
    pending = session.info.pop(_EXT, None)
    if not pending:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for func, args, kwargs in pending:
        enqueue(func, *args, app=app, **kwargs)


@event.listens_for(Session, "after_soft_rollback")
def _drop_deferred(session: Session, previous_transaction) -> None:
    # Only the outermost rollback cancels the deferred jobs; a savepoint rolled back inside
    # (e.g. a duplicate mail caught in queue_mail) leaves the rest of the transaction intact.
    if previous_transaction.parent is None:
        session.info.pop(_EXT, None)
