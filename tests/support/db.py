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
