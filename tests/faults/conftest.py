"""Fixtures of the fault-injection suite: services we may break on purpose.

Nothing here touches the shared services: Redis is a throw-away `redis-server` on a port of its
own (killed and restarted by the tests), PostgreSQL databases are created for the suite and
dropped after it, workers are subprocesses this suite starts and kills by pid.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.apps import truncate_all, unavailable

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowAwayRedis:
    """A redis-server of our own, without persistence: killing it loses everything, like a crash."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("throw-away redis-server did not start")
                time.sleep(0.05)  # waiting for the redis-server process to listen

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture
def throwaway_redis(tmp_path):
    if shutil.which("redis-server") is None:
        unavailable("redis-server binary")
    server = ThrowAwayRedis(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def lock_app(pg_app, pg_url, tmp_path_factory):
    """The portal on the suite's PostgreSQL database (schema and roles made by `pg_app`), with a
    half-second lock timeout: a second process's view of the same data."""
    return app_on(pg_url, tmp_path_factory, LOCK_TIMEOUT_SECONDS=0.5)


@pytest.fixture
def lock_factory(lock_app):
    from tests.support.factories import Factory

    yield Factory(lock_app)
    truncate_all(lock_app)


def worker_process(env_overrides: dict, log_path: Path) -> subprocess.Popen:
    """`flask --app run worker` (the production worker) as a subprocess of this test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "MAIL_"))}
    env.update({"LOG_LEVEL": "WARNING", "RATELIMIT_ENABLED": "false", "PYTHONUNBUFFERED": "1",
                "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1", "PAYMENT_PROVIDER": "sandbox"})
    env.update({k: str(v) for k, v in env_overrides.items()})
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "worker"], cwd=ROOT, env=env,
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def app_on(database_url: str, tmp_path_factory, **overrides):
    """Another portal app on an existing database (schema and roles already there): a second
    process's view of the same data, with its own settings (Redis, mail server, queue name…)."""
    from app import create_app
    from tests.support.apps import TEST_OVERRIDES

    config = dict(TEST_OVERRIDES, SQLALCHEMY_DATABASE_URI=database_url,
                  UPLOAD_DIR=str(tmp_path_factory.mktemp("uploads")), REDIS_URL=None)
    config.update(overrides)
    return create_app(config)
