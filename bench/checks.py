"""What the database says after the rush: the invariants are checked with SQL, never from what
the clients believe they got."""
from __future__ import annotations

from sqlalchemy import text

LIVE = "(status = 'confirmed' OR (status = 'held' AND hold_expires_at > now()))"

OVERBOOKED_WEEKS = f"""
SELECT COALESCE(SUM(GREATEST(u.n - w.capacity, 0)), 0)
FROM week w JOIN (SELECT week_id, COUNT(*) AS n FROM reservation WHERE {LIVE} GROUP BY week_id) u
  ON u.week_id = w.id
"""
OVERBOOKED_SEATS = f"""
SELECT COALESCE(SUM(GREATEST(u.n - c.seats, 0)), 0)
FROM circuit c JOIN (SELECT circuit_id, week_id, COUNT(*) AS n FROM reservation
                     WHERE transport_mode = 'bus' AND {LIVE} GROUP BY circuit_id, week_id) u
  ON u.circuit_id = c.id
"""
DOUBLE_BOOKED = f"""
SELECT COALESCE(SUM(n - 1), 0) FROM (
  SELECT child_id, week_id, COUNT(*) AS n FROM reservation WHERE {LIVE} GROUP BY child_id, week_id HAVING COUNT(*) > 1
) d
"""
BOOKED = "SELECT COUNT(*) FROM reservation WHERE status = 'confirmed'"
HELD = "SELECT COUNT(*) FROM reservation WHERE status = 'held' AND hold_expires_at > now()"
# Money: a paid basket has every line confirmed, and its payment is the sum of its lines.
PAID_MISMATCH = """
SELECT COUNT(*) FROM payment p
JOIN (SELECT basket_id, SUM(price_cents + bus_price_cents) AS total,
             SUM(CASE WHEN status = 'confirmed' THEN 0 ELSE 1 END) AS unconfirmed
      FROM reservation WHERE status IN ('confirmed', 'held') GROUP BY basket_id) r ON r.basket_id = p.basket_id
WHERE p.status = 'paid' AND (r.total <> p.amount_cents OR r.unconfirmed > 0)
"""
CONFIRMED_UNPAID = """
SELECT COUNT(*) FROM reservation r
WHERE r.status = 'confirmed' AND NOT EXISTS (
  SELECT 1 FROM payment p WHERE p.basket_id = r.basket_id AND p.status IN ('paid', 'partially_refunded'))
"""
PAYMENTS_PAID = "SELECT COUNT(*) FROM payment WHERE status = 'paid'"
BASKETS_BY_STATUS = "SELECT status, COUNT(*) FROM basket GROUP BY status ORDER BY status"
MAILS_BY_STATUS = "SELECT kind, status, COUNT(*) FROM mail_log GROUP BY kind, status ORDER BY kind, status"
WEEK_FILL = """
SELECT w.id, w.label, w.capacity,
       (SELECT COUNT(*) FROM reservation r WHERE r.week_id = w.id AND r.status = 'confirmed') AS confirmed,
       (SELECT COUNT(*) FROM reservation r WHERE r.week_id = w.id AND r.status = 'held'
          AND r.hold_expires_at > now()) AS held,
       (SELECT COUNT(*) FROM reservation r JOIN waitlist_offer o ON o.reservation_id = r.id
        WHERE r.week_id = w.id AND r.status = 'held' AND r.hold_expires_at > now()) AS offered,
       (SELECT COUNT(*) FROM waitlist_entry e WHERE e.week_id = w.id AND e.status = 'waiting') AS waiting
FROM week w ORDER BY w.id
"""


def audit(engine) -> dict:
    with engine.connect() as conn:
        scalar = lambda sql: int(conn.execute(text(sql)).scalar() or 0)  # noqa: E731
        result = {
            "booked": scalar(BOOKED),
            "overbooked": scalar(OVERBOOKED_WEEKS) + scalar(OVERBOOKED_SEATS),
            "double_booked": scalar(DOUBLE_BOOKED),
            "held": scalar(HELD),
            "payments_paid": scalar(PAYMENTS_PAID),
            "paid_mismatch": scalar(PAID_MISMATCH),
            "confirmed_unpaid": scalar(CONFIRMED_UNPAID),
            "baskets": {status: n for status, n in conn.execute(text(BASKETS_BY_STATUS))},
            "mails": {f"{kind}/{status}": n for kind, status, n in conn.execute(text(MAILS_BY_STATUS))},
            "weeks": [dict(row._mapping) for row in conn.execute(text(WEEK_FILL))],
        }
    return result


# --- the waiting list ----------------------------------------------------------------------------
# An offer is an ordinary held line (in a basket of status 'offer'): LIVE above already counts it,
# so `overbooked` is confirmed + live held + live offered against weeks and circuit × week.

