"""Shared fixtures.

The database is DATABASE_URL when set (CI's PostgreSQL run), else a SQLite file in a temporary
folder. Redis is REDIS_URL when set, else the embedded substitute. Tests that need the real thing
whatever the run (PostgreSQL concurrency, the real RQ scheduler) use `pg_url` / `real_redis_url`:
they skip on a laptop where the service is missing, and fail under CI=true.

Builders and helpers live in tests/support/ (apps, factories, clients, db, payments); this file
only wires them as fixtures. Do not hold an app context while making requests: Flask-AppBuilder
keeps the logged-in user in `g`, which would then leak between test clients. Use
`with app.app_context():` around DB work only (tests/support/db.py: no session.remove() needed).

Slow tests (browser journeys, the fault suite, PostgreSQL races) are marked `slow` here, and get a
longer per-test timeout than pytest.ini's: `pytest -m "not slow"` is the quick loop.
"""
from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.support import factories
from tests.support.apps import (  # noqa: F401  (re-exported: older tests import them from here)
    IN_CI,
    TEST_OVERRIDES,
    build_app,
    flush_jobs,
    truncate_all,
    unavailable,
)
from tests.support.clients import login as login_client

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT = "redis://127.0.0.1:6379/15"
SLOW_MARKERS = ("e2e", "faults", "postgres")
SLOW_FIXTURES = ("pg_url", "pg_app")
SLOW_TIMEOUT_SECONDS = 600


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects anything
def pytest_collection_modifyitems(config, items):
    """One rule for what is slow, so a new journey, fault test or PostgreSQL race is never left in
    the quick loop by accident; slow tests may run past pytest.ini's timeout, not forever."""
    for item in items:
        in_e2e = "tests/e2e/" in str(item.path).replace(os.sep, "/")  # its own conftest marks it `e2e` later
        slow = in_e2e or any(item.get_closest_marker(name) for name in SLOW_MARKERS) \
            or any(name in item.fixturenames for name in SLOW_FIXTURES)
        if slow:
            item.add_marker(pytest.mark.slow)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_SECONDS))


def _base_database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    return build_app(_base_database_url(tmp_path_factory), tmp_path_factory)


@pytest.fixture(autouse=True)
def _clean_database(request):
    """Every test starts from an empty database (roles kept)."""
    yield
    if "app" in request.fixturenames:
        truncate_all(request.getfixturevalue("app"))
        flush_jobs(request.getfixturevalue("app"))


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_client(app):
    """Several independent browsers (one per person)."""
    return lambda: app.test_client()


@pytest.fixture
def login():
    """`login(client, email[, password])`: form login, returns the client (tests/support/clients.py)."""
    return login_client


@pytest.fixture
def factory(app):
    """Builders of households, catalogue and bookings; see tests/support/factories.py."""
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
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' "
                          "AND pid <> pg_backend_pid()"))
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
