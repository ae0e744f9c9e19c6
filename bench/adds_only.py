"""The add-to-basket rate alone, in the shape the issue's comparison with pretix used.

    python -m bench.adds_only [--households 2000] [--places 1500] [--concurrency 50] [--threads 1]
                              [--json adds.json]

N distinct households, already logged in (JWTs taken before the clock starts), each add ONE week
(the same week, `--places` places: the race is for that week's row lock) through
`POST /api/v1/portal/basket/lines`, `--concurrency` in flight, **a new connection per request**
(as pretix's harness did), and before them the offers page (`GET …/children/<id>/offers`) the same
way, once per household. The `/health` ceiling is measured before and after with the same shape.
The verdict is read from the database with SQL (bench/checks.py): zero overbooked, zero double-
booked, zero 5xx. The statements of one warm offers page and one warm add are counted in-process
on the same database (Flask test client, same code). Exit status 1 when the verdict fails, 2 when
the run could not happen. See bench/README.md, "Adds only".
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue as queue_module
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import redis
from sqlalchemy import create_engine, event

from . import checks, seed, server
from .http import Client, TransportError

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
LINES = "/api/v1/portal/basket/lines"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cpus = os.cpu_count() or 2
    p = argparse.ArgumentParser(prog="python -m bench.adds_only", description=__doc__.split("\n\n")[0])
    p.add_argument("--households", type=int, default=2000)
    p.add_argument("--places", type=int, default=1500, help="places of the one week every household adds")
    p.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    p.add_argument("--workers", type=int, default=cpus)
    p.add_argument("--threads", type=int, default=1,
                   help="gunicorn threads per worker (default 1: sync workers, as bench.rush)")
    p.add_argument("--processes", type=int, default=1,
                   help="load-generator processes sharing the requests in flight (default 1: the issue's shape)")
    p.add_argument("--baseline-seconds", type=float, default=6.0, help="/health ceiling, half before, half after")
    p.add_argument("--password-hash", default="pbkdf2:sha256:1000")
    p.add_argument("--json", dest="json_path", default=None)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--flush-redis", action="store_true")
    args = p.parse_args(argv)
    if min(args.households, args.places, args.concurrency, args.processes) < 1:
        p.error("--households, --places, --concurrency and --processes must be positive")
    return args


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class Tally:
    """Latencies and statuses of one phase (one kind of request)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ms: list[float] = []
        self.statuses: dict[str, int] = {}
        self.errors_5xx = 0
        self.samples: list[str] = []
        self.first = self.last = 0.0

    def add(self, status: int | str, ms: float | None, text: str = "") -> None:
        with self.lock:
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
            if ms is not None:
                self.ms.append(ms)
            # 503 {"code": "busy"} is the designed "try again"; any other 5xx, or no answer, is a failure.
            if status == "no answer" or (isinstance(status, int) and status >= 500 and '"busy"' not in text):
                self.errors_5xx += 1
                if len(self.samples) < 5:
                    self.samples.append(f"{status} {text[:200]}")

    def state(self) -> dict:
        """What a generator process sends back (a Tally's lock does not cross processes)."""
        return {"ms": self.ms, "statuses": self.statuses, "errors_5xx": self.errors_5xx, "samples": self.samples,
                "first": self.first, "last": self.last}

    def merge(self, state: dict) -> None:
        self.ms.extend(state["ms"])
        for status, count in state["statuses"].items():
            self.statuses[status] = self.statuses.get(status, 0) + count
        self.errors_5xx += state["errors_5xx"]
        self.samples.extend(state["samples"][: max(0, 5 - len(self.samples))])
        if state["last"]:
            self.first = min(self.first, state["first"]) if self.first else state["first"]
            self.last = max(self.last, state["last"])

    def summary(self) -> dict:
        span = self.last - self.first
        return {"requests": len(self.ms), "rps": round(len(self.ms) / span, 1) if span > 0 else 0.0,
                "p50_ms": round(percentile(self.ms, 50), 1), "p95_ms": round(percentile(self.ms, 95), 1),
                "p99_ms": round(percentile(self.ms, 99), 1), "statuses": self.statuses,
                "errors_5xx": self.errors_5xx}


def one_shot(port: int, method: str, path: str, token: str | None, tally: Tally, body=None) -> None:
    """One request on a connection of its own, closed after the answer."""
    client = Client("127.0.0.1", port)
    client.token = token
    try:
        response = client.request(method, path, json=body)
        tally.add(response.status, response.elapsed_ms, response.text if response.status >= 500 else "")
    except TransportError as exc:
        tally.add("no answer", None, str(exc))
    finally:
        client.close()


