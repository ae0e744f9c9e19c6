"""The waiting list as people read it: a family's entries with rank and running offer, a week's
whole list for staff (with offers and outcomes), counts for the occupancy screen.

Statuses are read lazily, like holds (DESIGN §3.3): an offer whose deadline passed shows as lapsed,
a paid one as accepted, even before the job or the sweeper records it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import joinedload

from app.models import (
    BasketStatus,
    LinkStatus,
    OfferOutcome,
    Period,
    Reservation,
    ReservationStatus,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
    WaitlistTransport,
    Week,
    db,
    utcnow,
)
from app.models.types import parse_id
from app.services.booking import eligibility
from app.services.booking.eligibility import FULL, paris_datetime
from app.services.booking.waitlist_offers import cutoff_at, period_settings
from app.services.errors import NotFound

TRANSPORT_LABELS = {WaitlistTransport.BUS: "bus", WaitlistTransport.ONSITE: "sur place",
                    WaitlistTransport.ANY: "bus ou sur place"}




def display_status(entry: WaitlistEntry, offer: WaitlistOffer | None, now: datetime) -> str:
    """The status as it is at `now` (lazy, like holds): an offer past its deadline is lapsed already,
    a paid one accepted, even before the job records it."""
    if entry.status == WaitlistStatus.OFFERED and offer is not None:
        line = offer.reservation
        if line is not None and line.status == ReservationStatus.CONFIRMED:
            return WaitlistStatus.ACCEPTED
        if offer.expires_at <= now or line is None or line.status != ReservationStatus.HELD:
            return WaitlistStatus.LAPSED
    return entry.status


def _entry_dict(entry: WaitlistEntry, now: datetime, positions: dict[int, int]) -> dict:
    offer = entry.offers[-1] if entry.offers else None
    status = display_status(entry, offer, now)
    running = offer if (offer is not None and offer.outcome == OfferOutcome.PENDING
                        and status == WaitlistStatus.OFFERED) else None
    week, period = entry.week, entry.week.period
    line = running.reservation if running else None
    return {
        "id": entry.id, "status": status, "position": positions.get(entry.id),
        "child": {"id": entry.child.id, "first_name": entry.child.first_name},
        "week": {"id": week.id, "label": week.label, "starts_on": week.starts_on.isoformat()},
        "period": {"id": period.id, "name": period.name},
        "establishment": {"id": period.establishment.id, "name": period.establishment.name},
        "transport": {"mode": entry.transport_mode, "label": TRANSPORT_LABELS[entry.transport_mode],
                      "stop": entry.stop.name if entry.stop else None},
        "joined_at": entry.joined_at.isoformat(),
        "offer_expires_at": running.expires_at.isoformat() if running else None,
        "offer_expires_label": paris_datetime(running.expires_at) if running else None,
        "offer_claimed": bool(running and running.basket and running.basket.status in BasketStatus.ACTIVE),
        "offer_total_cents": line.total_cents if line else None,
        "offer_transport": (line.stop.name if line and line.stop else _("sur place")) if line else None,
    }


def _positions(week_ids: set[int]) -> dict[int, int]:
    if not week_ids:
        return {}
    rows = db.session.execute(
        select(WaitlistEntry.id, WaitlistEntry.week_id).where(
            WaitlistEntry.week_id.in_(week_ids), WaitlistEntry.status == WaitlistStatus.WAITING)
        .order_by(WaitlistEntry.week_id, WaitlistEntry.joined_at, WaitlistEntry.id)
    ).all()
    positions: dict[int, int] = {}
    counters: dict[int, int] = {}
    for entry_id, week_id in rows:
        counters[week_id] = counters.get(week_id, 0) + 1
        positions[entry_id] = counters[week_id]
    return positions


def _load_options():
    return (joinedload(WaitlistEntry.child), joinedload(WaitlistEntry.stop),
            joinedload(WaitlistEntry.week).joinedload(Week.period).joinedload(Period.establishment))


def household_entries(household_id: int, *, active_only: bool = False, now: datetime | None = None) -> list[dict]:
    """The household's entries, newest weeks first, with rank, status and any running offer."""
    now = now or utcnow()
    query = select(WaitlistEntry).join(Week, Week.id == WaitlistEntry.week_id).where(
        WaitlistEntry.household_id == household_id)
    if active_only:
        query = query.where(WaitlistEntry.status.in_(WaitlistStatus.ACTIVE))
    entries = db.session.execute(
        query.options(*_load_options()).order_by(Week.starts_on, WaitlistEntry.id)
    ).unique().scalars().all()
    positions = _positions({e.week_id for e in entries})
    return [_entry_dict(entry, now, positions) for entry in entries]


