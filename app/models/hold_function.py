"""`pf_hold_v2`: a parent's hold in ONE round trip to PostgreSQL (issue 21).

The lock → count → insert → audit sequence of `booking.basket._add_line`, for the common case of
the opening rush, as one PL/pgSQL call: the household row locked (the person lock), its active basket
locked, the child's lapsed lines of this week ended, the week row locked, then one count of the
week's live lines with the child's own line and the bus seats in it, and, when the week takes the
child, the basket (if none), the line and their audit rows inserted. It commits asynchronously, like
every parent hold (`transactions.commit_asynchronously`).

It decides nothing the Python rule does not: `booking.fast_hold` checks the period's gate, the week's
start and the price before the call, and turns a refusal back into `eligibility.week_reason`'s own
French reason from the facts the call returns; `tests/test_fast_hold_pg.py` plays every state of a
week against the ORM path. What the function does not model, it hands back (``fallback``): a waiting
list on the week (the free place is offered to it first), a lapsed basket still marked active, a
household whose status moved since it was read. The ORM path then runs in the same transaction.

Installed by the migrations on PostgreSQL (`c7d2e9a4b1f8` v1, `d3f6a1c8e2b5` v2: a changed text is a
new name and a new migration, the old text kept below for its migration's downgrade) and by
`create_all` (tests, bench) through the metadata hook below. SQLite never calls it.
"""
from __future__ import annotations

from sqlalchemy import DDL, event

from . import db

_TEMPLATE = r"""
CREATE OR REPLACE FUNCTION @NAME@(
    p_household integer, p_child integer, p_week integer, p_mode varchar, p_circuit integer, p_stop integer,
    p_price integer, p_bus_price integer, p_now timestamptz, p_hold_seconds double precision, p_today date,
    p_household_status varchar, p_actor_id integer, p_actor_label varchar)
RETURNS TABLE (outcome text, line_status varchar, line_household integer, used integer, bus_used integer,
               basket_id integer, line_id integer, expires_at timestamptz, basket_created boolean,
               total_cents integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_status varchar;
    v_basket_id integer;
    v_basket_status varchar;
    v_expires timestamptz;
    v_capacity integer;
    v_starts date;
    v_seats integer;
    v_used integer;
    v_bus integer;
    v_line_status varchar;
    v_line_household integer;
    v_line integer;
    v_created boolean := false;
    v_total integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT h.status INTO v_status FROM household h WHERE h.id = p_household FOR UPDATE;
    IF v_status IS DISTINCT FROM p_household_status THEN
        RETURN QUERY SELECT 'fallback'::text, NULL::varchar, NULL::integer, NULL::integer, NULL::integer,
                            NULL::integer, NULL::integer, NULL::timestamptz, false, NULL::integer;
        RETURN;
    END IF;
    SELECT b.id, b.status, b.expires_at INTO v_basket_id, v_basket_status, v_expires
      FROM basket b WHERE b.household_id = p_household AND b.status IN ('open', 'checkout') FOR UPDATE;
    IF v_basket_status = 'checkout' OR v_expires <= p_now THEN
        RETURN QUERY SELECT CASE WHEN v_basket_status = 'checkout' THEN 'checkout' ELSE 'fallback' END,
                            NULL::varchar, NULL::integer, NULL::integer, NULL::integer,
                            NULL::integer, NULL::integer, NULL::timestamptz, false, NULL::integer;
        RETURN;
    END IF;

    -- Lapsed holds of this child × week still say 'held' until the job tidies them (holds.expire_lapsed_lines).
    WITH ended AS (
        UPDATE reservation r SET status = 'expired', ended_at = p_now
         WHERE r.child_id = p_child AND r.week_id = p_week AND r.status = 'held' AND r.hold_expires_at <= p_now
        RETURNING r.id, r.household_id, r.basket_id)
    INSERT INTO audit_log (at, actor_id, actor_label, action, entity, entity_id, household_id, before, after)
    SELECT p_now, NULL, 'système', 'reservation.expired', 'reservation', e.id, e.household_id,
           '{"status": "held"}', jsonb_build_object('status', 'expired', 'basket_id', e.basket_id, 'lazy', true)::text
      FROM ended e;

    SELECT w.capacity, w.starts_on INTO v_capacity, v_starts FROM week w WHERE w.id = p_week FOR UPDATE;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM waitlist_entry q
                             WHERE q.week_id = p_week AND q.status IN ('waiting', 'offered')) THEN
        RETURN QUERY SELECT 'fallback'::text, NULL::varchar, NULL::integer, NULL::integer, NULL::integer,
                            NULL::integer, NULL::integer, NULL::timestamptz, false, NULL::integer;
        RETURN;
    END IF;
    -- capacity.live_condition: confirmed, or held and not lapsed.
    SELECT count(*), count(*) FILTER (WHERE r.circuit_id = p_circuit),
           max(r.status) FILTER (WHERE r.child_id = p_child), max(r.household_id) FILTER (WHERE r.child_id = p_child)
      INTO v_used, v_bus, v_line_status, v_line_household
      FROM reservation r
     WHERE r.week_id = p_week AND (r.status = 'confirmed' OR (r.status = 'held' AND r.hold_expires_at > p_now));
    IF p_circuit IS NOT NULL THEN
        SELECT c.seats INTO v_seats FROM circuit c WHERE c.id = p_circuit;
@MISSING_BUS@    END IF;
    IF v_starts <= p_today OR v_line_status IS NOT NULL OR v_used + 1 > v_capacity
       OR (p_circuit IS NOT NULL AND v_bus + 1 > v_seats) THEN
        RETURN QUERY SELECT 'refused'::text, v_line_status, v_line_household, v_used, v_bus,
                            NULL::integer, NULL::integer, NULL::timestamptz, false, NULL::integer;
        RETURN;
    END IF;

    IF v_basket_id IS NULL THEN
        v_expires := p_now + make_interval(secs => p_hold_seconds);
        INSERT INTO basket (household_id, status, created_at, expires_at)
        VALUES (p_household, 'open', p_now, v_expires) RETURNING id INTO v_basket_id;
        v_created := true;
        INSERT INTO audit_log (at, actor_id, actor_label, action, entity, entity_id, household_id, before, after)
        VALUES (p_now, p_actor_id, p_actor_label, 'basket.opened', 'basket', v_basket_id, p_household, NULL,
                jsonb_build_object('status', 'open', 'expires_at', v_expires, 'desk', false)::text);
    END IF;
    INSERT INTO reservation (basket_id, household_id, child_id, week_id, status, transport_mode, circuit_id, stop_id,
                             price_cents, bus_price_cents, hold_expires_at, created_at)
    VALUES (v_basket_id, p_household, p_child, p_week, 'held', p_mode, p_circuit, p_stop, p_price, p_bus_price,
            v_expires, p_now)
    RETURNING id INTO v_line;
    INSERT INTO audit_log (at, actor_id, actor_label, action, entity, entity_id, household_id, before, after)
    VALUES (p_now, p_actor_id, p_actor_label, 'reservation.held', 'reservation', v_line, p_household, NULL,
            jsonb_build_object('basket_id', v_basket_id, 'child_id', p_child, 'week_id', p_week,
                               'transport_mode', p_mode, 'stop_id', p_stop, 'price_cents', p_price,
                               'bus_price_cents', p_bus_price, 'hold_expires_at', v_expires, 'desk', false)::text);
    SELECT coalesce(sum(r.price_cents + r.bus_price_cents), 0) INTO v_total
      FROM reservation r WHERE r.basket_id = v_basket_id AND r.status = 'held';
    RETURN QUERY SELECT 'held'::text, NULL::varchar, NULL::integer, v_used, v_bus,
                        v_basket_id, v_line, v_expires, v_created, v_total;
END
$$;
"""

