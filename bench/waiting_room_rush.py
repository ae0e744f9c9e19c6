"""The opening's waiting room under a crowd: thousands of households arriving in the first minute.

    python -m bench.waiting_room_rush [--households 5000] [--arrival-seconds 60] [--rate 40]
                                      [--places 1500] [--concurrency 200] [--json room.json]

Starts the portal as production runs it (gunicorn, sync workers by default, on PostgreSQL and
Redis) with WAITING_ROOM=on and WAITING_ROOM_RATE=--rate, on a database of its own (dropped at the
end). Every household is logged in (JWT) before the clock starts; then household i arrives at a
time spread evenly over `--arrival-seconds` (in a shuffled order) and asks for its child's offers
through the API. A 429 from the room (position, Retry-After, ticket) makes it come back after
Retry-After with its ticket, as the app would; once let in it adds one week to its basket with its
pass. Requests go out on a new connection each, `--concurrency` in flight at most.

Measured: the latency of the admitted parents' requests (offers once in, and the add: target p95
≤ 250 ms), the 429s apart, the wait from arrival to admission (p50/p95/max), any 5xx, and two
order checks that do not depend on timing noise:
- `arrivals_out_of_order`: a household whose first request was answered before another's first
  request was sent, yet was given a later place in the queue;
- `admissions_out_of_order`: a household refused after another, later in the queue, had already
  been let in (its answer received before the refused request was sent).
The places are checked in SQL (bench/checks.py). Exit status 1 when anything is overbooked or
double-booked, a 5xx was answered or an order check fails; 2 when the run could not happen.
"""
from __future__ import annotations

import argparse
import base64
import bisect
import heapq
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import redis
from sqlalchemy import create_engine

from . import checks, seed, server
from .adds_only import Tally, in_processes, login_all, percentile
from .http import Client, TransportError

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
LINES = "/api/v1/portal/basket/lines"
TICKET = "X-Waiting-Room-Ticket"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cpus = os.cpu_count() or 2
    p = argparse.ArgumentParser(prog="python -m bench.waiting_room_rush", description=__doc__.split("\n\n")[0])
    p.add_argument("--households", type=int, default=5000)
    p.add_argument("--arrival-seconds", type=float, default=60.0, help="arrivals spread over (default 60 s)")
    p.add_argument("--rate", type=float, default=40.0, help="WAITING_ROOM_RATE, admissions per second (default 40)")
    p.add_argument("--places", type=int, default=1500, help="places over the period's weeks (default 1500)")
    p.add_argument("--weeks", type=int, default=5)
    p.add_argument("--concurrency", type=int, default=200, help="requests in flight at most (default 200)")
    p.add_argument("--workers", type=int, default=2 * cpus,
                   help="sync gunicorn workers (default two per core: measured best under the room)")
    p.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (default 1: sync workers)")
    p.add_argument("--processes", type=int, default=4,
                   help="load-generator processes sharing the households and the requests in flight (default 4)")
    p.add_argument("--password-hash", default="pbkdf2:sha256:1000")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--json", dest="json_path", default=None)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--flush-redis", action="store_true")
    args = p.parse_args(argv)
    if min(args.households, args.places, args.concurrency, args.weeks, args.processes) < 1 or args.rate <= 0:
        p.error("--households, --places, --weeks, --concurrency and --rate must be positive")
    return args


def ticket_position(token: str | None) -> int | None:
    """The queue position `n` written in a ticket or pass (its payload is signed, not secret)."""
    if not token:
        return None
    try:
        payload = token.split(".")[0]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    n = data.get("n") if isinstance(data, dict) else None
    return n if isinstance(n, int) and n > 0 else None


class Household:
    def __init__(self, index: int, token: str, child_id: int, arrives_at: float) -> None:
        self.index = index
        self.token = token
        self.child_id = child_id
        self.arrives_at = arrives_at
        self.ticket: str | None = None
        self.position: int | None = None
        self.first_sent = self.first_received = None  # type: float | None
        self.admitted_sent = self.admitted_received = None  # type: float | None
        self.refusals: list[float] = []  # send times of the 429s
        self.done = False