def fan_out(count: int, concurrency: int, job) -> tuple[float, float]:
    """Run job(i) for i in range(count) with `concurrency` threads; returns (start, end)."""
    todo = iter(range(count))
    lock = threading.Lock()

    def loop() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            job(i)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(min(concurrency, count))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return started, time.perf_counter()


def in_processes(processes: int, work: Callable[[int], Any]) -> list[Any]:
    """work(k) for k in range(processes), each in a forked process (closures cross a fork as they are);
    the answers, in any order. One Python process of 50–200 threads measures its own GIL as much as
    the server: real parents do not share one. One process: work(0) here, no fork."""
    if processes <= 1:
        return [work(0)]
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    children = [context.Process(target=lambda k=k: out.put(work(k)), daemon=True) for k in range(processes)]
    for child in children:
        child.start()
    answers: list[Any] = []
    while len(answers) < len(children):
        try:
            answers.append(out.get(timeout=5))
        except queue_module.Empty:
            if any(child.exitcode not in (None, 0) for child in children):
                raise RuntimeError("a load-generator process failed") from None
    for child in children:
        child.join()
    return answers


def fan_out_tally(count: int, concurrency: int, processes: int, request: Callable[[int, Tally], None]) -> Tally:
    """request(i, tally) for i in range(count), `concurrency` in flight over `processes` generator
    processes (each takes every processes-th i); one Tally of them all."""
    def shard(k: int) -> dict:
        mine = list(range(k, count, processes))
        tally = Tally()
        tally.first, tally.last = fan_out(len(mine), max(1, concurrency // processes),
                                          lambda j: request(mine[j], tally))
        return tally.state()

    whole = Tally()
    for state in in_processes(processes, shard):
        whole.merge(state)
    return whole


def health_ceiling(port: int, concurrency: int, seconds: float, processes: int = 1) -> float:
    """/health answers a second, `concurrency` in flight over `processes` generator processes."""
    def shard(_k: int) -> tuple[int, float]:
        tally = Tally()
        deadline = time.perf_counter() + seconds
        done = [0]

        def loop() -> None:
            while time.perf_counter() < deadline:
                one_shot(port, "GET", "/health", None, tally)
                with tally.lock:
                    done[0] += 1

        threads = [threading.Thread(target=loop, daemon=True) for _ in range(max(1, concurrency // processes))]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return done[0], time.perf_counter() - started

    answers = in_processes(processes, shard)
    return sum(done for done, _ in answers) / max(elapsed for _, elapsed in answers)


def login_all(port: int, accounts: list[str], threads: int) -> list[tuple[str, int]]:
    """(JWT, child id) per household, before the clock starts (keep-alive, a few threads)."""
    out: list[tuple[str, int] | None] = [None] * len(accounts)

    def job(i: int) -> None:
        client = Client("127.0.0.1", port)
        try:
            r = client.post("/api/v1/security/login", json={"username": accounts[i], "password": seed.PASSWORD,
                                                            "provider": "db", "refresh": False})
            client.token = r.json()["access_token"]
            child = client.get("/api/v1/portal/children").json()["children"][0]["id"]
            out[i] = (client.token, child)
        finally:
            client.close()

    fan_out(len(accounts), threads, job)
    missing = [accounts[i] for i, o in enumerate(out) if o is None]
    if missing:
        raise RuntimeError(f"{len(missing)} households could not log in (first: {missing[0]})")
    return out  # type: ignore[return-value]


def count_statements(database_url: str, account: str, week_id: int) -> dict:
    """Statements of one warm offers page and one add, in-process (Flask test client, same code)."""
    from app import create_app
    from app.models import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": None, "RATELIMIT_ENABLED": False,
                      "EMBEDDED_WORKER": False})
    client = app.test_client()
    token = client.post("/api/v1/security/login", json={"username": account, "password": seed.PASSWORD,
                                                        "provider": "db"}).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    child_id = client.get("/api/v1/portal/children", headers=headers).get_json()["children"][0]["id"]
    offers = f"/api/v1/portal/children/{child_id}/offers"
    client.get(offers, headers=headers)  # warm
    counted: list[str] = []
    with app.app_context():
        engine = db.engine
    listener = lambda *a: counted.append(a[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        client.get(offers, headers=headers)
        n_offers = len(counted)
        counted.clear()
        r = client.post(LINES, headers=headers,
                        json={"child_id": child_id, "week_id": week_id, "transport": {"mode": "onsite"}})
        n_add = len(counted)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return {"offers_statements": n_offers, "add_statements": n_add, "add_status_in_process": r.status_code}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    say = lambda m: print(f"[adds_only] {m}", file=sys.stderr, flush=True)  # noqa: E731
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    workdir = Path(tempfile.mkdtemp(prefix="pf-adds-"))
    queue = f"adds-{uuid.uuid4().hex[:8]}"
    redis_conn = redis.Redis.from_url(redis_url)
    if redis_conn.dbsize() and not args.flush_redis:
        print(f"bench.adds_only: the Redis database {redis_url} is not empty (see --flush-redis)", file=sys.stderr)
        return 2
    database_url = gunicorn = worker = None
    try:
        database_url = seed.create_database(server_url)
        redis_conn.flushdb()
        from werkzeug.security import generate_password_hash

        from app import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "RQ_QUEUE": queue,
                          "RATELIMIT_ENABLED": False, "INSTANCE_DIR": str(workdir), "UPLOAD_DIR": str(workdir)})
        seed.build_schema(app)
        # One spare household for the in-process statement count, which adds too.
        plan = seed.Plan(households=args.households + 1, children=args.households + 1, places=args.places,
                         weeks=1, bus_seats=args.places)
        seeded = seed.seed(app, plan, generate_password_hash(seed.PASSWORD, method=args.password_hash))
        engine = create_engine(database_url)
        seed.analyse(engine)
        with app.app_context():
            from app.models import db

            db.engine.dispose()
        port = server.free_port()
        env = server.server_env(database_url, redis_url, port, str(workdir), queue=queue,
                                password_hash=args.password_hash)
        gunicorn = server.start_gunicorn(env, port, args.workers, args.threads, workdir / "gunicorn.log")
        worker = server.start_worker(env, workdir / "worker.log")
        server.wait_ready(port, [gunicorn, worker])
        say(f"{args.households} households, {args.places} places in one week; gunicorn {args.workers} × "
            f"{args.threads} on :{port}; {args.concurrency} in flight, a new connection per request")
        logged = login_all(port, seeded.accounts[: args.households], args.workers * args.threads)
        ceiling_before = health_ceiling(port, args.concurrency, args.baseline_seconds / 2, args.processes)
        say(f"/health ceiling before: {ceiling_before:.0f} req/s")

        offers = fan_out_tally(
            args.households, args.concurrency, args.processes,
            lambda i, tally: one_shot(port, "GET", f"/api/v1/portal/children/{logged[i][1]}/offers", logged[i][0],
                                      tally))
        week = seeded.week_ids[0]
        adds = fan_out_tally(
            args.households, args.concurrency, args.processes,
            lambda i, tally: one_shot(port, "POST", LINES, logged[i][0], tally,
                                      {"child_id": logged[i][1], "week_id": week, "transport": {"mode": "onsite"}}))
        ceiling_after = health_ceiling(port, args.concurrency, args.baseline_seconds / 2, args.processes)
        say(f"/health ceiling after: {ceiling_after:.0f} req/s")
        server.stop(gunicorn)
        server.stop(worker)
        gunicorn = worker = None
        verdict = checks.audit(engine)
        counts = count_statements(database_url, seeded.accounts[args.households], seeded.week_ids[0])
        engine.dispose()
    except Exception as exc:
        print(f"bench.adds_only: the run failed: {exc.__class__.__name__}: {exc} (logs in {workdir})", file=sys.stderr)
        args.keep = True
        return 2
    finally:
        server.tear_down([gunicorn, worker], server_url, database_url, redis_conn, workdir, args.keep)
    baseline = (ceiling_before + ceiling_after) / 2
    add = adds.summary()
    result = {
        "households": args.households, "places": args.places, "concurrency": args.concurrency,
        "workers": args.workers, "threads": args.threads, "generator_processes": args.processes,
        "overbooked": verdict["overbooked"], "double_booked": verdict["double_booked"],
        "held": verdict["held"], "errors_5xx": add["errors_5xx"] + offers.errors_5xx,
        "add_rps": add["rps"], "add_p50_ms": add["p50_ms"], "add_p95_ms": add["p95_ms"], "add_p99_ms": add["p99_ms"],
        "add_statuses": add["statuses"],
        "offers_rps": offers.summary()["rps"], "offers_p50_ms": offers.summary()["p50_ms"],
        "offers_p95_ms": offers.summary()["p95_ms"],
        "health_before_rps": round(ceiling_before, 1), "health_after_rps": round(ceiling_after, 1),
        "ratio_add_vs_health": round(add["rps"] / baseline, 3) if baseline else 0.0,
        **counts,
    }
    if adds.samples or offers.samples:
        print("5xx samples: " + " | ".join(adds.samples + offers.samples), file=sys.stderr)
    text_out = json.dumps(result, indent=2)
    print(text_out)
    if args.json_path:
        Path(args.json_path).write_text(text_out + "\n")
    # Every add either got its place (201) or a reasoned refusal: the held places are the 201s.
    failed = result["overbooked"] or result["double_booked"] or result["errors_5xx"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
