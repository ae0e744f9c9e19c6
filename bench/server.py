"""The portal as production runs it: gunicorn (threaded workers) and a separate RQ worker process."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .http import Client, TransportError

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(database_url: str, redis_url: str, port: int, instance_dir: str, *, queue: str,
               password_hash: str, lock_timeout: float | None = None,
               hold_minutes: float | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STRIPE_", "MAIL_")) and k not in ("PAYMENT_PROVIDER", "APP_ENV")}
    env.update({
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RQ_QUEUE": queue,
        "APP_ENV": "development",  # the sandbox payment provider is refused in production
        "PAYMENT_PROVIDER": "sandbox",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port),
        "INSTANCE_DIR": instance_dir,
        # A thousand parents logging in from one address within a minute would trip the login
        # throttle (10 per 5 minutes per address): the bench measures booking, not the limiter.
        "RATELIMIT_ENABLED": "false",
        "FAB_PASSWORD_HASH_METHOD": password_hash,
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        "PYTHONUNBUFFERED": "1",
    })
    if lock_timeout is not None:
        env["LOCK_TIMEOUT_SECONDS"] = str(lock_timeout)
    if hold_minutes is not None:
        env["BASKET_HOLD_MINUTES"] = str(hold_minutes)  # short, so that the unpaid baskets lapse within the run
    return env


def start_gunicorn(env: dict, port: int, workers: int, threads: int, log_path: Path,
                   config: str | None = None) -> subprocess.Popen:
    """The portal under gunicorn: sync workers with `threads` 1 (the production shape, `gunicorn -w N`,
    measured best in bench/README.md), else gthread workers of `threads` threads. Gunicorn's errors
    and the application's own log (tracebacks) go to `log_path`."""
    worker_class = ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), *worker_class,
           "--bind", f"127.0.0.1:{port}", "--backlog", "2048",
           # Parents keep their connection between clicks (gthread); gunicorn's 2 s default would make
           # the generator reconnect all the time.
           "--keep-alive", "75", "--timeout", "120", "--graceful-timeout", "10", "--log-level", "warning"]
    if config:
        cmd += ["--config", config]
    cmd.append("run:app")
    log = open(log_path, "ab")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start_worker(env: dict, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "run", "worker"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_ready(port: int, procs: list[subprocess.Popen], timeout: float = 90.0) -> None:
    client = Client("127.0.0.1", port, timeout=5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"process {proc.args} exited with {proc.returncode} during start-up")
        try:
            if client.get("/health").status == 200:
                client.close()
                return
        except TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the portal did not answer /health on port {port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen | None, timeout: float = 15.0) -> None:
    """SIGTERM the process group we started (gunicorn master and its workers), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn workers of a master (children in /proc), for the profiler."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == master_pid:
                pids.append(int(entry.name))
    return sorted(pids)


def tear_down(procs: list, server_url: str, database_url: str | None, redis_conn, workdir: Path,
              keep: bool) -> None:
    """End a bench run: its processes, then (unless kept for debugging) its own database, its Redis
    database (scheduled jobs of a dropped database must not survive) and its work folder."""
    import shutil

    import redis

    from . import seed

    for proc in procs:
        stop(proc)
    if database_url and not keep:
        seed.drop_database(server_url, database_url)
    try:
        redis_conn.flushdb()
    except redis.RedisError:
        pass
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
