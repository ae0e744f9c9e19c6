"""Building portal apps for tests and emptying their databases.

The settings in TEST_OVERRIDES trade realism for speed only where nothing is asserted about it
(cheap password hashes, no CSRF or rate limits unless a test turns them on).
"""
from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import text

IN_CI = os.environ.get("CI", "").lower() == "true"

TEST_OVERRIDES = {
    "TESTING": True,
    "WTF_CSRF_ENABLED": False,
    "RATELIMIT_ENABLED": False,
    "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",  # scrypt costs ~175 ms a user
    "EMBEDDED_WORKER": False,
    "PUBLIC_URL": "http://portail.test",
    "SERVER_NAME": None,
    "PAYMENT_PROVIDER": "sandbox",
    "MAIL_SERVER": None,
    "LOCK_TIMEOUT_SECONDS": 5,
}

# Tables that survive between tests: FAB's roles and permissions (synced once per session).
# security_version stays with the roles it versions: the parent API's gate caches them per version.
KEEP = re.compile(r"^(ab_(permission|view_menu|permission_view|permission_view_role|role|group|group_role)"
                  r"|security_version)$")


def unavailable(what: str):
    """Skip on a laptop; under CI a missing service is a failure, never a silent skip."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true")
    pytest.skip(f"{what} not available")


def build_app(database_url: str, tmp_path_factory, **overrides):
    """A portal on `database_url` with a fresh schema and synced roles (drops what was there)."""
    from app import create_app

    upload_dir = tmp_path_factory.mktemp("uploads")
    config = dict(TEST_OVERRIDES, SQLALCHEMY_DATABASE_URI=database_url, UPLOAD_DIR=str(upload_dir),
                  REDIS_URL=os.environ.get("REDIS_URL") or None)
    config.update(overrides)
    app = create_app(config)
    with app.app_context():
        from app.models import db
        from app.security import sync_roles

        db.drop_all()
        db.create_all()
        sync_roles(app.appbuilder)
    return app


def truncate_all(app) -> None:
    """Empty every table but FAB's roles and permissions, which are costly to sync again."""
    from app.models import db

    with app.app_context():
        tables = [t for t in reversed(db.metadata.sorted_tables) if not KEEP.match(t.name)]
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("TRUNCATE " + ", ".join(f'"{t.name}"' for t in tables)
                                    + " RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                db.session.execute(table.delete())
        db.session.commit()
    # TRUNCATE bypasses the session, so the catalogue version does not see it: drop the snapshot,
    # and the admission gate's marks of weeks that no longer exist (ids restart).
    from app.services.booking import admission, catalogue_snapshot
    catalogue_snapshot.forget(app)
    with app.app_context():
        try:
            admission.forget_all()
        except Exception:  # noqa: BLE001 - a test may have broken Redis on purpose
            pass


def flush_jobs(app) -> None:
    """Drop whatever a test left queued; best effort, a test may have broken Redis on purpose."""
    from app.services import tasks as job_queue

    try:
        job_queue.state(app).connection.flushdb()
    except Exception:
        pass
