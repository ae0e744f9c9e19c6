"""The waiting list (DESIGN §3.8), through the service functions: joining and its refusals, rank,
offers on each kind of release, skipping without head-of-line blocking, the lapse cascade, the
cut-off, the shared child, paying an offer through the ordinary checkout."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.services.errors import Conflict
from app.services.localize import paris_today
from tests.booking_helpers import add, confirm_basket

ONSITE = {"mode": "onsite"}


def call(app, fn, *args, **kwargs):
    with app.app_context():
        return fn(*args, **kwargs)


def join(app, family, week_id, transport=None, child=0, **kwargs):
    from app.services.booking import waitlist

    return call(app, waitlist.join, family.id, family.child_ids[child], week_id, transport or ONSITE, **kwargs)


def join_error(app, family, week_id, transport=None, child=0):
    with pytest.raises(Conflict) as caught:
        join(app, family, week_id, transport, child)
    return caught.value


def entries(app, family):
    from app.services.booking import waitlist

    return call(app, waitlist.household_entries, family.id)


def live_count(app, week_id, circuit_id=None, now=None):
    from app.models import Reservation, db, utcnow
    from app.services.booking.capacity import live_condition

    with app.app_context():
        query = select(func.count()).select_from(Reservation).where(
            Reservation.week_id == week_id, live_condition(now or utcnow()))
        if circuit_id is not None:
            query = query.where(Reservation.circuit_id == circuit_id)
        return db.session.execute(query).scalar()


def offers_of(app, family):
    """(entry status, offer outcome, line status, hold_expires_at) of the household's offers."""
    from app.models import Reservation, WaitlistEntry, WaitlistOffer, db

    with app.app_context():
        rows = db.session.execute(
            select(WaitlistEntry.status, WaitlistOffer.outcome, Reservation.status, Reservation.hold_expires_at,
                   WaitlistOffer.id)
            .join(WaitlistOffer, WaitlistOffer.entry_id == WaitlistEntry.id)
            .join(Reservation, Reservation.id == WaitlistOffer.reservation_id)
            .where(WaitlistEntry.household_id == family.id).order_by(WaitlistOffer.id)
        ).all()
        return [tuple(row) for row in rows]


@pytest.fixture
def full_week(app, factory):
    """A week of two places: the first held in a basket, the second paid; returns (catalog, holders, line ids)."""
    catalog = factory.catalog(capacities=(2, 10), seats=1)
    holders = [factory.household() for _ in range(2)]
    lines = [add(app, h.id, h.child_ids[0], catalog.week_ids[0]) for h in holders]
    confirm_basket(app, holders[1].id)
    return catalog, holders, lines


# --- joining -------------------------------------------------------------------------------

def test_join_a_full_week_gives_the_rank_and_one_entry_per_child(app, factory, full_week):
    catalog, _holders, _lines = full_week
    first, second = factory.household(), factory.household()
    a = join(app, first, catalog.week_ids[0])
    b = join(app, second, catalog.week_ids[0], {"mode": "any", "stop_id": catalog.stop_ids[0]})
    assert (a["position"], a["status"]) == (1, "waiting")
    assert (b["position"], b["status"]) == (2, "waiting")
    assert join_error(app, first, catalog.week_ids[0]).code == "already_waiting"
    assert [e["position"] for e in entries(app, second)] == [2]
    assert entries(app, second)[0]["transport"]["label"] == "bus ou sur place"


def test_join_refused_when_the_week_is_not_full_or_the_child_could_not_book_it(app, factory, full_week):
    catalog, holders, _lines = full_week
    family = factory.household()
    assert join_error(app, family, catalog.week_ids[1]).code == "not_full"
    # A child already holding the week cannot wait for it.
    assert join_error(app, holders[0], catalog.week_ids[0]).code == "already_in_basket"
    too_old = factory.household(children=[("Max", 15)])
    assert join_error(app, too_old, catalog.week_ids[0]).code == "age"
    pending = factory.household(status="submitted")
    assert join_error(app, pending, catalog.week_ids[0]).code == "household_not_validated"