WAITLIST_JOINED = "SELECT COUNT(*) FROM waitlist_entry"
WAITLIST_BY_STATUS = "SELECT status, COUNT(*) FROM waitlist_entry GROUP BY status ORDER BY status"
OFFERS_MADE = "SELECT COUNT(*) FROM waitlist_offer"
OFFERS_BY_OUTCOME = "SELECT outcome, COUNT(*) FROM waitlist_offer GROUP BY outcome ORDER BY outcome"
# Accepted = the offer's line is paid (the outcome column says so only once the week's next step ran).
OFFERS_ACCEPTED = """
SELECT COUNT(*) FROM waitlist_offer o JOIN reservation r ON r.id = o.reservation_id WHERE r.status = 'confirmed'
"""
OFFERS_LIVE = """
SELECT COUNT(*) FROM waitlist_offer o JOIN reservation r ON r.id = o.reservation_id
WHERE r.status = 'held' AND r.hold_expires_at > now()
"""
# Places that should have flowed to the list and did not: per week, min(free places, entries waiting).
NOT_OFFERED = f"""
SELECT COALESCE(SUM(LEAST(w.capacity - COALESCE(u.n, 0), q.n)), 0)
FROM week w
JOIN (SELECT week_id, COUNT(*) AS n FROM waitlist_entry WHERE status = 'waiting' GROUP BY week_id) q
  ON q.week_id = w.id
LEFT JOIN (SELECT week_id, COUNT(*) AS n FROM reservation WHERE {LIVE} GROUP BY week_id) u ON u.week_id = w.id
WHERE w.capacity > COALESCE(u.n, 0)
"""
# Every event that moves a week's free places, in time order:
#   take:    a line was created (created_at): an add, or an offer (then made_at = created_at);
#   release: a line stopped counting: a hold at its deadline (hold_expires_at — the counts are lazy,
#            the place is free from that instant even if the job ends the line later), a removed or
#            refused line when it ended (or its deadline if earlier), a cancelled one when cancelled.
PLACE_EVENTS = """
SELECT r.week_id, r.created_at AS at, 1 AS ord, 'take' AS kind,
       CASE WHEN o.id IS NULL THEN NULL WHEN o.manual THEN 'manual' ELSE 'offer' END AS offer, r.status AS status
FROM reservation r LEFT JOIN waitlist_offer o ON o.reservation_id = r.id
UNION ALL
SELECT r.week_id,
       CASE WHEN r.status = 'cancelled' THEN r.ended_at
            ELSE LEAST(r.hold_expires_at, COALESCE(r.ended_at, r.hold_expires_at)) END AS at,
       0 AS ord, 'release' AS kind, NULL AS offer, r.status AS status
FROM reservation r
WHERE r.status IN ('expired', 'removed', 'cancelled') OR (r.status = 'held' AND r.hold_expires_at <= now())
ORDER BY 1, 2, 3
"""


def offer_delays(conn) -> dict:
    """Seconds from a place freeing to the offer that took it, replaying each week's free places:
    every release adds a free place (stamped with its time), every take uses the oldest free one.
    An automatic offer that takes a place freed at t was made `made_at − t` after it. Offers that took
    a place never released (the week's initial capacity) are counted apart: there should be none."""
    from collections import deque

    capacities = dict(conn.execute(text("SELECT id, capacity FROM week")).all())
    delays: list[float] = []
    by_release: dict[str, list[float]] = {}
    from_capacity = 0
    pools: dict[int, deque] = {}
    released_status: dict[int, deque] = {}
    for week_id, at, _ord, kind, offer, status in conn.execute(text(PLACE_EVENTS)):
        pool = pools.setdefault(week_id, deque([None] * int(capacities.get(week_id, 0))))
        kinds = released_status.setdefault(week_id, deque([None] * int(capacities.get(week_id, 0))))
        if kind == "release":
            pool.append(at)
            kinds.append(status)
            continue
        freed_at = pool.popleft() if pool else None
        freed_by = kinds.popleft() if kinds else None
        if offer != "offer":
            continue
        if freed_at is None:
            from_capacity += 1
            continue
        seconds = max(0.0, (at - freed_at).total_seconds())
        delays.append(seconds)
        by_release.setdefault(freed_by or "?", []).append(seconds)
    return {"delays": delays, "by_release": by_release, "from_capacity": from_capacity}


def waitlist_audit(engine) -> dict:
    with engine.connect() as conn:
        scalar = lambda sql: int(conn.execute(text(sql)).scalar() or 0)  # noqa: E731
        result = {
            "joined": scalar(WAITLIST_JOINED),
            "offers_made": scalar(OFFERS_MADE),
            "offers_accepted": scalar(OFFERS_ACCEPTED),
            "offers_live": scalar(OFFERS_LIVE),
            "not_offered": scalar(NOT_OFFERED),
            "entries": {status: n for status, n in conn.execute(text(WAITLIST_BY_STATUS))},
            "outcomes": {outcome: n for outcome, n in conn.execute(text(OFFERS_BY_OUTCOME))},
        }
        result.update(offer_delays(conn))
    return result
