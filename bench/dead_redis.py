"""What an unreachable Redis costs a request: the time `enqueue` takes to give up.

    python -m bench.dead_redis [--calls 20] [--budget 5] [--json dead_redis.json]

Booking, payment and mail requests enqueue jobs; when Redis is down the request must still
succeed quickly (the sweeper recovers the job later, DESIGN.md §4). The test suite checks that
`enqueue` returns None and logs; how long it takes is measured here, not asserted in a test,
because a loaded CI machine is no reason for a test to fail.

Two kinds of dead Redis: a refused connection (nothing listens on the port: the usual restart)
and a blackholed one (packets dropped, e.g. a firewall or a vanished host: the connect timeout
is what bounds it). Prints a JSON object; exit status 1 when a call took longer than --budget
seconds, 2 when the run itself could not happen. Needs nothing but Python (SQLite, no server).
"""
from __future__ import annotations

import argparse
import json
import logging
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {
    "refused": "redis://127.0.0.1:1/0",
    # TEST-NET-1 (RFC 5737): documentation addresses, never routed; connecting waits for the timeout.
    "blackholed": "redis://192.0.2.1:6379/0",
}


def noop() -> None:
    """The job that is never queued, named by dotted path as the services name theirs."""


NOOP_JOB = "bench.dead_redis.noop"


def measure(redis_url: str, calls: int, workdir: Path) -> list[float]:
    from app import create_app
    from app.services.tasks import enqueue

    app = create_app({
        "TESTING": True, "SECRET_KEY": secrets.token_hex(32), "EMBEDDED_WORKER": False,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.db'}", "UPLOAD_DIR": str(workdir / "uploads"),
        "REDIS_URL": redis_url, "PAYMENT_PROVIDER": "sandbox", "MAIL_SERVER": None,
    })
    durations = []
    with app.app_context():
        for _ in range(calls):
            started = time.monotonic()
            job = enqueue(NOOP_JOB)
            durations.append(time.monotonic() - started)
            if job is not None:
                raise RuntimeError(f"{redis_url} accepted a job: not a dead Redis")
    return durations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="enqueue calls per kind of dead Redis")
    parser.add_argument("--budget", type=float, default=5.0, help="seconds one call may take at most")
    parser.add_argument("--only", choices=sorted(TARGETS), help="measure one kind only")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)  # every call logs "could not enqueue": expected here
    result: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="pf_dead_redis_") as tmp:
            for kind, url in TARGETS.items():
                if args.only and kind != args.only:
                    continue
                durations = measure(url, args.calls, Path(tmp))
                result[kind] = {"calls": len(durations),
                                "p50_ms": round(statistics.median(durations) * 1000, 1),
                                "max_ms": round(max(durations) * 1000, 1)}
    except Exception as exc:  # the run could not happen: say why, distinct from a slow answer
        print(f"bench.dead_redis: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    over = [kind for kind, r in result.items() if r["max_ms"] > args.budget * 1000]
    if over:
        print(f"over the {args.budget} s budget: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
