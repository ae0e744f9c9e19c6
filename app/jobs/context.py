"""Give every job an application context and a fresh database session."""
from __future__ import annotations

import functools
from typing import Callable

from flask import Flask, has_app_context

_app: Flask | None = None


def _worker_app() -> Flask:
    """The app of a standalone `rq worker` process, created once per process."""
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


def job(fn: Callable) -> Callable:
    """Run `fn` inside an app context and close its session afterwards (jobs re-read the database)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from app.models import db

        if has_app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()
        with _worker_app().app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()

    return wrapper