def household_offers(household_id: int, now: datetime | None = None) -> list[dict]:
    """The running offers of the household (for « Accueil », « Mon panier » and the API's basket)."""
    return [item for item in household_entries(household_id, active_only=True, now=now)
            if item["status"] == WaitlistStatus.OFFERED]


def week_queue(week_id: int, now: datetime | None = None) -> dict:
    """Staff's view of one week's list: everyone who ever joined, in order, with offers and outcomes."""
    now = now or utcnow()
    week = db.session.get(Week, parse_id(week_id) or 0)
    if week is None:
        raise NotFound(_("Semaine introuvable."), code="not_found")
    entries = db.session.execute(
        select(WaitlistEntry).where(WaitlistEntry.week_id == week.id)
        .options(*_load_options(), joinedload(WaitlistEntry.household),
                 joinedload(WaitlistEntry.offers).joinedload(WaitlistOffer.reservation))
        .order_by(WaitlistEntry.joined_at, WaitlistEntry.id)
    ).unique().scalars().all()
    positions = _positions({week.id})
    rows = []
    for entry in entries:
        item = _entry_dict(entry, now, positions)
        item["household"] = {"id": entry.household.id, "name": entry.household.name}
        item["child"]["last_name"] = entry.child.last_name
        item["end_reason"] = entry.end_reason
        item["joined_label"] = paris_datetime(entry.joined_at)
        item["offers"] = [{"id": o.id, "made_at": o.made_at, "expires_at": o.expires_at, "outcome": o.outcome,
                           "manual": o.manual, "reason": o.reason} for o in entry.offers]
        rows.append(item)
    return {"week": week, "entries": rows}


def waiting_counts(week_ids, now: datetime | None = None) -> dict[int, dict[str, int]]:
    """Per week: how many entries wait, and how many hold a live offer (the occupancy screens).
    Lazy like holds: an offer past its deadline is no longer counted, whatever the jobs did. One query."""
    now = now or utcnow()
    ids = sorted(set(week_ids))
    counts = {week_id: {"waiting": 0, "offered": 0} for week_id in ids}
    if not ids:
        return counts
    live_offer = and_(WaitlistEntry.status == WaitlistStatus.OFFERED, Reservation.status == ReservationStatus.HELD,
                      Reservation.hold_expires_at > now)
    rows = db.session.execute(
        select(WaitlistEntry.week_id,
               func.sum(case((WaitlistEntry.status == WaitlistStatus.WAITING, 1), else_=0)),
               func.sum(case((live_offer, 1), else_=0)))
        .outerjoin(WaitlistOffer, and_(WaitlistOffer.entry_id == WaitlistEntry.id,
                                       WaitlistOffer.outcome == OfferOutcome.PENDING))
        .outerjoin(Reservation, Reservation.id == WaitlistOffer.reservation_id)
        .where(WaitlistEntry.week_id.in_(ids), WaitlistEntry.status.in_(WaitlistStatus.ACTIVE))
        .group_by(WaitlistEntry.week_id)
    ).all()
    for week_id, waiting, offered in rows:
        counts[week_id] = {"waiting": int(waiting or 0), "offered": int(offered or 0)}
    return counts


QUEUE_CSV_HEADER = ("Rang", "Enfant", "Foyer", "Transport", "Arrêt", "Inscrit le", "Statut", "Propositions")


def queue_rows(week_id: Any, now: datetime | None = None) -> list[tuple]:
    """The week's list as rows for the staff CSV (the view writes them with operations' CSV rules)."""
    data = week_queue(week_id, now)
    rows = []
    for item in data["entries"]:
        offers = " | ".join(f"{paris_datetime(o['made_at'])} → {o['outcome']}" for o in item["offers"])
        rows.append((item["position"] or "", f"{item['child']['first_name']} {item['child']['last_name']}",
                     item["household"]["name"], item["transport"]["label"], item["transport"]["stop"] or "",
                     paris_datetime(datetime.fromisoformat(item["joined_at"])), item["status"], offers))
    return rows


