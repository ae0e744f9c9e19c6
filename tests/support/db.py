"""Database work from a test, outside any request.

A test must not hold an app context while it makes requests (Flask-AppBuilder keeps the logged-in
user in `g`, which would leak between test clients), so every read or write of the database gets
its own short `with app.app_context():`. Leaving the context is enough to hand the session back:
Flask-SQLAlchemy removes the scoped session on app-context teardown, so no test needs
`db.session.remove()`.
"""
from __future__ import annotations


def call(app, func, *args, **kwargs):
    """Run a service function in its own app context (as a request or job would)."""
    with app.app_context():
        return func(*args, **kwargs)


def race(app, *jobs):
    """Run each job in its own thread and app context, all released together by a barrier; return
    their results in order (a typed service error stands as its code)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from app.models import db
    from app.services.errors import ServiceError

    barrier = threading.Barrier(len(jobs))

    def run(job):
        with app.app_context():
            try:
                barrier.wait()
                return job()
            except ServiceError as exc:
                return exc.code
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))
