"""The waiting list's cascade: a freed place becomes an offer to the first entry it can serve.

Why a module of its own: every release point (a hold lapsing, a line removed, a payment refused, a
cancellation, a staff move or a capacity raised) calls `offer_freed_places()` inside its own
transaction, including the basket module; keeping the cascade apart from the parent-facing
waiting-list functions (`waitlist.py`, which uses the basket) keeps the imports one-way.

The rules (DESIGN.md §3.8):
- An offer is an ordinary held `Reservation` in a basket of its own (status `offer`) whose
  `hold_expires_at` is the offer's deadline, so every capacity count includes it while it is live
  and forgets it the instant the deadline passes, whatever the jobs do.
- The week rows are locked (stable id order) before anything is counted or offered: two releases
  racing for one place are serialised, and the second one finds the place already offered.
- First come, first served by joining time; an entry the freed place cannot serve (it needs a bus
  seat that is not free) is skipped, never blocking the rest of the list.
- An offer whose deadline passed, or that was declined, is settled here first, so the place it held
  passes on in the same transaction. Every step re-reads the database and is idempotent.
- No automatic offer after the period's cut-off before the week starts (staff may still offer by
  hand); waiting entries close when the week starts.
"""
from __future__ import annotations

import logging
from datetime import datetime, time, timedelta, timezone
from typing import Iterable

from flask_babel import gettext as _
from sqlalchemy import or_, select, update

from app.models import (
    Basket,
    BasketStatus,
    Circuit,
    Household,
    HouseholdChild,
    OfferOutcome,
    Period,
    Reservation,
    ReservationStatus,
    Stop,
    TransportMode,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistSettings,
    WaitlistStatus,
    WaitlistTransport,
    Week,
    db,
    utcnow,
)
from app.services import audit
from app.services.booking.capacity import circuit_usage, live_condition, lock_weeks, week_usage
from app.services.booking.eligibility import PARIS, paris_datetime, person_reason
from app.services.booking.pricing import price_line
from app.services.errors import ServiceError

log = logging.getLogger(__name__)

# Jobs are named by dotted path: services never import app.jobs (DESIGN §4).
LAPSE_OFFER_JOB = "app.jobs.waitlist.lapse_offer_job"

DEFAULT_OFFER_HOURS = 24
DEFAULT_CUTOFF_DAYS = 2


# --- the period's rules ----------------------------------------------------------------------

def period_settings(period_id: int) -> tuple[int, int]:
    """(offer hours, cut-off days) of a period: its row, else the defaults."""
    row = db.session.get(WaitlistSettings, period_id)
    if row is None:
        return DEFAULT_OFFER_HOURS, DEFAULT_CUTOFF_DAYS
    return row.offer_hours, row.cutoff_days


def week_start(week: Week) -> datetime:
    """The week's first day at midnight, Paris time: no offer may outlive it."""
    return datetime.combine(week.starts_on, time(0, 0), tzinfo=PARIS).astimezone(timezone.utc)


def cutoff_at(week: Week, cutoff_days: int) -> datetime:
    return week_start(week) - timedelta(days=cutoff_days)


def offer_deadline(week: Week, offer_hours: int, now: datetime) -> datetime:
    return min(now + timedelta(hours=offer_hours), week_start(week))


# --- settling offers that ended --------------------------------------------------------------

def _settle(week_ids: list[int], now: datetime) -> list[int]:
    """Close the pending offers of these weeks that ended: paid (accepted), deadline passed (lapsed),
    line taken out of the basket (declined). Returns the entries settled. Called with the weeks locked."""
    rows = db.session.execute(
        select(WaitlistOffer, WaitlistEntry, Reservation)
        .join(WaitlistEntry, WaitlistEntry.id == WaitlistOffer.entry_id)
        .outerjoin(Reservation, Reservation.id == WaitlistOffer.reservation_id)
        .where(WaitlistEntry.week_id.in_(week_ids), WaitlistOffer.outcome == OfferOutcome.PENDING)
        .order_by(WaitlistOffer.id)
        .execution_options(populate_existing=True)
    ).all()
    settled = []
    for offer, entry, line in rows:
        if line is not None and line.status == ReservationStatus.CONFIRMED:
            outcome, status = OfferOutcome.ACCEPTED, WaitlistStatus.ACCEPTED
        elif line is not None and line.status == ReservationStatus.HELD and line.hold_expires_at > now:
            continue  # still running
        elif line is not None and line.status == ReservationStatus.REMOVED:
            outcome, status = OfferOutcome.DECLINED, WaitlistStatus.WITHDRAWN
        else:
            outcome, status = OfferOutcome.LAPSED, WaitlistStatus.LAPSED
            if line is not None and line.status == ReservationStatus.HELD:
                _end_offer_line(line, ReservationStatus.EXPIRED, now)
        _close_offer(offer, entry, outcome, status, now)
        settled.append(entry.id)
    return settled


