"""Every SQL statement of one add-to-basket request, and which ones run while the week is locked.

    python -m bench.trace_add [--bus] [--repeat 200]

On a throw-away PostgreSQL database (DATABASE_URL server, like bench.rush), one household adds one
week through the JSON API (the Flask test client: no network, same code). Under a rush every
add of the same week queues behind the week's row lock, so what runs between `SELECT … week …
FOR UPDATE` and `COMMIT` (the critical section) bounds the throughput of a week; what runs
outside it only costs CPU. `--repeat` times the request on a warm process (median).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from sqlalchemy import create_engine, event

from . import seed


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.trace_add")
    p.add_argument("--bus", action="store_true", help="ask for the bus (two more capacity checks)")
    p.add_argument("--repeat", type=int, default=200, help="requests timed after the traced one")
    p.add_argument("--cprofile", type=int, default=0, metavar="N",
                   help="print the N functions with the most cumulative time over the repeated adds")
    args = p.parse_args(argv)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    server_url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    database_url = seed.create_database(server_url)
    try:
        from werkzeug.security import generate_password_hash

        from app import create_app
        from app.models import db

        app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": None, "RATELIMIT_ENABLED": False,
                          "WTF_CSRF_ENABLED": False, "EMBEDDED_WORKER": False})
        seed.build_schema(app)
        plan = seed.Plan(households=args.repeat + 2, children=args.repeat + 2, places=10_000, weeks=1,
                         bus_seats=10_000)
        seeded = seed.seed(app, plan, generate_password_hash(seed.PASSWORD, method="pbkdf2:sha256:1"))
        client = app.test_client()

        def headers(n: int) -> dict:
            r = client.post("/api/v1/security/login", json={"username": seeded.accounts[n], "password": seed.PASSWORD,
                                                            "provider": "db"})
            return {"Authorization": f"Bearer {r.get_json()['access_token']}"}

        def body(n: int) -> dict:
            child = client.get("/api/v1/portal/children", headers=hdrs[n]).get_json()["children"][0]["id"]
            transport = {"mode": "bus", "stop_id": seeded.stop_ids[0]} if args.bus else {"mode": "onsite"}
            return {"child_id": child, "week_id": seeded.week_ids[0], "transport": transport}

        hdrs = {n: headers(n) for n in range(args.repeat + 1)}
        bodies = {n: body(n) for n in range(args.repeat + 1)}
        with app.app_context():
            engine = db.engine
        statements: list[tuple[float, str]] = []
        started = [0.0]

        def on_execute(conn, cursor, statement, parameters, context, executemany):
            statements.append((time.perf_counter() - started[0], " ".join(statement.split())))

        def on_commit(conn):
            statements.append((time.perf_counter() - started[0], "COMMIT"))

        event.listen(engine, "before_cursor_execute", on_execute)
        event.listen(engine, "commit", on_commit)
        started[0] = time.perf_counter()
        response = client.post("/api/v1/portal/basket/lines", json=bodies[0], headers=hdrs[0])
        total_ms = (time.perf_counter() - started[0]) * 1000
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)
        assert response.status_code == 201, response.get_data(as_text=True)

        locked = False
        inside = 0
        print(f"POST /api/v1/portal/basket/lines → {response.status_code}: {len(statements)} statements, "
              f"{total_ms:.1f} ms (first request of this process)\n")
        lock_start = lock_end = None
        for i, (at, sql) in enumerate(statements, 1):
            if sql.startswith("SELECT week.") and "FOR UPDATE" in sql:
                locked, lock_start = True, at
            mark = "LOCK" if locked else "    "
            inside += locked
            print(f"{i:3d} {at * 1000:7.2f} ms {mark} {sql[:int(os.environ.get('TRACE_WIDTH', '150'))]}")
            if locked and sql == "COMMIT":
                locked, lock_end = False, at
        if lock_start is not None and lock_end is not None:
            print(f"\n{inside} statements while the week is locked, "
                  f"{(lock_end - lock_start) * 1000:.2f} ms from the lock to the commit")

        timings = []
        warm_statements = []
        event.listen(engine, "before_cursor_execute", lambda *a: warm_statements.append(1))
        profiler = None
        if args.cprofile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        for n in range(1, args.repeat + 1):
            t = time.perf_counter()
            r = client.post("/api/v1/portal/basket/lines", json=bodies[n], headers=hdrs[n])
            timings.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 201, r.get_data(as_text=True)
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(args.cprofile)
        print(f"warm: median {statistics.median(timings):.2f} ms, "
              f"p90 {sorted(timings)[int(len(timings) * 0.9)]:.2f} ms over {len(timings)} adds (one at a time), "
              f"{len(warm_statements) / len(timings):.1f} statements per add")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        create_engine(database_url).dispose()
    finally:
        seed.drop_database(server_url, database_url)


if __name__ == "__main__":
    main()
