"""The waiting list: join a full week, see one's rank, leave; take an offer to payment; staff's hand.

Joining follows the booking rule (`eligibility.check_week`): only a week the child could book but for
its fullness (or a full bus at the chosen stop) can be waited for, so the list never promises what
the basket would refuse. One entry per child × week, whichever household asks (a partial unique
index backs the check); the child's other household is told « déjà sur liste d'attente ».

The cascade itself (offers on every release, lapses, cut-off) is `waitlist_offers`; this module is
what parents, staff, the API and the jobs call, each in one transaction with the same locks as the
basket: household, then basket, then weeks (`capacity.lock_weeks`).

Paying an offer: « Payer » turns the offer's own basket into the household's basket (the one
`payments.start_checkout` pays), with the ordinary payment hold (BASKET_HOLD_MINUTES), never past
the offer's deadline. A family with another basket running finishes or empties it first: two
baskets cannot be paid at once, and an offer never lends its long deadline to other weeks.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError

from app.models import (
    Basket,
    BasketStatus,
    Circuit,
    Establishment,
    Household,
    OfferOutcome,
    Period,
    Reservation,
    ReservationStatus,
    Stop,
    WaitlistEntry,
    WaitlistOffer,
    WaitlistStatus,
    WaitlistTransport,
    Week,
    db,
    utcnow,
)
from app.models.types import parse_id
from app.services import audit
from app.services.booking import basket as baskets
from app.services.booking.capacity import BUSY_MESSAGE, circuit_usage, is_lock_timeout, lock_weeks
from app.services.booking.eligibility import FULL, check_week, load_person
from app.services.booking.waitlist_offers import (
    cutoff_at,
    end_offer,
    make_manual_offer,
    offer_freed_places,
    period_settings,
    week_ids_of_offer,
    weeks_to_settle,
)
from app.services.booking.waitlist_reads import (  # noqa: F401 (re-exported: pages, API, staff)
    QUEUE_CSV_HEADER,
    TRANSPORT_LABELS,
    child_week_states,
    display_status,
    household_entries,
    household_offers,
    joinable_weeks,
    period_overview,
    queue_rows,
    waiting_counts,
    week_queue,
)
from app.services.errors import Busy, Conflict, NotFound, ServiceError, ValidationFailed

log = logging.getLogger(__name__)

__all__ = ["offer_freed_places", "join", "leave", "claim_offer", "household_entries", "week_queue",
           "lapse_offer", "sweep", "manual_offer", "remove_entry", "waiting_counts", "queue_rows"]


# --- input and transactions ------------------------------------------------------------------



def parse_transport(transport: Any) -> tuple[str, int | None]:
    """{"mode": "bus"|"any", "stop_id": 12} or {"mode": "onsite"} → (mode, stop id)."""
    if not isinstance(transport, dict) or transport.get("mode") in (None, ""):
        raise ValidationFailed(_("Choisissez le transport souhaité : un arrêt de bus, l'accueil sur site, "
                                 "ou « bus ou sur place »."), code="transport_required", field="transport")
    mode = str(transport.get("mode"))
    if mode not in WaitlistTransport.ALL:
        raise ValidationFailed(_("Transport inconnu : choisissez « bus », « sur place » ou « bus ou sur place »."),
                               code="invalid_transport", field="transport")
    if mode == WaitlistTransport.ONSITE:
        return mode, None
    stop_id = parse_id(transport.get("stop_id"))
    if stop_id is None:
        raise ValidationFailed(_("Pour le bus, choisissez un arrêt."), code="stop_required", field="stop_id")
    return mode, stop_id


def _run(operation, *args, **kwargs):
    """Run and commit; any failure rolls everything back and becomes a typed error."""
    try:
        result = operation(*args, **kwargs)
        db.session.commit()
        return result
    except ServiceError:
        db.session.rollback()
        raise
    except IntegrityError as exc:
        db.session.rollback()
        text = str(exc.orig if exc.orig is not None else exc)
        if "uq_waitlist_active_child_week" in text or "waitlist_entry.child_id" in text:
            raise Conflict(_already_waiting(), code="already_waiting") from exc
        if "uq_reservation_live_child_week" in text or "uq_basket_active_household" in text \
                or "uq_waitlist_offer_pending_entry" in text or "reservation.child_id" in text \
                or "basket.household_id" in text or "waitlist_offer.entry_id" in text:
            raise Busy(BUSY_MESSAGE, code="busy") from exc
        raise
    except OperationalError as exc:
        db.session.rollback()
        if is_lock_timeout(exc):
            raise Busy(BUSY_MESSAGE, code="busy") from exc
        raise


def _already_waiting() -> str:
    return _("Votre enfant est déjà sur liste d'attente pour cette semaine.")


# --- joining and leaving ---------------------------------------------------------------------

def join(household_id: int, child_id: Any, week_id: Any, transport: Any, *, actor=None,
         now: datetime | None = None) -> dict:
    """Put the child on the week's list. Returns {id, position, status}.

    Raises Conflict (already_waiting, not_full, waitlist_closed, or the booking rule's reason),
    ValidationFailed (transport), NotFound, Busy."""
    mode, stop_id = parse_transport(transport)
    child_id, week_id = parse_id(child_id), parse_id(week_id)
    if child_id is None or week_id is None:
        raise NotFound(_("Cette semaine ou cet enfant est introuvable."), code="not_found")
    return _run(_join, household_id, child_id, week_id, mode, stop_id, actor, now or utcnow())


def _join(household_id, child_id, week_id, mode, stop_id, actor, now) -> dict:
    row = db.session.execute(
        select(Period, Establishment).join(Establishment, Establishment.id == Period.establishment_id)
        .join(Week, Week.period_id == Period.id).where(Week.id == week_id)
    ).first()
    if row is None or not row[1].active:
        raise NotFound(_("Cette semaine est introuvable."), code="not_found")
    period, establishment = row
    circuit = None
    if stop_id is not None:
        pair = db.session.execute(
            select(Stop, Circuit).join(Circuit, Circuit.id == Stop.circuit_id).where(Stop.id == stop_id)
        ).first()
        if pair is None or pair[1].period_id != period.id:
            raise ValidationFailed(_("Cet arrêt ne dessert pas cette période : choisissez un arrêt dans la liste."),
                                   code="invalid_stop", field="stop_id")
        circuit = pair[1]
    household, link, child = load_person(household_id, child_id, for_update=True)
    week = lock_weeks([week_id])[week_id]
    offer_freed_places([week_id], now)  # a free place goes to those already waiting, never past them
    existing = db.session.execute(
        select(WaitlistEntry.id).where(WaitlistEntry.child_id == child_id, WaitlistEntry.week_id == week_id,
                                       WaitlistEntry.status.in_(WaitlistStatus.ACTIVE))
    ).first()
    if existing is not None:
        raise Conflict(_already_waiting(), code="already_waiting")
    _offer_hours, cutoff_days = period_settings(period.id)
    reason = check_week(household, link, child, week, period, establishment, now)
    if reason is not None and reason.code != FULL:
        raise Conflict(reason.message, code=reason.code, **reason.details)
    if now >= cutoff_at(week, cutoff_days):
        raise Conflict(_("La liste d'attente de cette semaine est close : elle commence bientôt. Contactez le "
                         "Pôle Jeunesse."), code="waitlist_closed")
    if reason is None:
        bus_full = mode == WaitlistTransport.BUS and circuit is not None and \
            circuit_usage([(circuit.id, week_id)], now)[(circuit.id, week_id)] >= circuit.seats
        if not bus_full:
            raise Conflict(_("Il reste des places cette semaine : inscrivez votre enfant directement."),
                           code="not_full")
    entry = WaitlistEntry(household_id=household_id, child_id=child_id, week_id=week_id, transport_mode=mode,
                          stop_id=stop_id, status=WaitlistStatus.WAITING, joined_at=now)
    db.session.add(entry)
    db.session.flush()
    audit.record("waitlist.joined", "waitlist_entry", entry.id, actor=actor, household_id=household_id,
                 after={"child_id": child_id, "week_id": week_id, "transport_mode": mode, "stop_id": stop_id})
    return {"id": entry.id, "position": position(entry), "status": entry.status}


def position(entry: WaitlistEntry) -> int | None:
    """Rank among those still waiting (1 = next offer), None when no longer waiting."""
    if entry.status != WaitlistStatus.WAITING:
        return None
    ahead = db.session.execute(
        select(func.count()).select_from(WaitlistEntry).where(
            WaitlistEntry.week_id == entry.week_id, WaitlistEntry.status == WaitlistStatus.WAITING,
            or_(WaitlistEntry.joined_at < entry.joined_at,
                and_(WaitlistEntry.joined_at == entry.joined_at, WaitlistEntry.id < entry.id)))
    ).scalar()
    return int(ahead) + 1


def _own_entry(household_id: int, entry_id: Any) -> WaitlistEntry:
    entry_id = parse_id(entry_id)
    entry = db.session.get(WaitlistEntry, entry_id) if entry_id else None
    if entry is None or entry.household_id != household_id:
        raise NotFound(_("Cette inscription sur liste d'attente est introuvable."), code="not_found")
    return entry


def leave(household_id: int, entry_id: Any, *, actor=None, now: datetime | None = None) -> None:
    """Leave the list; a running offer is declined and its place passes on at once."""
    now = now or utcnow()

    def operation():
        entry = _own_entry(household_id, entry_id)
        lock_weeks([entry.week_id])
        _withdraw(entry, now, actor=actor, reason=_("Retrait par la famille."), outcome=OfferOutcome.DECLINED)
        offer_freed_places([entry.week_id], now)

    _run(operation)


def _pending_offer(entry: WaitlistEntry) -> WaitlistOffer | None:
    return db.session.execute(
        select(WaitlistOffer).where(WaitlistOffer.entry_id == entry.id, WaitlistOffer.outcome == OfferOutcome.PENDING)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _withdraw(entry: WaitlistEntry, now: datetime, *, actor, reason: str, outcome: str) -> None:
    db.session.refresh(entry)
    if entry.status not in WaitlistStatus.ACTIVE:
        raise Conflict(_("Cette inscription n'est plus sur la liste d'attente."), code="not_waiting")
    offer = _pending_offer(entry)
    if offer is not None:
        end_offer(offer, entry, outcome, WaitlistStatus.WITHDRAWN, now, actor=actor, reason=reason)
        return
    before = entry.status
    entry.status = WaitlistStatus.WITHDRAWN
    entry.ended_at = now
    entry.end_reason = reason
    audit.record("waitlist.withdrawn", "waitlist_entry", entry.id, actor=actor, household_id=entry.household_id,
                 before={"status": before}, after={"status": entry.status, "reason": reason})


# --- paying an offer -------------------------------------------------------------------------

def claim_offer(household_id: int, entry_id: Any, *, actor=None, now: datetime | None = None) -> int:
    """« Payer »: make the offer's basket the household's basket, ready for `payments.start_checkout`.
    Idempotent (a second click finds it claimed). Returns the basket id."""
    now = now or utcnow()
    active = baskets.open_basket(household_id, now) or db.session.execute(
        select(Basket).where(Basket.household_id == household_id, Basket.status.in_(BasketStatus.ACTIVE))
    ).scalar_one_or_none()
    if active is not None and active.expires_at <= now:
        baskets.expire_basket(active.id, now)  # lapsed but not tidied: release it first (commits)
    return _run(_claim, household_id, entry_id, actor, now)


def _claim(household_id, entry_id, actor, now) -> int:
    entry = _own_entry(household_id, entry_id)
    db.session.execute(select(Household.id).where(Household.id == household_id).with_for_update())
    active = db.session.execute(
        select(Basket).where(Basket.household_id == household_id, Basket.status.in_(BasketStatus.ACTIVE))
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    offer = _pending_offer(entry)
    if offer is None or offer.basket_id is None:
        raise Conflict(_("Aucune place ne vous est proposée pour cette semaine."), code="no_offer")
    if active is not None and active.id == offer.basket_id:
        return active.id  # already claimed
    offer_basket = db.session.execute(
        select(Basket).where(Basket.id == offer.basket_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    line = db.session.get(Reservation, offer.reservation_id)
    if offer_basket.status != BasketStatus.OFFER or line is None or line.status != ReservationStatus.HELD \
            or offer.expires_at <= now:
        raise Conflict(_("Le délai de cette proposition est dépassé : la place a été proposée à la famille "
                         "suivante."), code="offer_lapsed")
    if active is not None:
        raise Conflict(_("Votre panier contient déjà d'autres semaines : validez-le ou videz-le, puis payez la "
                         "place proposée."), code="basket_not_empty")
    expires_at = min(offer.expires_at, now + baskets.hold_duration())
    before = {"status": offer_basket.status, "expires_at": offer_basket.expires_at}
    offer_basket.status = BasketStatus.OPEN
    offer_basket.expires_at = expires_at
    line.hold_expires_at = expires_at
    offer.expires_at = expires_at
    audit.record("waitlist.offer_claimed", "basket", offer_basket.id, actor=actor, household_id=household_id,
                 before=before, after={"status": offer_basket.status, "expires_at": expires_at, "entry_id": entry.id})
    db.session.flush()
    baskets.schedule_expiry(offer_basket)
    return offer_basket.id


# --- jobs and sweeper ------------------------------------------------------------------------

def lapse_offer(offer_id: int, now: datetime | None = None) -> int:
    """The offer's deadline job: settle it and pass the place on. Idempotent; returns offers made."""
    now = now or utcnow()
    week_ids = week_ids_of_offer(offer_id)
    return len(_run(offer_freed_places, week_ids, now))


def sweep(now: datetime | None = None) -> int:
    """The sweeper's catch-up: every week with a list gets its step (lapsed offers, lost hooks, cut-offs).
    One week failing does not stop the others."""
    now = now or utcnow()
    week_ids = weeks_to_settle(now)
    db.session.commit()
    made = 0
    for week_id in week_ids:
        try:
            made += len(_run(offer_freed_places, [week_id], now))
        except Exception:
            log.exception("waiting list of week %s: step failed; next sweep will retry", week_id)
    return made


# --- staff -----------------------------------------------------------------------------------

def manual_offer(entry_id: Any, *, actor, reason: str, now: datetime | None = None) -> int:
    """Staff offer a place to this entry, out of order (never past capacity). Audited with the reason."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Indiquez la raison de cette proposition."), code="reason_required", field="reason")

    def operation():
        entry = _entry(entry_id)
        lock_weeks([entry.week_id])
        offer_freed_places([entry.week_id], now)  # settle first: a lapsed offer frees its place
        db.session.refresh(entry)
        if entry.status != WaitlistStatus.WAITING:
            raise Conflict(_("Cette famille n'attend plus sur la liste."), code="not_waiting")
        return make_manual_offer(entry, now, actor=actor, reason=reason).id

    return _run(operation)


def remove_entry(entry_id: Any, *, actor, reason: str, now: datetime | None = None) -> None:
    """Staff take an entry off the list (its running offer, if any, passes on). Audited with the reason."""
    now = now or utcnow()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Indiquez la raison du retrait."), code="reason_required", field="reason")

    def operation():
        entry = _entry(entry_id)
        lock_weeks([entry.week_id])
        _withdraw(entry, now, actor=actor, reason=reason, outcome=OfferOutcome.WITHDRAWN)
        offer_freed_places([entry.week_id], now)

    _run(operation)


def _entry(entry_id: Any) -> WaitlistEntry:
    entry_id = parse_id(entry_id)
    entry = db.session.get(WaitlistEntry, entry_id) if entry_id else None
    if entry is None:
        raise NotFound(_("Inscription sur liste d'attente introuvable."), code="not_found")
    return entry


def save_settings(period_id: Any, offer_hours: Any, cutoff_days: Any, *, actor) -> None:
    """Staff set a period's offer length (hours) and cut-off (days before a week starts). Audited."""
    from app.models import WaitlistSettings

    period = db.session.get(Period, parse_id(period_id) or 0)
    if period is None:
        raise NotFound(_("Période introuvable."), code="not_found")
    try:
        hours, days = int(offer_hours), int(cutoff_days)
    except (TypeError, ValueError):
        hours = days = -1
    if not 1 <= hours <= 24 * 14 or not 0 <= days <= 60:
        raise ValidationFailed(_("Durée d'une proposition : de 1 à 336 heures ; date limite : de 0 à 60 jours "
                                 "avant le début de la semaine."), code="invalid")

    def operation():
        row = db.session.get(WaitlistSettings, period.id)
        before = {"offer_hours": row.offer_hours, "cutoff_days": row.cutoff_days} if row else None
        if row is None:
            row = WaitlistSettings(period_id=period.id)
            db.session.add(row)
        row.offer_hours, row.cutoff_days = hours, days
        audit.record("waitlist.settings", "period", period.id, actor=actor, before=before,
                     after={"offer_hours": hours, "cutoff_days": days})

    _run(operation)