def _end_offer_line(line: Reservation, status: str, now: datetime) -> None:
    """End the held line of an offer that was never claimed (its basket is the offer's own). A
    claimed offer's line is the household's basket's: the basket's expiry ends it."""
    basket = db.session.execute(
        select(Basket).where(Basket.id == line.basket_id).with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    if basket.status != BasketStatus.OFFER:
        return
    line.status = status
    line.ended_at = now
    basket.status = BasketStatus.EXPIRED if status == ReservationStatus.EXPIRED else BasketStatus.CANCELLED
    basket.expired_at = now
    audit.record(f"reservation.{status}", "reservation", line.id, household_id=line.household_id,
                 before={"status": ReservationStatus.HELD}, after={"status": status, "waitlist_offer": True})


def _close_offer(offer: WaitlistOffer, entry: WaitlistEntry, outcome: str, status: str, now: datetime, *,
                 actor=None, reason: str | None = None) -> None:
    before = {"status": entry.status, "offer_outcome": offer.outcome}
    offer.outcome = outcome
    offer.ended_at = now
    entry.status = status
    if status != WaitlistStatus.OFFERED:
        entry.ended_at = now
        entry.end_reason = reason or entry.end_reason
    audit.record(f"waitlist.offer_{outcome}", "waitlist_entry", entry.id, actor=actor,
                 household_id=entry.household_id, before=before,
                 after={"status": status, "offer_id": offer.id, "offer_outcome": outcome, "reason": reason})


def record_accepted(reservation_ids: Iterable[int], now: datetime) -> list[int]:
    """Fulfilment has just confirmed these lines: the offers they were made for are accepted in the
    same transaction (not at the list's next step), so the entry, the pages and the API say
    « accepted » the moment the place is paid. An offer already marked lapsed whose line a late
    payment re-took is accepted too: the child has the place. Returns the entries accepted."""
    ids = sorted({reservation_id for reservation_id in reservation_ids if reservation_id})
    if not ids:
        return []
    rows = db.session.execute(
        select(WaitlistOffer, WaitlistEntry).join(WaitlistEntry, WaitlistEntry.id == WaitlistOffer.entry_id)
        .where(WaitlistOffer.reservation_id.in_(ids),
               WaitlistOffer.outcome.in_((OfferOutcome.PENDING, OfferOutcome.LAPSED)))
        .order_by(WaitlistOffer.id).execution_options(populate_existing=True)
    ).all()
    for offer, entry in rows:
        _close_offer(offer, entry, OfferOutcome.ACCEPTED, WaitlistStatus.ACCEPTED, now)
    return [entry.id for _offer, entry in rows]


def end_offer(offer: WaitlistOffer, entry: WaitlistEntry, outcome: str, status: str, now: datetime, *,
              actor=None, reason: str | None = None) -> None:
    """Decline or withdraw a running offer (parent or staff): its line is released at once."""
    line = db.session.get(Reservation, offer.reservation_id) if offer.reservation_id else None
    if line is not None and line.status == ReservationStatus.HELD:
        basket = db.session.execute(
            select(Basket).where(Basket.id == line.basket_id).with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()
        if basket.status == BasketStatus.CHECKOUT:
            from app.services.errors import Conflict

            raise Conflict(_("Un paiement est en cours pour cette place : terminez-le ou annulez-le d'abord."),
                           code="basket_in_checkout")
        line.status = ReservationStatus.REMOVED
        line.ended_at = now
        audit.record("reservation.removed", "reservation", line.id, actor=actor, household_id=line.household_id,
                     before={"status": ReservationStatus.HELD},
                     after={"status": ReservationStatus.REMOVED, "waitlist_offer": True})
        if basket.status == BasketStatus.OFFER or not db.session.execute(
                select(Reservation.id).where(Reservation.basket_id == basket.id,
                                             Reservation.status == ReservationStatus.HELD).limit(1)).first():
            basket.status = BasketStatus.CANCELLED
            basket.expired_at = now
    _close_offer(offer, entry, outcome, status, now, actor=actor, reason=reason)


# --- making offers ---------------------------------------------------------------------------

def offer_freed_places(week_ids: Iterable[int], now: datetime | None = None, *,
                       offer_hours: int | None = None, skip_entry_ids: Iterable[int] = ()) -> list[int]:
    """Offer every free place of these weeks to the waiting list. Runs inside the caller's
    transaction (the caller commits); returns the ids of the offers made. Idempotent: with no place
    free, or nobody waiting, it only settles what ended. `offer_hours` overrides the period's
    waiting-list setting (a published wish allocation gives the period's own `offer_hours`).
    `skip_entry_ids` stay waiting but get no offer this time (a wish allocation's refused « ensemble »
    group: one place must not split it)."""
    ids = sorted({week_id for week_id in week_ids if week_id})
    if not ids:
        return []
    now = now or utcnow()
    has_queue = db.session.execute(
        select(WaitlistEntry.id).where(WaitlistEntry.week_id.in_(ids),
                                       WaitlistEntry.status.in_(WaitlistStatus.ACTIVE)).limit(1)
    ).first()
    if has_queue is None:
        return []  # the common case costs one indexed query and takes no lock
    weeks = lock_weeks(ids)
    _settle(ids, now)
    made: list[int] = []
    skip = frozenset(skip_entry_ids)
    for week_id in ids:
        week = weeks.get(week_id)
        if week is not None:
            made.extend(_offer_week(week, now, offer_hours, skip))
    return made


def _queue(week_id: int) -> list[WaitlistEntry]:
    return list(db.session.execute(
        select(WaitlistEntry).where(WaitlistEntry.week_id == week_id, WaitlistEntry.status == WaitlistStatus.WAITING)
        .order_by(WaitlistEntry.joined_at, WaitlistEntry.id).execution_options(populate_existing=True)
    ).scalars().all())


def _offer_week(week: Week, now: datetime, hours: int | None = None, skip: frozenset[int] = frozenset()) -> list[int]:
    queue = [entry for entry in _queue(week.id) if entry.id not in skip]
    if not queue:
        return []
    offer_hours, cutoff_days = period_settings(week.period_id)
    offer_hours = hours if hours is not None else offer_hours
    if now >= week_start(week):
        for entry in queue:
            _close_entry(entry, now, _("La semaine a commencé : plus de proposition possible."))
        return []
    if now >= cutoff_at(week, cutoff_days):
        return []  # no automatic offer so close to the start; staff may still offer by hand
    free = week.capacity - week_usage([week.id], now)[week.id]
    if free <= 0:
        return []
    stops = _stops({entry.stop_id for entry in queue if entry.stop_id})
    seats = circuit_usage([(c.id, week.id) for _s, c in stops.values()], now)
    deadline = offer_deadline(week, offer_hours, now)
    made = []
    for entry in queue:
        if free <= 0:
            break
        mode, circuit, stop = _transport_for(entry, stops, seats, week.id)
        if mode is None:
            continue  # needs a seat the freed place does not bring: skipped, the list goes on
        offer = _make_offer(entry, week, mode, circuit, stop, deadline, now)
        if offer is None:
            continue
        made.append(offer.id)
        free -= 1
        if circuit is not None:
            seats[(circuit.id, week.id)] += 1
    return made


def _stops(stop_ids: set[int]) -> dict[int, tuple[Stop, Circuit]]:
    if not stop_ids:
        return {}
    rows = db.session.execute(
        select(Stop, Circuit).join(Circuit, Circuit.id == Stop.circuit_id).where(Stop.id.in_(stop_ids))
    ).all()
    return {stop.id: (stop, circuit) for stop, circuit in rows}


def _transport_for(entry: WaitlistEntry, stops: dict, seats: dict, week_id: int):
    """What the free place can give this entry: (mode, circuit, stop), or (None, None, None)."""
    if entry.transport_mode == WaitlistTransport.ONSITE:
        return TransportMode.ONSITE, None, None
    pair = stops.get(entry.stop_id) if entry.stop_id else None
    if pair is not None:
        stop, circuit = pair
        if seats.get((circuit.id, week_id), 0) < circuit.seats:
            return TransportMode.BUS, circuit, stop
    if entry.transport_mode == WaitlistTransport.ANY:
        return TransportMode.ONSITE, None, None
    return None, None, None


def _close_entry(entry: WaitlistEntry, now: datetime, reason: str, *, actor=None,
                 status: str = WaitlistStatus.CLOSED) -> None:
    before = entry.status
    entry.status = status
    entry.ended_at = now
    entry.end_reason = reason
    audit.record(f"waitlist.{status}", "waitlist_entry", entry.id, actor=actor, household_id=entry.household_id,
                 before={"status": before}, after={"status": status, "reason": reason})


def _make_offer(entry: WaitlistEntry, week: Week, mode: str, circuit: Circuit | None, stop: Stop | None,
                deadline: datetime, now: datetime, *, actor=None, reason: str | None = None,
                mail: str = "waitlist_offer") -> WaitlistOffer | None:
    """Hold the place for the entry's child in an offer basket. None (entry left waiting, or closed when
    the child got booked meanwhile) when the family cannot take it now."""
    row = db.session.execute(
        select(Household, HouseholdChild)
        .join(HouseholdChild, HouseholdChild.household_id == Household.id)
        .where(Household.id == entry.household_id, HouseholdChild.child_id == entry.child_id)
    ).first()
    if row is None:
        _close_entry(entry, now, _("L'enfant n'est plus rattaché à ce dossier."))
        return None
    household, link = row
    if person_reason(household, link, entry.child) is not None:
        return None  # the file is back in review: the family keeps its rank, the place goes on
    booked = db.session.execute(
        select(Reservation.id).where(Reservation.child_id == entry.child_id, Reservation.week_id == week.id,
                                     live_condition(now)).limit(1)
    ).first()
    if booked is not None:
        _close_entry(entry, now, _("L'enfant est déjà inscrit pour cette semaine."))
        return None
    period = db.session.get(Period, week.period_id)
    try:
        price = price_line(household, period, mode, week)
    except ServiceError:
        return None
    # A lapsed hold of this child × week still says "held" until its job runs; the unique index
    # covers "held": end it here, as add_line does.
    db.session.execute(
        update(Reservation)
        .where(Reservation.child_id == entry.child_id, Reservation.week_id == week.id,
               Reservation.status == ReservationStatus.HELD, Reservation.hold_expires_at <= now)
        .values(status=ReservationStatus.EXPIRED, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    basket = Basket(household_id=household.id, status=BasketStatus.OFFER, created_at=now, expires_at=deadline,
                    created_by_id=getattr(actor, "id", None))
    db.session.add(basket)
    db.session.flush()
    line = Reservation(basket_id=basket.id, household_id=household.id, child_id=entry.child_id, week_id=week.id,
                       status=ReservationStatus.HELD, transport_mode=mode,
                       circuit_id=circuit.id if circuit else None, stop_id=stop.id if stop else None,
                       price_cents=price.price_cents, bus_price_cents=price.bus_price_cents,
                       hold_expires_at=deadline, created_at=now)
    db.session.add(line)
    db.session.flush()
    offer = WaitlistOffer(entry_id=entry.id, reservation_id=line.id, basket_id=basket.id, made_at=now,
                          expires_at=deadline, outcome=OfferOutcome.PENDING, manual=actor is not None,
                          actor_id=getattr(actor, "id", None), reason=reason)
    db.session.add(offer)
    entry.status = WaitlistStatus.OFFERED
    db.session.flush()
    audit.record("reservation.held", "reservation", line.id, actor=actor, household_id=household.id,
                 after={"basket_id": basket.id, "child_id": entry.child_id, "week_id": week.id, "transport_mode": mode,
                        "stop_id": line.stop_id, "hold_expires_at": deadline, "waitlist_offer": offer.id})
    audit.record("waitlist.offered", "waitlist_entry", entry.id, actor=actor, household_id=household.id,
                 before={"status": WaitlistStatus.WAITING},
                 after={"status": WaitlistStatus.OFFERED, "offer_id": offer.id, "expires_at": deadline,
                        "manual": offer.manual, "reason": reason})
    _mail_offer(household, entry, week, period, line, deadline, offer, mail)
    _schedule_lapse(offer)
    return offer


def _mail_offer(household: Household, entry: WaitlistEntry, week: Week, period: Period, line: Reservation,
                deadline: datetime, offer: WaitlistOffer, kind: str = "waitlist_offer") -> None:
    from app.services.localize import euros
    from app.services.mail import public_url, queue_mail

    to = household.email or (household.owner.email if household.owner else None)
    if not to:
        log.warning("waitlist offer %s: household %s has no e-mail address", offer.id, household.id)
        return
    if kind == "allocation_offer":  # a wish given by the allocation: not « a place was freed »
        subject = _("Place attribuée à %(name)s : %(week)s", name=entry.child.first_name, week=week.label)
    else:
        subject = _("Une place s'est libérée pour %(name)s", name=entry.child.first_name)
    queue_mail(kind, to, subject,
               kind, household_id=household.id, dedupe_key=f"waitlist-offer-{offer.id}",
               household_name=household.name, child=entry.child.first_name, week=week.label,
               establishment=period.establishment.name, period=period.name,
               transport=(line.stop.name if line.stop_id and line.stop else _("accueil sur site")),
               total=euros(line.total_cents), deadline=paris_datetime(deadline),
               pay_url=public_url(f"/famille/liste-attente/{entry.id}"),
               explain_url=public_url(f"/famille/attribution/{period.id}"))


def _schedule_lapse(offer: WaitlistOffer) -> None:
    """The offer's lapse, at its deadline (rounded up to the second), after the commit; the sweeper
    catches it if the job is lost. Never raises."""
    from app.services.tasks import defer

    at = offer.expires_at.replace(microsecond=0) + timedelta(seconds=1)
    defer(db.session, LAPSE_OFFER_JOB, offer.id, job_id=f"lapse-offer-{offer.id}", at=at, unique=True)


def create_offer(entry: WaitlistEntry, week: Week, mode: str, circuit: Circuit | None, stop: Stop | None,
                 deadline: datetime, now: datetime) -> WaitlistOffer | None:
    """An offer for a place the caller has already counted under the week lock (a published wish
    allocation): the same held line and lapse job as the cascade's, its own mail (« place attribuée »)."""
    return _make_offer(entry, week, mode, circuit, stop, deadline, now, mail="allocation_offer")


def make_manual_offer(entry: WaitlistEntry, now: datetime, *, actor, reason: str) -> WaitlistOffer | None:
    """Staff's offer to a given entry, out of order and past the cut-off, never past capacity.
    Called with the week locked."""
    from app.services.errors import Conflict

    week = db.session.get(Week, entry.week_id)
    offer_hours, _cutoff = period_settings(week.period_id)
    if week.capacity - week_usage([week.id], now)[week.id] <= 0:
        raise Conflict(_("Aucune place n'est libre cette semaine : augmentez la capacité ou attendez un "
                         "désistement."), code="full")
    stops = _stops({entry.stop_id} if entry.stop_id else set())
    seats = circuit_usage([(c.id, week.id) for _s, c in stops.values()], now)
    mode, circuit, stop = _transport_for(entry, stops, seats, week.id)
    if mode is None:
        raise Conflict(_("Plus de place dans le bus pour l'arrêt demandé cette semaine."), code="full")
    offer = _make_offer(entry, week, mode, circuit, stop, offer_deadline(week, offer_hours, now), now,
                        actor=actor, reason=reason)
    if offer is None:
        raise Conflict(_("Cette famille ne peut pas recevoir de proposition (dossier à revoir ou enfant déjà "
                         "inscrit)."), code="not_eligible")
    return offer


# --- the sweeper -----------------------------------------------------------------------------

def weeks_to_settle(now: datetime, limit: int = 500) -> list[int]:
    """Weeks whose list may need a step: a pending offer whose deadline passed or whose line ended,
    or waiting entries (a place freed by a lost hook, a cut-off reached)."""
    pending = select(WaitlistEntry.week_id).join(WaitlistOffer, WaitlistOffer.entry_id == WaitlistEntry.id).where(
        WaitlistOffer.outcome == OfferOutcome.PENDING,
        or_(WaitlistOffer.expires_at <= now,
            WaitlistOffer.reservation_id.in_(select(Reservation.id).where(
                Reservation.status != ReservationStatus.HELD))))
    waiting = select(WaitlistEntry.week_id).where(WaitlistEntry.status == WaitlistStatus.WAITING)
    rows = db.session.execute(pending.union(waiting).limit(limit)).scalars().all()
    return sorted(set(rows))


def week_ids_of_offer(offer_id: int) -> list[int]:
    row = db.session.execute(
        select(WaitlistEntry.week_id).join(WaitlistOffer, WaitlistOffer.entry_id == WaitlistEntry.id)
        .where(WaitlistOffer.id == offer_id)
    ).scalar_one_or_none()
    return [row] if row else []