class Crowd:
    """A schedule of (due time, household, step) served by `concurrency` threads."""

    def __init__(self, port: int, households: list[Household], week_ids: list[int], concurrency: int,
                 seed_value: int) -> None:
        self.port = port
        self.week_ids = week_ids
        self.concurrency = concurrency
        self.rng = random.Random(seed_value)
        self.lock = threading.Condition()
        self.heap: list[tuple[float, int, str]] = []
        self.households = households
        self.by_index = {h.index: h for h in households}
        self.pending = len(households)
        self.admitted = Tally()  # requests of parents let in (offers once in, the add)
        self.admitted_offers = Tally()  # the offers pages among them
        self.queued = Tally()  # 429 answers of the room
        self.other_statuses: dict[str, int] = {}
        self.t0 = 0.0

    def schedule(self, due: float, index: int, step: str) -> None:
        with self.lock:
            heapq.heappush(self.heap, (due, index, step))
            self.lock.notify()

    def next_task(self) -> tuple[float, int, str] | None:
        with self.lock:
            while True:
                if self.pending == 0:
                    return None
                if self.heap:
                    due = self.heap[0][0]
                    delay = due - time.perf_counter()
                    if delay <= 0:
                        return heapq.heappop(self.heap)
                    self.lock.wait(min(delay, 0.5))
                else:
                    self.lock.wait(0.5)

    def finish(self, household: Household) -> None:
        with self.lock:
            if not household.done:
                household.done = True
                self.pending -= 1
                self.lock.notify_all()

    def request(self, household: Household, method: str, path: str, body=None):
        client = Client("127.0.0.1", self.port)
        client.token = household.token
        headers = {TICKET: household.ticket} if household.ticket else None
        sent = time.perf_counter()
        try:
            return sent, client.request(method, path, json=body, headers=headers)
        except TransportError as exc:
            return sent, exc
        finally:
            client.close()

    def step(self, index: int, step: str) -> None:
        household = self.by_index[index]
        if step == "offers":
            sent, response = self.request(household, "GET", f"/api/v1/portal/children/{household.child_id}/offers")
        else:
            week = self.rng.choice(self.week_ids)
            sent, response = self.request(household, "POST", LINES, {"child_id": household.child_id,
                                                                       "week_id": week,
                                                                       "transport": {"mode": "onsite"}})
        received = time.perf_counter()
        if household.first_sent is None:
            household.first_sent, household.first_received = sent, received
        if isinstance(response, TransportError):
            self.admitted.add("no answer", None, str(response))
            self.finish(household)
            return
        token = response.headers.get(TICKET.lower())
        if token:
            household.ticket = token
            household.position = ticket_position(token) or household.position
        if response.status == 429:
            household.refusals.append(sent)
            self.queued.add(429, response.elapsed_ms)
            retry = float(response.headers.get("retry-after") or 5)
            self.schedule(received + retry, index, step)
            return
        if household.admitted_sent is None:
            household.admitted_sent, household.admitted_received = sent, received
        self.admitted.add(response.status, response.elapsed_ms,
                          response.text if response.status >= 500 else "")
        if step == "offers":
            self.admitted_offers.add(response.status, response.elapsed_ms)
        if step == "offers" and response.status == 200:
            self.schedule(received, index, "add")
        else:
            if step == "offers":
                with self.lock:
                    key = f"offers {response.status}"
                    self.other_statuses[key] = self.other_statuses.get(key, 0) + 1
            self.finish(household)

    def run(self, t0: float | None = None) -> float:
        """Serve the schedule from `t0` (time.perf_counter(), shared by every process on Linux)."""
        self.t0 = t0 if t0 is not None else time.perf_counter()
        for household in self.households:
            household.arrives_at += self.t0
            self.schedule(household.arrives_at, household.index, "offers")

        def loop() -> None:
            while True:
                task = self.next_task()
                if task is None:
                    return
                _due, index, step = task
                self.step(index, step)

        threads = [threading.Thread(target=loop, daemon=True) for _ in range(self.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - self.t0


def run_crowd(port: int, households: list[Household], week_ids: list[int], concurrency: int, seed_value: int,
              processes: int) -> tuple[Crowd, float]:
    """The crowd from `processes` generator processes (households dealt round-robin, concurrency
    split, one clock: CLOCK_MONOTONIC is the machine's); the answer is one Crowd holding every
    household and every latency."""
    whole = Crowd(port, households, week_ids, concurrency, seed_value)
    if processes <= 1:
        return whole, whole.run()
    t0 = time.perf_counter() + 1.0  # every process starts the same clock

    def shard(k: int) -> tuple:
        crowd = Crowd(port, households[k::processes], week_ids, max(1, concurrency // processes), seed_value + k)
        duration = crowd.run(t0)
        return (duration, [vars(h) for h in crowd.households], crowd.admitted.state(), crowd.queued.state(),
                crowd.admitted_offers.state(), crowd.other_statuses)

    duration = 0.0
    for part_duration, states, admitted, queued, offers, other in in_processes(processes, shard):
        duration = max(duration, part_duration)
        for state in states:
            whole.by_index[state["index"]].__dict__.update(state)
        whole.admitted.merge(admitted)
        whole.queued.merge(queued)
        whole.admitted_offers.merge(offers)
        for key, count in other.items():
            whole.other_statuses[key] = whole.other_statuses.get(key, 0) + count
    return whole, duration


def order_checks(households: list[Household]) -> dict:
    """The two order checks of the docstring, on send and receive times only."""
    placed = [h for h in households if h.position is not None and h.first_sent is not None]
    # A: h answered before g was sent, yet h got a later place than g.
    by_answer = sorted(placed, key=lambda h: h.first_received)
    answered_at = [h.first_received for h in by_answer]
    prefix_max: list[int] = []
    for h in by_answer:
        prefix_max.append(max(h.position, prefix_max[-1]) if prefix_max else h.position)
    arrivals_out_of_order = 0
    for g in placed:
        k = bisect.bisect_left(answered_at, g.first_sent)  # households fully answered before g asked
        if k and prefix_max[k - 1] > g.position:
            arrivals_out_of_order += 1
    # B: g refused (sent at t) after h, placed later than g, was let in (answer received before t).
    admitted = sorted((h for h in placed if h.admitted_received is not None), key=lambda h: h.admitted_received)
    admitted_at = [h.admitted_received for h in admitted]
    admitted_max: list[int] = []
    for h in admitted:
        admitted_max.append(max(h.position, admitted_max[-1]) if admitted_max else h.position)
    admissions_out_of_order = 0
    for g in placed:
        for refused_at in g.refusals:
            k = bisect.bisect_left(admitted_at, refused_at)
            if k and admitted_max[k - 1] > g.position:
                admissions_out_of_order += 1
                break
    return {"arrivals_out_of_order": arrivals_out_of_order, "admissions_out_of_order": admissions_out_of_order,
            "households_with_a_position": len(placed)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    say = lambda m: print(f"[waiting_room_rush] {m}", file=sys.stderr, flush=True)  # noqa: E731
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    workdir = Path(tempfile.mkdtemp(prefix="pf-room-"))
    queue = f"room-{uuid.uuid4().hex[:8]}"
    redis_conn = redis.Redis.from_url(redis_url)
    if redis_conn.dbsize() and not args.flush_redis:
        print(f"bench.waiting_room_rush: the Redis database {redis_url} is not empty (see --flush-redis)",
              file=sys.stderr)
        return 2
    database_url = gunicorn = None
    try:
        database_url = seed.create_database(server_url)
        redis_conn.flushdb()
        from werkzeug.security import generate_password_hash

        from app import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "RQ_QUEUE": queue,
                          "RATELIMIT_ENABLED": False, "INSTANCE_DIR": str(workdir), "UPLOAD_DIR": str(workdir)})
        seed.build_schema(app)
        plan = seed.Plan(households=args.households, children=args.households, places=args.places,
                         weeks=args.weeks, bus_seats=args.places)
        seeded = seed.seed(app, plan, generate_password_hash(seed.PASSWORD, method=args.password_hash))
        engine = create_engine(database_url)
        seed.analyse(engine)
        with app.app_context():
            from app.models import db

            db.engine.dispose()
        port = server.free_port()
        env = server.server_env(database_url, redis_url, port, str(workdir), queue=queue,
                                password_hash=args.password_hash)
        # The room is off while everyone logs in (before the clock), then on for the rush: a fresh
        # server with the setting, so nobody was admitted during the log-ins.
        gunicorn = server.start_gunicorn(env, port, args.workers, args.threads, workdir / "gunicorn.log")
        server.wait_ready(port, [gunicorn])
        say(f"{args.households} households log in ({args.workers} × {args.threads} gunicorn on :{port})")
        logged = login_all(port, seeded.accounts, max(4, args.workers * args.threads))
        server.stop(gunicorn)
        redis_conn.flushdb()
        env.update({"WAITING_ROOM": "on", "WAITING_ROOM_RATE": str(args.rate)})
        gunicorn = server.start_gunicorn(env, port, args.workers, args.threads, workdir / "gunicorn.log")
        server.wait_ready(port, [gunicorn])
        order = list(range(args.households))
        random.Random(args.seed).shuffle(order)
        spacing = args.arrival_seconds / args.households
        rank = [0] * args.households
        for r, i in enumerate(order):
            rank[i] = r
        households = [Household(i, logged[i][0], logged[i][1], arrives_at=rank[i] * spacing)
                      for i in range(args.households)]
        say(f"rush: arrivals over {args.arrival_seconds:g} s, room at {args.rate:g}/s, "
            f"{args.concurrency} requests in flight at most, a new connection per request")
        crowd, duration = run_crowd(port, households, seeded.week_ids, args.concurrency, args.seed,
                                    args.processes)
        server.stop(gunicorn)
        gunicorn = None
        verdict = checks.audit(engine)
        engine.dispose()
    except Exception as exc:
        print(f"bench.waiting_room_rush: the run failed: {exc.__class__.__name__}: {exc} (logs in {workdir})",
              file=sys.stderr)
        args.keep = True
        return 2
    finally:
        server.tear_down([gunicorn], server_url, database_url, redis_conn, workdir, args.keep)
    waits = [h.admitted_received - h.arrives_at for h in households if h.admitted_received is not None]
    admitted = crowd.admitted.summary()
    result = {
        "households": args.households, "arrival_seconds": args.arrival_seconds, "rate": args.rate,
        "workers": args.workers, "threads": args.threads, "concurrency": args.concurrency,
        "generator_processes": args.processes,
        "admitted": len(waits), "queued_at_least_once": sum(1 for h in households if h.refusals),
        "admitted_p50_ms": admitted["p50_ms"], "admitted_p95_ms": admitted["p95_ms"],
        "admitted_p99_ms": admitted["p99_ms"], "admitted_statuses": admitted["statuses"],
        "admitted_offers_p95_ms": crowd.admitted_offers.summary()["p95_ms"],
        "queue_answers": crowd.queued.summary()["requests"], "queue_p95_ms": crowd.queued.summary()["p95_ms"],
        "wait_p50_s": round(percentile(waits, 50), 1), "wait_p95_s": round(percentile(waits, 95), 1),
        "wait_max_s": round(max(waits), 1) if waits else 0.0,
        "errors_5xx": admitted["errors_5xx"] + crowd.queued.errors_5xx,
        "overbooked": verdict["overbooked"], "double_booked": verdict["double_booked"], "held": verdict["held"],
        **order_checks(households), "other_statuses": crowd.other_statuses, "duration_s": round(duration, 1),
    }
    result["p95_within_250_ms"] = result["admitted_p95_ms"] <= 250
    if crowd.admitted.samples:
        print("5xx samples: " + " | ".join(crowd.admitted.samples), file=sys.stderr)
    text_out = json.dumps(result, indent=2)
    print(text_out)
    if args.json_path:
        Path(args.json_path).write_text(text_out + "\n")
    failed = (result["overbooked"] or result["double_booked"] or result["errors_5xx"]
              or result["arrivals_out_of_order"] or result["admissions_out_of_order"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
