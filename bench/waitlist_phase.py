"""The waiting-list phase, after the rush: the unpaid baskets' holds lapse, the worker turns the freed
places into offers, and the offered families answer them through the JSON API.

During the rush, parents who found a week « complet » joined its list (bench/journey.py). Here the
bench only waits and answers like the families would: it never makes an offer itself. The places
freed by the 3 % of baskets left unpaid (and the 2 % refused at the card) lapse at the end of their
hold (`--hold-minutes`, BASKET_HOLD_MINUTES of the server), the expiry job (or the sweeper, if the job
is lost) offers them to the first waiting entries, and then, round after round until no new offer
comes, each offered family reads `GET /api/v1/portal/waitlist` and pays (`POST /waitlist/<id>/pay`,
then the sandbox page's **Payer**), declines (`DELETE /waitlist/<id>`: the place passes on at once)
or lets the offer run.
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import text

from .http import Client, TransportError
from .journey import WAITLIST, Journey, Options, Stats

# Holds of the households' own baskets (not offers) still counting: the phase waits for them to lapse.
LAST_BASKET_HOLD = """
SELECT EXTRACT(EPOCH FROM MAX(r.hold_expires_at) - now()) FROM reservation r JOIN basket b ON b.id = r.basket_id
WHERE r.status = 'held' AND r.hold_expires_at > now() AND b.status <> 'offer'
"""
# Weeks with a free place and somebody waiting for it: not settled yet (an expiry job still to run).
UNSETTLED = """
SELECT COUNT(*) FROM week w
WHERE EXISTS (SELECT 1 FROM waitlist_entry e WHERE e.week_id = w.id AND e.status = 'waiting')
  AND w.capacity > (SELECT COUNT(*) FROM reservation r WHERE r.week_id = w.id
                    AND (r.status = 'confirmed' OR (r.status = 'held' AND r.hold_expires_at > now())))
"""
# The mail a family gets, as the bench sees it: the households with an offer running.
OFFERED = """
SELECT e.id, h.email FROM waitlist_entry e JOIN household h ON h.id = e.household_id
WHERE e.status = 'offered' ORDER BY e.id
"""


@dataclass
class PhaseOptions:
    accept_share: float = 0.8  # offered families who pay their offer
    decline_share: float = 0.1  # who decline it (the place passes on at once); the rest let it run
    settle_timeout: float = 150.0  # seconds after the last hold lapsed (the sweeper runs every 60 s)
    max_rounds: int = 8


@dataclass
class PhaseReport:
    waited_for_holds_s: float = 0.0
    settled: bool = True
    rounds: int = 0
    answers: Counter = field(default_factory=Counter)  # paid / refused_card / declined / ignored / errors


def _scalar(engine, sql: str):
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()


def wait_for_holds(engine, log, stop_after: float) -> float:
    """Sleep until every basket hold taken during the rush has lapsed (the database's clock)."""
    started = time.monotonic()
    while time.monotonic() - started < stop_after:
        left = _scalar(engine, LAST_BASKET_HOLD)
        if left is None:
            break
        log(f"waiting list: the last basket hold lapses in {float(left):.0f} s")
        time.sleep(min(float(left) + 0.5, 15.0))
    return time.monotonic() - started


def wait_settled(engine, timeout: float) -> bool:
    """Until no week has both a free place and a waiting entry, twice in a row (1 s apart)."""
    deadline = time.monotonic() + timeout
    calm = 0
    while time.monotonic() < deadline:
        calm = calm + 1 if not _scalar(engine, UNSETTLED) else 0
        if calm >= 2:
            return True
        time.sleep(1.0)
    return False


def _answer(port: int, stats: Stats, options: Options, opts: PhaseOptions, seed: int, email: str,
            entry_ids: list[int], report: PhaseReport, lock: threading.Lock) -> None:
    client = Client("127.0.0.1", port)
    journey = Journey(client, stats, options, random.Random(seed))
    outcomes: list[str] = []
    try:
        if not journey.login(email):
            outcomes.append("login_failed")
            return
        response, body = journey.call("waitlist_list", "GET", WAITLIST)
        running = {e["id"] for e in (body or {}).get("entries") or [] if e.get("status") == "offered"}
        for entry_id in entry_ids:
            if entry_id not in running:
                outcomes.append("not_listed")  # the API must show every offer the database holds
                continue
            choice = random.Random(seed * 7919 + entry_id).random()
            if choice < opts.accept_share:
                response, body = journey.call("waitlist_pay", "POST", f"{WAITLIST}/{entry_id}/pay", json={})
                if response.status == 200 and body and body.get("payment_url"):
                    outcomes.append(journey.pay(body["payment_url"], refuse=False))
                else:
                    outcomes.append(f"pay_offer_{response.status}_{(body or {}).get('code')}")
            elif choice < opts.accept_share + opts.decline_share:
                response, _ = journey.call("waitlist_leave", "DELETE", f"{WAITLIST}/{entry_id}")
                outcomes.append("declined" if response.status == 200 else f"decline_{response.status}")
            else:
                outcomes.append("ignored")
    except TransportError as exc:
        stats.transport_error("waitlist", exc)
        outcomes.append("no_answer")
    finally:
        client.close()
        with lock:
            report.answers.update(outcomes)


def run(port: int, engine, stats: Stats, options: Options, opts: PhaseOptions, concurrency: int, seed: int,
        log) -> PhaseReport:
    report = PhaseReport()
    report.waited_for_holds_s = wait_for_holds(engine, log, stop_after=3600)
    report.settled = wait_settled(engine, opts.settle_timeout)
    log(f"waiting list: holds lapsed after {report.waited_for_holds_s:.0f} s; offers "
        f"{'settled' if report.settled else 'NOT settled'}")
    answered: set[int] = set()
    lock = threading.Lock()
    for _round in range(opts.max_rounds):
        with engine.connect() as conn:
            rows = [(entry_id, email) for entry_id, email in conn.execute(text(OFFERED)) if entry_id not in answered]
        if not rows:
            break
        report.rounds += 1
        families: dict[str, list[int]] = defaultdict(list)
        for entry_id, email in rows:
            families[email].append(entry_id)
            answered.add(entry_id)
        todo = list(families.items())
        log(f"waiting list, round {report.rounds}: {len(rows)} new offers to {len(todo)} families")

        def family(_i: int, todo=todo) -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    email, ids = todo.pop()
                _answer(port, stats, options, opts, seed + ids[0], email, ids, report, lock)

        threads = [threading.Thread(target=family, args=(i,), daemon=True)
                   for i in range(min(concurrency, len(todo)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        report.settled = wait_settled(engine, opts.settle_timeout) and report.settled
    return report