def period_overview(period_id: Any, now: datetime | None = None) -> dict:
    """Staff's occupancy with the lists: per week capacity, places taken (offers included), waiting
    and offered entries; and the period's offer rules."""
    from app.services.booking.capacity import week_usage

    now = now or utcnow()
    period = db.session.get(Period, parse_id(period_id) or 0)
    if period is None:
        raise NotFound(_("Période introuvable."), code="not_found")
    weeks = list(period.weeks)
    usage = week_usage([w.id for w in weeks], now)
    counts = waiting_counts([w.id for w in weeks], now)
    offer_hours, cutoff_days = period_settings(period.id)
    return {"period": period, "offer_hours": offer_hours, "cutoff_days": cutoff_days,
            "weeks": [{"week": w, "capacity": w.capacity, "taken": usage.get(w.id, 0),
                       "waiting": counts[w.id]["waiting"], "offered": counts[w.id]["offered"]} for w in weeks]}


def child_week_states(household_id: int, child_id: int, weeks: list[Week], now: datetime | None = None) -> dict:
    """For the booking page's weeks of one child: the child's active entry per week, whichever
    household made it (« déjà sur liste d'attente »; only the household's own entry is linked, with
    its rank or running offer), and the weeks whose list still takes newcomers (before the cut-off).
    The caller has already checked the child is the household's (`eligibility.offers`)."""
    now = now or utcnow()
    ids = {week.id for week in weeks}
    entries = db.session.execute(
        select(WaitlistEntry).where(WaitlistEntry.child_id == child_id, WaitlistEntry.week_id.in_(ids or {0}),
                                    WaitlistEntry.status.in_(WaitlistStatus.ACTIVE))
    ).scalars().all()
    positions = _positions({entry.week_id for entry in entries})
    states = {}
    for entry in entries:
        own = entry.household_id == household_id
        offer = entry.offers[-1] if entry.offers else None
        states[entry.week_id] = {"own": own, "entry_id": entry.id if own else None,
                                 "status": display_status(entry, offer, now) if own else entry.status,
                                 "position": positions.get(entry.id) if own else None}
    settings = {period_id: period_settings(period_id)[1] for period_id in {week.period_id for week in weeks}}
    open_weeks = {week.id for week in weeks if now < cutoff_at(week, settings[week.period_id])}
    return {"entries": states, "open": open_weeks}


def joinable_weeks(household_id: int, waiting: set[tuple[int, int]]) -> list[dict]:
    """Per child, the weeks that are full (or whose bus is full) and that the child could book
    otherwise, with the transport choices that make sense for each. A week the child already waits
    for through its other household is listed with `waiting_elsewhere` (« déjà sur liste d'attente »)."""
    result = []
    children = [(link, child) for link, child in eligibility.household_children(household_id)
                if link.status == LinkStatus.VALIDATED]
    elsewhere = set(db.session.execute(
        select(WaitlistEntry.child_id, WaitlistEntry.week_id).where(
            WaitlistEntry.child_id.in_([child.id for _link, child in children] or [0]),
            WaitlistEntry.household_id != household_id, WaitlistEntry.status.in_(WaitlistStatus.ACTIVE))
    ).tuples().all())
    for _link, child in children:
        offers = eligibility.offers(household_id, child.id)
        weeks = []
        for establishment in offers.establishments:
            for period in establishment.periods:
                for week in period.weeks:
                    if (child.id, week.week.id) in waiting:
                        continue
                    week_full = week.reason is not None and week.reason.code == FULL
                    full_circuits = [c for c in period.circuits if c.seats_left.get(week.week.id, 0) <= 0]
                    if not week_full and not (week.available and full_circuits):
                        continue
                    circuits = period.circuits if week_full else full_circuits
                    weeks.append({"week": week.week, "period": period.period,
                                  "establishment": establishment.establishment, "week_full": week_full,
                                  "circuits": [c.circuit for c in circuits],
                                  "waiting_elsewhere": (child.id, week.week.id) in elsewhere})
        if weeks:
            result.append({"child": child, "weeks": weeks})
    return result