def test_join_for_a_full_bus_on_a_week_with_places(app, factory):
    catalog = factory.catalog(capacities=(5,), seats=1)
    rider = factory.household()
    add(app, rider.id, rider.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    family = factory.household()
    bus = {"mode": "bus", "stop_id": catalog.stop_ids[1]}
    assert join(app, family, catalog.week_ids[0], bus)["position"] == 1
    other = factory.household()
    # On-site places are left: no reason to wait for them.
    assert join_error(app, other, catalog.week_ids[0]).code == "not_full"


def test_shared_child_has_one_entry_whichever_household_asks(app, factory, full_week):
    catalog, _holders, _lines = full_week
    mother, father = factory.household(), factory.household()
    factory.link_child(father.id, mother.child_ids[0])
    join(app, mother, catalog.week_ids[0])
    from app.services.booking import waitlist

    with pytest.raises(Conflict) as caught:
        call(app, waitlist.join, father.id, mother.child_ids[0], catalog.week_ids[0], ONSITE)
    assert caught.value.code == "already_waiting"
    assert "déjà sur liste d'attente" in caught.value.message
    assert entries(app, father) == []  # the other household sees no entry of its own


def test_leave_the_list_moves_the_others_up(app, factory, full_week):
    from app.services.booking import waitlist

    catalog, _holders, _lines = full_week
    first, second = factory.household(), factory.household()
    a = join(app, first, catalog.week_ids[0])
    join(app, second, catalog.week_ids[0])
    call(app, waitlist.leave, first.id, a["id"])
    assert entries(app, first)[0]["status"] == "withdrawn"
    assert entries(app, second)[0]["position"] == 1
    with pytest.raises(Exception) as caught:
        call(app, waitlist.leave, second.id, a["id"])  # someone else's entry
    assert caught.value.code == "not_found"


# --- offers on every release ---------------------------------------------------------------

def test_a_removed_line_becomes_an_offer_at_once_counted_like_a_hold(app, factory, full_week):
    from app.models import MailLog, db, utcnow
    from app.services.booking import basket

    catalog, holders, lines = full_week
    first, second = factory.household(), factory.household()
    join(app, first, catalog.week_ids[0])
    join(app, second, catalog.week_ids[0])
    before = utcnow()
    call(app, basket.remove_line, holders[0].id, lines[0])
    [(status, outcome, line_status, hold_expires_at, _offer_id)] = offers_of(app, first)
    assert (status, outcome, line_status) == ("offered", "pending", "held")
    # 24 hours by default (the week starts in three weeks or more).
    assert timedelta(hours=23, minutes=59) < hold_expires_at - before <= timedelta(hours=24, seconds=5)
    assert live_count(app, catalog.week_ids[0]) == 2  # the offer took the freed place, no more
    assert offers_of(app, second) == [] and entries(app, second)[0]["position"] == 1
    item = entries(app, first)[0]
    assert item["status"] == "offered" and item["offer_expires_at"] and item["position"] is None
    with app.app_context():
        mail = db.session.execute(select(MailLog).where(MailLog.kind == "waitlist_offer")).scalar_one()
        assert mail.to_address == first.email and "/famille/liste-attente/" in mail.body_text
    # Nobody can book the week while the offer holds the place.
    newcomer = factory.household()
    with pytest.raises(Conflict) as caught:
        add(app, newcomer.id, newcomer.child_ids[0], catalog.week_ids[0])
    assert caught.value.code == "full"


def test_an_expired_hold_becomes_an_offer(app, factory, full_week):
    from app.models import utcnow
    from app.services.booking import basket

    catalog, _holders, lines = full_week
    family = factory.household()
    join(app, family, catalog.week_ids[0])
    later = utcnow() + timedelta(minutes=61)
    with app.app_context():
        from app.models import Reservation, db

        basket_id = db.session.get(Reservation, lines[0]).basket_id
    assert call(app, basket.expire_basket, basket_id, later)
    assert [o[:3] for o in offers_of(app, family)] == [("offered", "pending", "held")]


def test_a_lapsed_hold_never_lets_a_newcomer_jump_the_queue(app, factory, full_week):
    """Before any job runs, the lapsed place belongs to the list, not to the fastest refresher."""
    from app.models import utcnow
    from app.services.booking import waitlist

    catalog, _holders, _lines = full_week
    family = factory.household()
    join(app, family, catalog.week_ids[0])
    later = utcnow() + timedelta(minutes=61)
    newcomer = factory.household()
    with pytest.raises(Conflict) as caught:
        add(app, newcomer.id, newcomer.child_ids[0], catalog.week_ids[0], now=later)
    assert caught.value.code == "full"
    # The sweeper (or the hold's expiry job) then makes the offer for good.
    assert call(app, waitlist.sweep, later) == 1
    assert [o[:3] for o in offers_of(app, family)] == [("offered", "pending", "held")]
    assert live_count(app, catalog.week_ids[0], now=later) == 2


def test_cancellation_and_capacity_raise_become_offers(app, factory):
    from flask_appbuilder.security.sqla.models import User

    from app.models import Reservation, db
    from app.services import payments as service
    from app.services.booking import waitlist

    catalog = factory.catalog(capacities=(1,))
    holder = factory.household()
    line_id = add(app, holder.id, holder.child_ids[0], catalog.week_ids[0])
    confirm_basket(app, holder.id)
    first, second = factory.household(), factory.household()
    join(app, first, catalog.week_ids[0])
    join(app, second, catalog.week_ids[0])
    staff = factory.staff()
    with app.app_context():
        actor = db.session.get(User, staff.id)
        service.cancel_reservation(line_id, reason="Enfant malade", refund=False, actor=actor)
        assert db.session.get(Reservation, line_id).status == "cancelled"
    assert [o[:2] for o in offers_of(app, first)] == [("offered", "pending")]
    # Staff raise the capacity: the next family is offered the new place.
    with app.app_context():
        from app.models import Week

        db.session.get(Week, catalog.week_ids[0]).capacity = 2
        waitlist.offer_freed_places([catalog.week_ids[0]])
        db.session.commit()
    assert [o[:2] for o in offers_of(app, second)] == [("offered", "pending")]
    assert live_count(app, catalog.week_ids[0]) == 2


def test_no_head_of_line_blocking_a_bus_entry_is_skipped_not_the_list(app, factory):
    from app.services.booking import basket

    catalog = factory.catalog(capacities=(2,), seats=1)
    rider, walker = factory.household(), factory.household()
    add(app, rider.id, rider.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    walker_line = add(app, walker.id, walker.child_ids[0], catalog.week_ids[0])
    needs_bus, any_mode, onsite = factory.household(), factory.household(), factory.household()
    join(app, needs_bus, catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[1]})
    join(app, any_mode, catalog.week_ids[0], {"mode": "any", "stop_id": catalog.stop_ids[1]})
    join(app, onsite, catalog.week_ids[0])
    call(app, basket.remove_line, walker.id, walker_line)  # a place frees, but no bus seat
    assert offers_of(app, needs_bus) == [] and entries(app, needs_bus)[0]["position"] == 1
    # « bus ou sur place » comes next and gets the place on site.
    [offer] = offers_of(app, any_mode)
    assert offer[:3] == ("offered", "pending", "held")
    assert entries(app, any_mode)[0]["offer_transport"] == "sur place"
    assert offers_of(app, onsite) == []
    assert live_count(app, catalog.week_ids[0]) == 2
    assert live_count(app, catalog.week_ids[0], circuit_id=catalog.circuit_id) == 1


def test_a_freed_bus_seat_goes_to_the_bus_entry(app, factory):
    from app.services.booking import basket

    catalog = factory.catalog(capacities=(2,), seats=1)
    rider, walker = factory.household(), factory.household()
    rider_line = add(app, rider.id, rider.child_ids[0], catalog.week_ids[0],
                     {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    add(app, walker.id, walker.child_ids[0], catalog.week_ids[0])
    needs_bus = factory.household()
    join(app, needs_bus, catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[2]})
    call(app, basket.remove_line, rider.id, rider_line)
    assert entries(app, needs_bus)[0]["status"] == "offered"
    assert live_count(app, catalog.week_ids[0], circuit_id=catalog.circuit_id) == 1


def test_a_stop_change_off_a_full_bus_offers_the_seat(app, factory):
    from app.services.booking import basket

    catalog = factory.catalog(capacities=(3,), seats=1)
    rider = factory.household()
    rider_line = add(app, rider.id, rider.child_ids[0], catalog.week_ids[0],
                     {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    needs_bus = factory.household()
    join(app, needs_bus, catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[1]})
    assert entries(app, needs_bus)[0]["status"] == "waiting"
    call(app, basket.change_stop, rider.id, rider_line, ONSITE)  # the rider now comes on site
    assert entries(app, needs_bus)[0]["status"] == "offered"
    assert live_count(app, catalog.week_ids[0], circuit_id=catalog.circuit_id) == 1


# --- lapse, decline, cut-off ---------------------------------------------------------------

def test_a_lapsed_offer_stops_counting_at_its_deadline_and_passes_on(app, factory, full_week):
    from app.jobs.waitlist import lapse_offer_job
    from app.services.booking import basket, waitlist

    catalog, holders, lines = full_week
    first, second, third = factory.household(), factory.household(), factory.household()
    for family in (first, second, third):
        join(app, family, catalog.week_ids[0])
    call(app, basket.remove_line, holders[0].id, lines[0])
    [offer] = offers_of(app, first)
    deadline, offer_id = offer[3], offer[4]
    after = deadline + timedelta(seconds=1)
    # Lazy: one second after the deadline the offer counts nowhere, whatever the jobs do.
    assert live_count(app, catalog.week_ids[0], now=after) < 2
    assert call(app, waitlist.lapse_offer, offer_id, after) == 1
    assert offers_of(app, first)[0][:3] == ("lapsed", "lapsed", "expired")
    assert offers_of(app, second)[0][:2] == ("offered", "pending")
    assert entries(app, third)[0]["position"] == 1
    # Idempotent: the job run again (or the sweeper) offers nothing more.
    with app.app_context():
        assert lapse_offer_job(offer_id) == 0
        assert waitlist.sweep(after) == 0
    assert len(offers_of(app, second)) == 1 and offers_of(app, third) == []


def test_the_sweeper_passes_on_an_offer_whose_job_was_lost(app, factory, full_week):
    from app.services.booking import basket, waitlist

    catalog, holders, lines = full_week
    first, second = factory.household(), factory.household()
    join(app, first, catalog.week_ids[0])
    join(app, second, catalog.week_ids[0])
    call(app, basket.remove_line, holders[0].id, lines[0])
    deadline = offers_of(app, first)[0][3]
    assert call(app, waitlist.sweep, deadline + timedelta(minutes=1)) == 1
    assert offers_of(app, first)[0][0] == "lapsed"
    assert offers_of(app, second)[0][:2] == ("offered", "pending")


def test_a_declined_offer_passes_on_at_once(app, factory, full_week):
    from app.services.booking import basket, waitlist

    catalog, holders, lines = full_week
    first, second = factory.household(), factory.household()
    a = join(app, first, catalog.week_ids[0])
    join(app, second, catalog.week_ids[0])
    call(app, basket.remove_line, holders[0].id, lines[0])
    call(app, waitlist.leave, first.id, a["id"])
    assert offers_of(app, first)[0][:3] == ("withdrawn", "declined", "removed")
    assert offers_of(app, second)[0][:2] == ("offered", "pending")
    assert live_count(app, catalog.week_ids[0]) == 2


def test_offer_deadline_never_passes_the_week_start_and_no_offer_after_the_cut_off(app, factory):

    from app.models import utcnow
    from app.services.booking import basket, waitlist
    from app.services.booking.waitlist_offers import week_start

    catalog = factory.catalog(capacities=(1,), starts_on=paris_today() + timedelta(days=10))
    holder = factory.household()
    line = add(app, holder.id, holder.child_ids[0], catalog.week_ids[0])
    first = factory.household()
    join(app, first, catalog.week_ids[0])
    with app.app_context():
        from app.models import Week, db

        start = week_start(db.session.get(Week, catalog.week_ids[0]))
    # 2 days and 12 hours before the start: an offer of 24 h is fine, the week start is not reached.
    close = start - timedelta(days=2, hours=12)
    call(app, basket.remove_line, holder.id, line, now=close)
    assert offers_of(app, first)[0][3] == close + timedelta(hours=24)
    # A second family waits; the offer lapses inside the cut-off (2 days): no new offer.
    second = factory.household()
    join(app, second, catalog.week_ids[0], now=close)
    late = start - timedelta(days=1)
    assert call(app, waitlist.sweep, late) == 0
    assert offers_of(app, first)[0][0] == "lapsed"
    assert entries(app, second)[0]["status"] == "waiting" and offers_of(app, second) == []
    # Joining inside the cut-off is refused; once the week has started the list closes.
    third = factory.household()
    with pytest.raises(Conflict) as caught:
        join(app, third, catalog.week_ids[0], now=late)
    assert caught.value.code == "waitlist_closed"
    assert call(app, waitlist.sweep, start + timedelta(hours=1)) == 0
    assert entries(app, second)[0]["status"] == "closed"
    assert utcnow() < late


# --- paying an offer -----------------------------------------------------------------------

def test_paying_an_offer_goes_through_the_ordinary_checkout_and_fulfilment(app, factory, full_week):
    from app.models import Basket, db, utcnow
    from app.services import payments as service
    from app.services.booking import basket, waitlist

    catalog, holders, lines = full_week
    family = factory.household()
    entry = join(app, family, catalog.week_ids[0])
    call(app, basket.remove_line, holders[0].id, lines[0])
    now = utcnow()
    basket_id = call(app, waitlist.claim_offer, family.id, entry["id"], now=now)
    assert call(app, waitlist.claim_offer, family.id, entry["id"], now=now) == basket_id  # idempotent
    with app.app_context():
        claimed = db.session.get(Basket, basket_id)
        assert claimed.status == "open" and claimed.expires_at <= now + timedelta(minutes=60, seconds=1)
    result = call(app, service.start_checkout, family.id)
    assert call(app, service.fulfil, result.payment_id, source="test").outcome == "confirmed"
    # Recorded by the fulfilment itself, in its transaction: no job or next step needed.
    assert offers_of(app, family)[0][:3] == ("accepted", "accepted", "confirmed")
    assert entries(app, family)[0]["status"] == "accepted"
    call(app, waitlist.sweep)
    assert offers_of(app, family)[0][:2] == ("accepted", "accepted")
    assert live_count(app, catalog.week_ids[0]) == 2
    from app.models import AuditLog

    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "waitlist.offer_accepted", AuditLog.entity_id == entry["id"])).scalar() == 1


def test_an_offer_paid_late_whose_place_is_still_free_is_accepted_not_lapsed(app, factory, full_week):
    from app.services import payments as service
    from app.services.booking import basket, waitlist

    catalog, holders, lines = full_week
    family = factory.household()
    entry = join(app, family, catalog.week_ids[0])
    call(app, basket.remove_line, holders[0].id, lines[0])
    from app.models import utcnow

    now = utcnow()
    call(app, waitlist.claim_offer, family.id, entry["id"], now=now)
    result = call(app, service.start_checkout, family.id)
    later = now + timedelta(hours=2)
    assert call(app, basket.expire_basket, result.basket_id, later) is True
    assert offers_of(app, family)[0][:3] == ("lapsed", "lapsed", "expired")
    # Nobody else waits: the place is still free when the payment lands, so the late rule re-takes it.
    outcome = call(app, service.fulfil, result.payment_id, source="test", now=later + timedelta(minutes=1))
    assert outcome.outcome == "late_confirmed"
    assert offers_of(app, family)[0][:3] == ("accepted", "accepted", "confirmed")
    assert entries(app, family)[0]["status"] == "accepted"
    assert live_count(app, catalog.week_ids[0], now=later) == 2


def test_a_refused_payment_frees_its_place_for_the_list_when_its_hold_ends(app, factory, full_week):
    """A refused card keeps the hold (the family may try again, DESIGN §3.4); the place reaches the
    list the moment that hold ends, through the basket's expiry."""
    from app.models import Basket, Payment, db, utcnow
    from app.services import payments as service
    from app.services.booking import basket

    catalog, holders, lines = full_week
    family = factory.household()
    join(app, family, catalog.week_ids[0])
    result = call(app, service.start_checkout, holders[0].id)
    with app.app_context():
        token = db.session.get(Payment, result.payment_id).provider_ref
    assert call(app, service.sandbox_complete, token, "refuse").status == "failed"
    assert offers_of(app, family) == []  # refused, but the hold still runs
    with app.app_context():
        expires_at = db.session.get(Basket, result.basket_id).expires_at
    assert expires_at > utcnow()
    assert call(app, basket.expire_basket, result.basket_id, expires_at + timedelta(seconds=1)) is True
    assert offers_of(app, family)[0][:3] == ("offered", "pending", "held")


def test_an_offer_waits_for_a_basket_in_progress(app, factory, full_week):
    from app.services.booking import basket, waitlist

    catalog, holders, lines = full_week
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    entry = join(app, family, catalog.week_ids[0])
    add(app, family.id, family.child_ids[1], catalog.week_ids[1])  # another basket running
    call(app, basket.remove_line, holders[0].id, lines[0])
    with pytest.raises(Conflict) as caught:
        call(app, waitlist.claim_offer, family.id, entry["id"])
    assert caught.value.code == "basket_not_empty"


# --- staff ---------------------------------------------------------------------------------

def test_staff_manual_offer_and_removal_are_audited_with_their_reason(app, factory, full_week):
    from flask_appbuilder.security.sqla.models import User

    from app.models import AuditLog, Week, db
    from app.services.booking import waitlist

    catalog, _holders, _lines = full_week
    first, second = factory.household(), factory.household()
    a = join(app, first, catalog.week_ids[0])
    b = join(app, second, catalog.week_ids[0])
    staff = factory.staff()
    with app.app_context():
        actor = db.session.get(User, staff.id)
        with pytest.raises(Conflict) as caught:  # no place free: never past capacity
            waitlist.manual_offer(b["id"], actor=actor, reason="Fratrie")
        assert caught.value.code == "full"
        # Inside the cut-off, say: staff add a place by hand and give it to the second family.
        week = db.session.get(Week, catalog.week_ids[0])
        week.capacity = 3
        db.session.commit()
        waitlist.remove_entry(a["id"], actor=actor, reason="Désistement par téléphone")
    # Removing the first entry moves the list: the place staff added goes to the next family.
    assert offers_of(app, second)[0][:2] == ("offered", "pending")
    with app.app_context():
        actions = [(row.action, row.actor_id) for row in db.session.execute(
            select(AuditLog).where(AuditLog.entity == "waitlist_entry").order_by(AuditLog.id)).scalars()]
    assert ("waitlist.withdrawn", staff.id) in actions or ("waitlist.offer_withdrawn", staff.id) in actions
    queue = call(app, waitlist.week_queue, catalog.week_ids[0])
    assert [e["status"] for e in queue["entries"]] == ["withdrawn", "offered"]
    assert queue["entries"][0]["end_reason"] == "Désistement par téléphone"
    counts = call(app, waitlist.waiting_counts, catalog.week_ids)
    assert counts[catalog.week_ids[0]] == {"waiting": 0, "offered": 1}
    # Lazy like holds: past its deadline the offer is no longer counted, before any job runs.
    later = offers_of(app, second)[0][3] + timedelta(seconds=1)
    assert call(app, waitlist.waiting_counts, catalog.week_ids, later)[catalog.week_ids[0]] == \
        {"waiting": 0, "offered": 0}


def test_staff_moving_a_child_out_of_a_full_week_offers_the_place(app, factory, full_week):
    from flask_appbuilder.security.sqla.models import User

    from app.models import db
    from app.services.operations import desk

    catalog, holders, lines = full_week
    family = factory.household()
    join(app, family, catalog.week_ids[0])
    staff = factory.staff()
    with app.app_context():
        desk.move_reservation(lines[1], week_id=catalog.week_ids[1], actor=db.session.get(User, staff.id))
    assert [o[:2] for o in offers_of(app, family)] == [("offered", "pending")]
    assert live_count(app, catalog.week_ids[0]) == 2


def test_demo_has_a_full_week_with_three_families_waiting(app):
    from app.models import Week, db
    from app.services.booking import waitlist
    from app.services.booking.capacity import week_usage
    from app.services.demo import seed_demo, seed_waiting_list_demo

    with app.app_context():
        seed_demo(app.appbuilder)
        seed_waiting_list_demo(app.appbuilder)
        seed_waiting_list_demo(app.appbuilder)  # idempotent
        week = db.session.execute(select(Week).where(Week.capacity == 2)).scalar_one()
        assert week_usage([week.id])[week.id] == 2
        queue = waitlist.week_queue(week.id)["entries"]
        assert [(e["position"], e["child"]["first_name"]) for e in queue] == [(1, "Nathan"), (2, "Chloé"),
                                                                             (3, "Hugo")]
