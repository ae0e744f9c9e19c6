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
WEEK_FILL = f"""
SELECT w.id, w.label, w.capacity,
       (SELECT COUNT(*) FROM reservation r WHERE r.week_id = w.id AND r.status = 'confirmed') AS confirmed,
       (SELECT COUNT(*) FROM reservation r WHERE r.week_id = w.id AND r.status = 'held'
          AND r.hold_expires_at > now()) AS held
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
