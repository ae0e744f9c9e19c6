"""Shared fixtures.

The database is DATABASE_URL when set (CI's PostgreSQL run), else a SQLite file in a temporary
folder. Redis is REDIS_URL when set, else the embedded substitute. Tests that need the real thing
whatever the run (PostgreSQL concurrency, the real RQ scheduler) use `pg_url` / `real_redis_url`:
they skip on a laptop where the service is missing, and fail under CI=true.

Do not hold an app context while making requests: Flask-AppBuilder keeps the logged-in user in
`g`, which would then leak between test clients. Use `with app.app_context():` around DB work only.
"""
from __future__ import annotations

import os
import re
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests import factories

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT = "redis://127.0.0.1:6379/15"

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


def unavailable(what: str):
    """Skip on a laptop; under CI a missing service is a failure, never a silent skip."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true")
    pytest.skip(f"{what} not available")


def build_app(database_url: str, tmp_path_factory, **overrides):
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


def _base_database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    return build_app(_base_database_url(tmp_path_factory), tmp_path_factory)


# Tables that survive between tests: FAB's roles and permissions (synced once per session).
KEEP = re.compile(r"^ab_(permission|view_menu|permission_view|permission_view_role|role|group|group_role)$")


def truncate_all(app) -> None:
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
        db.session.remove()


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Every test starts from an empty database (roles kept)."""
    yield
    if "app" in request.fixturenames:
        truncate_all(request.getfixturevalue("app"))
        _flush_jobs(request.getfixturevalue("app"))


def _flush_jobs(app) -> None:
    from app.services import tasks as job_queue

    try:
        job_queue.state(app).connection.flushdb()
    except Exception:
        pass


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_client(app):
    """Several independent browsers (one per person)."""
    return lambda: app.test_client()


@pytest.fixture
def login():
    def _login(client, email, password=factories.PASSWORD):
        response = client.post("/login/", data={"username": email, "password": password},
                               follow_redirects=False)
        assert response.status_code in (302, 303), f"login failed for {email}: {response.status_code}"
        return client

    return _login


@pytest.fixture
def factory(app):
    """Builders of households, catalogue and bookings; see tests/factories.py."""
    return factories.Factory(app)


# --- real services -------------------------------------------------------------------------

def _pg_reachable(url: str) -> bool:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 2})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_admin_url():
    url = os.environ.get("TEST_POSTGRES_URL", PG_DEFAULT)
    if not _pg_reachable(url):
        unavailable(f"PostgreSQL at {url}")
    return url


@pytest.fixture(scope="session")
def pg_url(pg_admin_url):
    """A fresh PostgreSQL database of its own, dropped at the end of the session."""
    name = f"pf_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = pg_admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(text(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_app(pg_url, tmp_path_factory):
    """The portal on PostgreSQL, whatever DATABASE_URL says: for concurrency tests."""
    return build_app(pg_url, tmp_path_factory)


@pytest.fixture
def pg_factory(pg_app):
    yield factories.Factory(pg_app)
    truncate_all(pg_app)


@pytest.fixture(scope="session")
def real_redis_url():
    import redis

    url = os.environ.get("TEST_REDIS_URL", REDIS_DEFAULT)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        unavailable(f"Redis at {url}")
    return url