_SIGNATURE = "(integer, integer, integer, varchar, integer, integer, integer, integer, timestamptz, " \
             "double precision, date, varchar, integer, varchar)"

# v2: a circuit or stop deleted between the snapshot's read and the call (a staff edit in that
# instant) is handed back to the ORM path, whose « invalid_stop » says so, instead of failing on its foreign key.
_MISSING_BUS = """        IF v_seats IS NULL
           OR NOT EXISTS (SELECT 1 FROM stop s WHERE s.id = p_stop AND s.circuit_id = p_circuit) THEN
            RETURN QUERY SELECT 'fallback'::text, NULL::varchar, NULL::integer, NULL::integer, NULL::integer,
                                NULL::integer, NULL::integer, NULL::timestamptz, false, NULL::integer;
            RETURN;
        END IF;
"""


def _create(name: str, missing_bus: str) -> str:
    return _TEMPLATE.replace("@NAME@", name).replace("@MISSING_BUS@", missing_bus)


# Each version's text stays here as its migration installed it: c7d2e9a4b1f8 (v1), d3f6a1c8e2b5 (v2).
CREATE_HOLD_FUNCTION_V1 = _create("pf_hold_v1", "")
DROP_HOLD_FUNCTION_V1 = "DROP FUNCTION IF EXISTS pf_hold_v1" + _SIGNATURE

HOLD_FUNCTION = "pf_hold_v2"
CREATE_HOLD_FUNCTION = _create(HOLD_FUNCTION, _MISSING_BUS)
DROP_HOLD_FUNCTION = f"DROP FUNCTION IF EXISTS {HOLD_FUNCTION}" + _SIGNATURE

# create_all (tests, bench) installs it too, after the tables it reads.
event.listen(db.metadata, "after_create", DDL(CREATE_HOLD_FUNCTION).execute_if(dialect="postgresql"))
