"""Opening-day rush: thousands of households race for fewer places than they want.

    python -m bench.rush [--households 2000] [--children 3000] [--places 1500] [--concurrency 200]
                         [--json rush.json]
    python -m bench.rush --adds-only [...]   # the add rate alone: bench/adds_only.py

Starts the portal as production runs it (gunicorn threaded workers on PostgreSQL and Redis, a
separate RQ worker with its scheduler), on a database of its own created on the DATABASE_URL server
and dropped at the end. Measures the server's ceiling on a trivial route (/health) with the same
concurrency, then lets every household race through the parent journey, then checks the invariants
in the database with SQL. Parents who find a week full join its waiting list; after the rush the
unpaid baskets' holds lapse (`--hold-minutes`), the worker offers the freed places, and the offered
families pay, decline or ignore their offers (bench/waitlist_phase.py). Exit status 1 when anything
is overbooked or double-booked or when a freed place was not offered to a waiting family, or when
the server answered a 5xx (the designed 503 "busy, try again" is counted apart as `lock_timeouts`),
2 when the run itself could not happen. See bench/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import redis
from sqlalchemy import create_engine

from . import checks, seed, server, waitlist_phase
from .http import Client, TransportError
from .journey import Journey, Options, Stats

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
RESULT_KEYS = ("households", "places", "booked", "overbooked", "double_booked", "errors_5xx", "lock_timeouts",
               "add_rps", "add_p50_ms", "add_p95_ms", "add_p99_ms", "baseline_rps", "ratio_add_vs_baseline",
               "waitlist_joined", "offers_made", "offers_accepted", "offer_after_free_p50_s",
               "offer_after_free_p95_s", "places_not_offered", "duration_s")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cpus = os.cpu_count() or 2
    p = argparse.ArgumentParser(prog="python -m bench.rush", description=__doc__.split("\n\n")[0])
    p.add_argument("--households", type=int, default=2000, help="validated households racing (default 2000)")
    p.add_argument("--children", type=int, default=None,
                   help="children over all households (default 1.5 per household: 3000 for 2000)")
    p.add_argument("--places", type=int, default=1500, help="places over all weeks of the period (default 1500)")
    p.add_argument("--weeks", type=int, default=5, help="weeks of the period sharing the places (default 5)")
    p.add_argument("--bus-share", type=float, default=0.6, help="share of lines asking for the bus (default 0.6)")
    p.add_argument("--bus-seats", type=int, default=None,
                   help="bus seats per week (default: half of a week's places)")
    p.add_argument("--shared-children", type=float, default=0.03,
                   help="share of children also linked to a second household, which races the first (default 0.03)")
    p.add_argument("--concurrency", type=int, default=200, help="households in flight at once (default 200)")
    p.add_argument("--workers", type=int, default=cpus, help=f"gunicorn worker processes (default {cpus})")
    p.add_argument("--threads", type=int, default=1,
                   help="threads per gunicorn worker (default 1: sync workers, as measured best in bench/README.md)")
    p.add_argument("--baseline-seconds", type=float, default=10.0,
                   help="length of the /health ceiling measurement, half before and half after the rush "
                        "(default 10)")
    p.add_argument("--lock-timeout", type=float, default=None,
                   help="LOCK_TIMEOUT_SECONDS of the server (default: the portal's own, 5)")
    p.add_argument("--password-hash", default="pbkdf2:sha256:1000",
                   help="werkzeug hash method of the seeded passwords (default pbkdf2:sha256:1000; the "
                        "portal's scrypt would make 2000 logins cost ~6 CPU-minutes)")
    p.add_argument("--hold-minutes", type=float, default=1.0,
                   help="BASKET_HOLD_MINUTES of the server: the unpaid baskets lapse this long after their "
                        "adds and their places go to the waiting lists (default 1; the portal's own is 60)")
    p.add_argument("--waitlist-share", type=float, default=1.0,
                   help="share of the parents who got no week and join the list of a full one (default 1)")
    p.add_argument("--offer-accept-share", type=float, default=0.8,
                   help="share of the offered families who pay their offer (default 0.8)")
    p.add_argument("--offer-decline-share", type=float, default=0.1,
                   help="share who decline it, passing the place on (default 0.1; the rest let it run)")
    p.add_argument("--seed", type=int, default=2026, help="random seed of the households' choices")
    p.add_argument("--json", dest="json_path", default=None, help="write the result JSON to this file")
    p.add_argument("--keep", action="store_true", help="keep the database and the logs (debugging)")
    p.add_argument("--profile", metavar="DIR", default=None,
                   help="record py-spy flame graphs and top-style profiles of the gunicorn workers into DIR")
    p.add_argument("--quiet", action="store_true", help="only the JSON on stdout")
    p.add_argument("--flush-redis", action="store_true",
                   help="empty the REDIS_URL database even if it holds keys (it is emptied at the end anyway)")
    args = p.parse_args(argv)
    if args.children is None:
        args.children = args.households * 3 // 2
    if args.children < args.households:
        p.error("--children must be at least --households (every household has a child)")
    if args.bus_seats is None:
        args.bus_seats = max(1, args.places // args.weeks // 2)
    if args.households < 1 or args.places < 1 or args.weeks < 1 or args.concurrency < 1:
        p.error("--households, --places, --weeks and --concurrency must be positive")
    return args


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


class Log:
    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = time.monotonic()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.t0:6.1f}s] {message}", file=sys.stderr, flush=True)


def run_threads(count: int, target) -> None:
    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def measure_baseline(port: int, concurrency: int, seconds: float, stats: Stats) -> float:
    """Requests per second the server answers on /health with `concurrency` clients."""
    deadline = time.perf_counter() + seconds
    counts = [0] * concurrency

    def hammer(i: int) -> None:
        client = Client("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                try:
                    response = client.get("/health")
                except TransportError as exc:
                    stats.transport_error("baseline", exc)
                    continue
                stats.record("baseline", response)
                counts[i] += 1
        finally:
            client.close()

    started = time.perf_counter()
    run_threads(concurrency, hammer)
    return sum(counts) / (time.perf_counter() - started)


def warm_up(port: int, accounts: list[str], password: str, threads: int) -> None:
    """Every gunicorn thread serves a few requests first (imports, template compilation, pools)."""
    todo = list(accounts)
    lock = threading.Lock()

    def visit(_i: int) -> None:
        client = Client("127.0.0.1", port)
        try:
            for _ in range(5):
                client.get("/health")
            while True:
                with lock:
                    if not todo:
                        return
                    email = todo.pop()
                r = client.post("/api/v1/security/login",
                                json={"username": email, "password": password, "provider": "db", "refresh": False})
                token = (r.json() or {}).get("access_token") if r.status == 200 else None
                if token:
                    client.token = token
                    children = client.get("/api/v1/portal/children").json() or {}
                    for child in (children.get("children") or [])[:1]:
                        client.get(f"/api/v1/portal/children/{child['id']}/offers")
                    client.token = None
        except TransportError:
            pass
        finally:
            client.close()

    run_threads(threads, visit)


def rush(port: int, accounts: list[str], args: argparse.Namespace, stats: Stats) -> float:
    order = list(range(len(accounts)))
    random.Random(args.seed).shuffle(order)
    lock = threading.Lock()
    options = Options(password=seed.PASSWORD, bus_share=args.bus_share, waitlist_share=args.waitlist_share)

    def parent(_i: int) -> None:
        client = Client("127.0.0.1", port)
        try:
            while True:
                with lock:
                    if not order:
                        return
                    n = order.pop()
                journey = Journey(client, stats, options, random.Random(args.seed * 100003 + n))
                stats.outcome(journey.run(accounts[n]))
        finally:
            client.close()

    stats.rush_started = time.perf_counter()
    run_threads(min(args.concurrency, len(accounts)), parent)
    return time.perf_counter() - stats.rush_started


def wait_for_jobs(connection, queue_name: str, timeout: float) -> bool:
    """Let the worker send the mails the rush queued, so that it does not share the cores with the
    ceiling measured after the rush (it did not share them with the one before)."""
    from rq import Queue

    queue = Queue(queue_name, connection=connection)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue.count == 0 and queue.started_job_registry.count == 0:
            return True
        time.sleep(0.5)
    return False


class Profiler:
    """py-spy attached to every gunicorn worker for the length of the rush."""

    def __init__(self, directory: str, master_pid: int, log: Log):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.master_pid = master_pid
        self.log = log
        self.procs = []

    def start(self) -> None:
        import shutil
        import subprocess

        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            self.log("py-spy not found: `.venv/bin/pip install py-spy` to profile")
            return
        for pid in server.worker_pids(self.master_pid):
            for fmt, suffix in (("speedscope", "speedscope.json"), ("raw", "folded")):
                out = self.directory / f"worker-{pid}.{suffix}"
                self.procs.append(subprocess.Popen(
                    # --idle: a request waiting for a row lock or for the GIL is time the parent waits too.
                    [exe, "record", "--pid", str(pid), "--rate", "250", "--format", fmt, "--output", str(out),
                     "--nonblocking", "--idle"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.log(f"py-spy recording {len(self.procs)} profiles into {self.directory}")

    def sample_database(self, database_url: str, stop: threading.Event) -> None:
        """What the portal's PostgreSQL sessions are doing, 10 times a second: running, waiting for a
        lock, or idle in a transaction (the application holds locks while it runs Python)."""
        import psycopg

        counts: Counter = Counter()
        waits: Counter = Counter()
        name = database_url.rsplit("/", 1)[1]
        with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            while not stop.wait(0.1):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event, left(query, 60) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                    (name,)).fetchall()
                for state, wait_type, wait_event, query in rows:
                    counts[(state or "?", wait_type or "CPU")] += 1
                    if wait_type == "Lock" or state == "idle in transaction":
                        waits[(state, wait_type, wait_event, " ".join(query.split()))] += 1
        lines = ["PostgreSQL sessions of the portal (samples every 100 ms):"]
        lines += [f"  {n:6d}  {state} / {wait}" for (state, wait), n in counts.most_common()]
        lines += ["lock waits and idle-in-transaction, by last statement:"]
        lines += [f"  {n:6d}  {state} / {wt} {we}: {q}" for (state, wt, we, q), n in waits.most_common(12)]
        (self.directory / "pg_activity.txt").write_text("\n".join(lines) + "\n")
        self.log("\n".join(lines))

    def stop(self) -> None:
        import signal

        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except Exception:
                proc.kill()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--adds-only" in argv:  # the add rate alone, in the shape of the comparison with pretix
        from . import adds_only
        return adds_only.main([a for a in argv if a != "--adds-only"])
    args = parse_args(argv)
    log = Log(args.quiet)
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the seeding app's INFO lines would drown the report
    started = time.monotonic()
    server_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    workdir = Path(tempfile.mkdtemp(prefix="pf-rush-"))
    queue_name = f"rush-{uuid.uuid4().hex[:8]}"
    database_url = gunicorn = worker = None
    redis_conn = redis.Redis.from_url(redis_url)
    stats = Stats()
    if not server_url.startswith("postgresql"):
        print(f"bench.rush: DATABASE_URL must name a PostgreSQL server (got {server_url.split(':', 1)[0]})",
              file=sys.stderr)
        return 2
    try:
        if redis_conn.dbsize() and not args.flush_redis:
            print(f"bench.rush: the Redis database {redis_url} is not empty; the bench empties its database at "
                  "the end: give it one of its own (REDIS_URL), or pass --flush-redis", file=sys.stderr)
            return 2
    except redis.RedisError as exc:
        print(f"bench.rush: Redis at {redis_url} does not answer: {exc}", file=sys.stderr)
        return 2
    try:
        database_url = seed.create_database(server_url)
        log(f"database {database_url.rsplit('/', 1)[1]} created; Redis {redis_url} (emptied at the end)")
        redis_conn.flushdb()

        from werkzeug.security import generate_password_hash

        from app import create_app

        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": redis_url, "RQ_QUEUE": queue_name,
                          "RATELIMIT_ENABLED": False, "INSTANCE_DIR": str(workdir), "UPLOAD_DIR": str(workdir)})
        seed.build_schema(app)
        password_hash = generate_password_hash(seed.PASSWORD, method=args.password_hash)  # once for everyone
        plan = seed.Plan(households=args.households, children=args.children, places=args.places, weeks=args.weeks,
                         bus_seats=args.bus_seats, shared_children=int(args.children * args.shared_children),
                         seed=args.seed)
        t = time.monotonic()
        seeded = seed.seed(app, plan, password_hash)
        engine = create_engine(database_url)
        seed.analyse(engine)
        with app.app_context():
            from app.models import db

            db.engine.dispose()
        log(f"seeded {args.households} households, {args.children} children ({plan.shared_children} shared), "
            f"{args.places} places over {args.weeks} weeks, {args.bus_seats} bus seats a week "
            f"in {time.monotonic() - t:.1f}s")

        port = server.free_port()
        env = server.server_env(database_url, redis_url, port, str(workdir), queue=queue_name,
                                password_hash=args.password_hash, lock_timeout=args.lock_timeout,
                                hold_minutes=args.hold_minutes)
        gunicorn = server.start_gunicorn(env, port, args.workers, args.threads, workdir / "gunicorn.log")
        worker = server.start_worker(env, workdir / "worker.log")
        server.wait_ready(port, [gunicorn, worker])
        log(f"gunicorn up on :{port} ({args.workers} workers × {args.threads} threads) and an RQ worker")

        warm_up(port, seeded.accounts[: args.workers * args.threads * 2], seed.PASSWORD,
                args.workers * args.threads)
        # The ceiling is measured in two halves, just before and just after the rush, so that a
        # neighbour's load that comes or goes during the run weighs on both sides of the ratio.
        baseline_before = measure_baseline(port, args.concurrency, args.baseline_seconds / 2, stats)
        log(f"baseline: {baseline_before:.0f} req/s on /health with {args.concurrency} clients")

        profiler = Profiler(args.profile, gunicorn.pid, log) if args.profile else None
        sampling = threading.Event()
        sampler = None
        if profiler:
            profiler.start()
            sampler = threading.Thread(target=profiler.sample_database, args=(database_url, sampling), daemon=True)
            sampler.start()
        log(f"rush: {args.households} households, {args.concurrency} in flight")
        rush_seconds = rush(port, seeded.accounts, args, stats)
        if profiler:
            sampling.set()
            sampler.join(timeout=10)
            profiler.stop()
        log(f"rush done in {rush_seconds:.1f}s")
        drained = wait_for_jobs(redis_conn, queue_name, timeout=60)
        log(f"RQ queue {'drained' if drained else 'still busy after 60 s'} (confirmation mails)")
        baseline_after = measure_baseline(port, args.concurrency, args.baseline_seconds / 2, stats)
        baseline_rps = (baseline_before + baseline_after) / 2
        log(f"baseline after the rush: {baseline_after:.0f} req/s; ceiling taken as {baseline_rps:.0f} req/s")
        phase = waitlist_phase.run(
            port, engine, stats, Options(password=seed.PASSWORD),
            waitlist_phase.PhaseOptions(accept_share=args.offer_accept_share,
                                        decline_share=args.offer_decline_share),
            args.concurrency, args.seed, log)
        wait_for_jobs(redis_conn, queue_name, timeout=60)

        audit = checks.audit(engine)
        audit["waitlist"] = waiting = checks.waitlist_audit(engine)
        audit["phase"] = phase
        engine.dispose()
    except Exception as exc:
        print(f"bench.rush: the run failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        if gunicorn is not None:
            print(f"  server log: {workdir / 'gunicorn.log'}", file=sys.stderr)
        args.keep = True
        return 2
    finally:
        server.tear_down([gunicorn, worker], server_url, database_url, redis_conn, workdir, args.keep)
        if args.keep and database_url:
            print(f"bench.rush: kept {database_url} and {workdir}", file=sys.stderr)

    adds = stats.timings["add"]
    first, last = stats.add_window
    add_rps = len(adds) / (last - first) if adds and last > first else 0.0
    result = {
        "households": args.households,
        "places": args.places,
        "booked": audit["booked"],
        "overbooked": audit["overbooked"],
        "double_booked": audit["double_booked"],
        "errors_5xx": stats.errors_5xx + stats.transport_errors,
        "lock_timeouts": stats.lock_timeouts,
        "add_rps": round(add_rps, 1),
        "add_p50_ms": round(percentile(adds, 50), 1),
        "add_p95_ms": round(percentile(adds, 95), 1),
        "add_p99_ms": round(percentile(adds, 99), 1),
        "baseline_rps": round(baseline_rps, 1),
        "ratio_add_vs_baseline": round(add_rps / baseline_rps, 3) if baseline_rps else 0.0,
        "waitlist_joined": waiting["joined"],
        "offers_made": waiting["offers_made"],
        "offers_accepted": waiting["offers_accepted"],
        "offer_after_free_p50_s": round(percentile(waiting["delays"], 50), 2),
        "offer_after_free_p95_s": round(percentile(waiting["delays"], 95), 2),
        "places_not_offered": waiting["not_offered"],
        "duration_s": round(time.monotonic() - started, 1),
    }
    assert tuple(result) == RESULT_KEYS
    if not args.quiet:
        report(stats, audit, rush_seconds, log)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n")
    failed = result["overbooked"] or result["double_booked"] or result["errors_5xx"] or result["places_not_offered"]
    return 1 if failed else 0


def report(stats: Stats, audit: dict, rush_seconds: float, log: Log) -> None:
    """The details behind the JSON, on stderr."""
    out = sys.stderr
    print("\nstep            count    p50 ms   p95 ms   p99 ms   statuses", file=out)
    for step, values in stats.timings.items():
        statuses = ", ".join(f"{status}×{n}" for (s, status), n in sorted(stats.statuses.items(), key=str) if s == step)
        print(f"{step:<14} {len(values):6d}  {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} "
              f"{percentile(values, 99):8.1f}   {statuses}", file=out)
    total = sum(len(v) for step, v in stats.timings.items() if step != "baseline")
    print(f"\nrush: {total} requests in {rush_seconds:.1f}s = {total / rush_seconds:.0f} req/s", file=out)
    slices = 10
    width = rush_seconds / slices
    counts = [[0, 0] for _ in range(slices)]
    for at, step in stats.finished:
        index = int((at - stats.rush_started) / width) if width else 0
        if step != "baseline" and 0 <= index < slices:
            counts[index][0] += 1
            counts[index][1] += step == "add"
    print("timeline (requests/s, of which adds/s): " + "  ".join(
        f"{n / width:.0f}/{a / width:.0f}" for n, a in counts), file=out)
    print("refusal codes: " + ", ".join(f"{step}:{code}×{n}" for (step, code), n in stats.codes.most_common()),
          file=out)
    print("journeys: " + ", ".join(f"{name}×{n}" for name, n in stats.outcomes.most_common()), file=out)
    print(f"database: booked={audit['booked']} held={audit['held']} payments_paid={audit['payments_paid']} "
          f"baskets={audit['baskets']}", file=out)
    print(f"money: paid baskets not matching their lines={audit['paid_mismatch']}, "
          f"confirmed lines without a paid payment={audit['confirmed_unpaid']}", file=out)
    for week in audit["weeks"]:
        print(f"  {week['label']}: capacity {week['capacity']}, confirmed {week['confirmed']}, "
              f"held {week['held']} (of which offers {week['offered']}), waiting {week['waiting']}", file=out)
    waiting, phase = audit["waitlist"], audit["phase"]
    print(f"waiting list: entries {waiting['entries']}, offers {waiting['outcomes']} "
          f"(accepted = paid: {waiting['offers_accepted']}, live: {waiting['offers_live']}); "
          f"{phase.rounds} answer rounds: {dict(phase.answers)}; settled: {phase.settled}", file=out)
    print("place freed → offer made, by what freed it: " + ", ".join(
        f"{kind} ×{len(v)} p50 {percentile(v, 50):.2f} s p95 {percentile(v, 95):.2f} s max {max(v):.2f} s"
        for kind, v in sorted(waiting["by_release"].items())) +
        f"; offers that took a never-released place: {waiting['from_capacity']}", file=out)
    print(f"mails: {audit['mails']}", file=out)
    if stats.samples_5xx:
        print("5xx / no answer samples:", file=out)
        for sample in stats.samples_5xx:
            print(f"  {sample}", file=out)
    print("", file=out)


if __name__ == "__main__":
    sys.exit(main())
