"""The basket: places held for one hour from the first line, then confirmed by payment or released.

Concurrency (DESIGN.md §3–4). `add_line` runs in one transaction and takes its locks in a stable
order: the household row (serialises the household's own basket), its active basket, then the week
(`capacity.lock_weeks`). Only then does it count confirmed + live held places (lazy expiry: a held
line stops counting the instant its hold lapses, whatever the expiry job does), write, and commit.
The partial unique index on (child, week) over live lines is the last guard against a double
booking; hitting it becomes the same `already_booked` conflict the rule gives.

Expiry (`expire_basket`) only tidies up and notifies: it is scheduled at the hold's end with a
unique job id, the sweeper catches whatever a lost job left, both are idempotent and re-read the
database. A basket whose payment has started is first settled with the payment provider so that a
payment in flight is never lost (`payments.settle_before_expiry`).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload, selectinload

from app.models import (
    Basket,
    BasketStatus,
    Circuit,
    Establishment,
    Household,
    Period,
    Reservation,
    ReservationStatus,
    Stop,
    TransportMode,
    Week,
    db,
    utcnow,
)

from app.services import audit
from app.services.booking.capacity import BUSY_MESSAGE, circuit_usage, lock_weeks
from app.services.booking.eligibility import bus_full_reason, check_week, load_person, paris_datetime
from app.services.errors import Busy, Conflict, NotFound, ValidationFailed
from app.services.transactions import unit_of_work
from app.services.booking.pricing import bracket_for, price_line

log = logging.getLogger(__name__)

# Jobs are named by dotted path: services never import app.jobs (DESIGN §4).
EXPIRE_BASKET_JOB = "app.jobs.booking.expire_basket_job"

BASKET_IN_CHECKOUT = "basket_in_checkout"


def _checkout_message() -> str:
    return _("Un paiement est en cours pour votre panier : terminez-le ou annulez-le avant d'ajouter ou de "
             "retirer une semaine.")


# --- input ---------------------------------------------------------------------------------

def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 2**31 else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
        return number if 0 < number < 2**31 else None
    return None


def parse_transport(transport: Any) -> tuple[str, int | None]:
    """{"mode": "bus", "stop_id": 12} or {"mode": "onsite"} → (mode, stop id). One is mandatory."""
    if not isinstance(transport, dict) or transport.get("mode") in (None, ""):
        raise ValidationFailed(_("Choisissez le transport : un arrêt de bus ou l'accueil sur site."),
                               code="transport_required", field="transport")
    mode = transport.get("mode")
    if mode == TransportMode.ONSITE:
        return mode, None
    if mode != TransportMode.BUS:
        raise ValidationFailed(_("Transport inconnu : choisissez « bus » ou « accueil sur site »."),
                               code="invalid_transport", field="transport")
    stop_id = _as_id(transport.get("stop_id"))
    if stop_id is None:
        raise ValidationFailed(_("Pour le bus, choisissez un circuit et un arrêt."), code="stop_required",
                               field="stop_id")
    return mode, stop_id


def _load_stop(stop_id: int, period_id: int) -> tuple[Stop, Circuit]:
    row = db.session.execute(
        select(Stop, Circuit).join(Circuit, Circuit.id == Stop.circuit_id).where(Stop.id == stop_id)
    ).first()
    if row is None or row[1].period_id != period_id:
        raise ValidationFailed(_("Cet arrêt ne dessert pas cette période : choisissez un arrêt dans la liste."),
                               code="invalid_stop", field="stop_id")
    return row[0], row[1]


# --- transactions --------------------------------------------------------------------------

def _run(operation, *args, **kwargs):
    """Run `operation` in one transaction (transactions.unit_of_work). The live-line unique index
    refusing a second line for a child is the rule's own `already_booked`; a second active basket
    raced in by the same household is `busy` (try again: the next attempt finds that basket)."""

    def already_booked():
        return Conflict(_("Votre enfant est déjà inscrit pour cette semaine."), code="already_booked")

    def busy():
        return Busy(BUSY_MESSAGE, code="busy")

    with unit_of_work({"uq_reservation_live_child_week": already_booked, "reservation.child_id": already_booked,
                       "uq_basket_active_household": busy, "basket.household_id": busy}):
        return operation(*args, **kwargs)


def _lock_active_basket(household_id: int) -> Basket | None:
    return db.session.execute(
        select(Basket)
        .where(Basket.household_id == household_id, Basket.status.in_(BasketStatus.ACTIVE))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _expire_lapsed_lines(child_id: int, week_id: int, now: datetime) -> None:
    """Held lines of this child × week whose hold lapsed still say 'held' until the job tidies them,
    and the partial unique index covers 'held': end them here so correctness never waits for a job."""
    rows = db.session.execute(
        update(Reservation)
        .where(Reservation.child_id == child_id, Reservation.week_id == week_id,
               Reservation.status == ReservationStatus.HELD, Reservation.hold_expires_at <= now)
        .values(status=ReservationStatus.EXPIRED, ended_at=now)
        .returning(Reservation.id, Reservation.household_id, Reservation.basket_id)
        .execution_options(synchronize_session=False)
    ).all()
    for line_id, household_id, basket_id in rows:
        audit.record("reservation.expired", "reservation", line_id, household_id=household_id,
                     before={"status": ReservationStatus.HELD},
                     after={"status": ReservationStatus.EXPIRED, "basket_id": basket_id, "lazy": True})


def hold_duration() -> timedelta:
    return timedelta(minutes=float(current_app.config["BASKET_HOLD_MINUTES"]))


# --- add a line ----------------------------------------------------------------------------

def add_line(household_id: int, child_id: int, week_id: int, transport: dict, *, actor=None, desk: bool = False,
             now: datetime | None = None) -> Reservation:
    """Put one child × week with its transport into the household's basket, holding the place.

    Raises Conflict (code = eligibility reason, or basket_in_checkout), ValidationFailed (transport),
    NotFound (child not linked, unknown week), Busy (lock wait timed out: try again)."""
    child_id, week_id, mode, stop_id = _parse_add(child_id, week_id, transport)
    return _run(_add_line, household_id, child_id, week_id, mode, stop_id, actor, desk, now or utcnow())


def _parse_add(child_id, week_id, transport) -> tuple[int, int, str, int | None]:
    mode, stop_id = parse_transport(transport)
    child_id, week_id = _as_id(child_id), _as_id(week_id)
    if child_id is None or week_id is None:
        raise NotFound(_("Cette semaine ou cet enfant est introuvable."), code="not_found")
    return child_id, week_id, mode, stop_id


def _add_line(household_id, child_id, week_id, mode, stop_id, actor, desk, now,
              describe: dict | None = None) -> Reservation:
    # What needs no lock is read before any lock: every statement run while the week row is locked
    # makes every other parent booking that week wait.
    row = db.session.execute(
        select(Period, Establishment).join(Establishment, Establishment.id == Period.establishment_id)
        .join(Week, Week.period_id == Period.id).where(Week.id == week_id).options(selectinload(Period.tariffs))
    ).first()
    if row is None:
        raise NotFound(_("Cette semaine est introuvable."), code="not_found")
    period, establishment = row
    if not establishment.active:
        raise NotFound(_("Cet accueil n'est plus proposé."), code="not_found")
    stop = circuit = None
    if mode == TransportMode.BUS:
        stop, circuit = _load_stop(stop_id, period.id)

    household, link, child = load_person(household_id, child_id, for_update=True)
    basket = _lock_active_basket(household_id)
    if basket is not None and basket.status == BasketStatus.CHECKOUT:
        raise Conflict(_checkout_message(), code=BASKET_IN_CHECKOUT)
    if basket is not None and basket.expires_at <= now:
        _expire_locked(basket, now)  # lapsed but not tidied yet: its places are free, start afresh
        basket = None
    _expire_lapsed_lines(child_id, week_id, now)  # lapsed lines take no place: no week lock needed

    week = lock_weeks([week_id]).get(week_id)
    if week is None:
        raise NotFound(_("Cette semaine est introuvable."), code="not_found")
    reason = check_week(household, link, child, week, period, establishment, now, desk=desk)
    if reason:
        raise Conflict(reason.message, code=reason.code, **reason.details)

    if mode == TransportMode.BUS:
        if circuit_usage([(circuit.id, week.id)], now)[(circuit.id, week.id)] >= circuit.seats:
            reason = bus_full_reason(circuit)
            raise Conflict(reason.message, code=reason.code, **reason.details)
    price = price_line(household, period, mode)

    if basket is None:
        basket = Basket(household_id=household_id, status=BasketStatus.OPEN, created_at=now,
                        expires_at=now + hold_duration(),
                        created_by_id=getattr(actor, "id", None) if desk else None)
        db.session.add(basket)
        db.session.flush()
        audit.record("basket.opened", "basket", basket.id, actor=actor, household_id=household_id,
                     after={"status": basket.status, "expires_at": basket.expires_at, "desk": desk})
        schedule_expiry(basket)

    line = Reservation(basket_id=basket.id, household_id=household_id, child_id=child_id, week_id=week_id,
                       status=ReservationStatus.HELD, transport_mode=mode,
                       circuit_id=circuit.id if circuit else None, stop_id=stop.id if stop else None,
                       price_cents=price.price_cents, bus_price_cents=price.bus_price_cents,
                       hold_expires_at=basket.expires_at, created_at=now)
    db.session.add(line)
    db.session.flush()
    audit.record("reservation.held", "reservation", line.id, actor=actor, household_id=household_id,
                 after={"basket_id": basket.id, "child_id": child_id, "week_id": week_id, "transport_mode": mode,
                        "stop_id": line.stop_id, "price_cents": line.price_cents,
                        "bus_price_cents": line.bus_price_cents, "hold_expires_at": line.hold_expires_at,
                        "desk": desk})
    if describe is not None:
        # Every row the description needs is loaded and referenced here: no query. After the
        # commit they would all be expired and read again.
        describe["item"] = _line_dict(line, household)
    return line


def add_line_summary(household_id: int, child_id: int, week_id: int, transport: dict, *, actor=None,
                     now: datetime | None = None) -> dict:
    """add_line for the JSON API: the new line as the basket shows it, built from the rows the
    transaction already holds (no re-read after the commit), and the basket's new total."""
    now = now or utcnow()
    child_id, week_id, mode, stop_id = _parse_add(child_id, week_id, transport)
    described: dict = {}

    def operation():
        line = _add_line(household_id, child_id, week_id, mode, stop_id, actor, False, now, describe=described)
        return described["item"], line.basket_id, line.hold_expires_at

    item, basket_id, expires_at = _run(operation)
    total = db.session.execute(
        select(func.coalesce(func.sum(Reservation.price_cents + Reservation.bus_price_cents), 0))
        .where(Reservation.basket_id == basket_id, Reservation.status == ReservationStatus.HELD)
    ).scalar()
    return {"line": item, "basket_id": basket_id, "expires_at": expires_at.isoformat(), "total_cents": int(total)}


# --- remove a line -------------------------------------------------------------------------

def remove_line(household_id: int, line_id: int, *, actor=None, now: datetime | None = None) -> None:
    """Take a held line out of the basket; its place returns to the pool at once. An emptied basket is
    closed so that the next line starts a fresh hold."""
    now = now or utcnow()
    line_id = _as_id(line_id)
    if line_id is None:
        raise NotFound(_("Cette ligne n'est pas dans votre panier."), code="not_found")
    _run(_remove_line, household_id, line_id, actor, now)


def _remove_line(household_id, line_id, actor, now) -> None:
    basket_id = db.session.execute(
        select(Reservation.basket_id).where(Reservation.id == line_id, Reservation.household_id == household_id)
    ).scalar_one_or_none()
    if basket_id is None:
        raise NotFound(_("Cette ligne n'est pas dans votre panier."), code="not_found")
    basket = db.session.execute(
        select(Basket).where(Basket.id == basket_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    line = db.session.execute(
        select(Reservation).where(Reservation.id == line_id).execution_options(populate_existing=True)
    ).scalar_one()
    if basket.status == BasketStatus.CHECKOUT:
        raise Conflict(_checkout_message(), code=BASKET_IN_CHECKOUT)
    if line.status != ReservationStatus.HELD or basket.status != BasketStatus.OPEN:
        raise Conflict(_("Cette ligne n'est plus dans votre panier."), code="not_in_basket")
    line.status = ReservationStatus.REMOVED
    line.ended_at = now
    audit.record("reservation.removed", "reservation", line.id, actor=actor, household_id=household_id,
                 before={"status": ReservationStatus.HELD}, after={"status": ReservationStatus.REMOVED})
    db.session.flush()
    still_held = db.session.execute(
        select(Reservation.id).where(Reservation.basket_id == basket.id,
                                     Reservation.status == ReservationStatus.HELD).limit(1)
    ).first()
    if still_held is None:
        basket.status = BasketStatus.CANCELLED
        basket.expired_at = now
        audit.record("basket.emptied", "basket", basket.id, actor=actor, household_id=household_id,
                     before={"status": BasketStatus.OPEN}, after={"status": BasketStatus.CANCELLED})


# --- reading -------------------------------------------------------------------------------

def open_basket(household_id: int, now: datetime | None = None) -> Basket | None:
    """The household's live basket (open or in checkout, hold not lapsed), or None."""
    now = now or utcnow()
    return db.session.execute(
        select(Basket).where(Basket.household_id == household_id, Basket.status.in_(BasketStatus.ACTIVE),
                             Basket.expires_at > now)
    ).scalar_one_or_none()


def _line_dict(line: Reservation, household: Household) -> dict:
    week, period = line.week, line.week.period
    stop = line.stop
    try:
        bracket = bracket_for(household, period).label
    except ValidationFailed:
        bracket = None
    return {
        "id": line.id,
        "basket_id": line.basket_id,
        "status": line.status,
        "child": {"id": line.child.id, "first_name": line.child.first_name, "last_name": line.child.last_name},
        "week": {"id": week.id, "label": week.label, "starts_on": week.starts_on.isoformat(),
                 "ends_on": week.ends_on.isoformat()},
        "period": {"id": period.id, "name": period.name,
                   "stop_change_deadline": period.stop_change_deadline.isoformat()
                   if period.stop_change_deadline else None},
        "establishment": {"id": period.establishment.id, "name": period.establishment.name},
        "transport": {
            "mode": line.transport_mode,
            "circuit": {"id": line.circuit.id, "name": line.circuit.name} if line.circuit else None,
            "stop": {"id": stop.id, "name": stop.name, "pickup_time": stop.pickup_time.strftime("%H:%M"),
                     "dropoff_time": stop.dropoff_time.strftime("%H:%M")} if stop else None,
        },
        "bracket": bracket,
        "price_cents": line.price_cents,
        "bus_price_cents": line.bus_price_cents,
        "total_cents": line.total_cents,
        "confirmed_at": line.confirmed_at.isoformat() if line.confirmed_at else None,
    }


def _line_options():
    return (joinedload(Reservation.child), joinedload(Reservation.stop), joinedload(Reservation.circuit),
            joinedload(Reservation.week).joinedload(Week.period).joinedload(Period.establishment),
            joinedload(Reservation.week).joinedload(Week.period).selectinload(Period.tariffs))


def basket_summary(household_id: int, now: datetime | None = None) -> dict:
    """What the basket page and the API show: the live basket's lines with prices and total, and,
    when there is no live basket, what happened to the last one (so that a lapsed hold is explained)."""
    now = now or utcnow()
    household = db.session.get(Household, household_id)
    if household is None:
        raise NotFound(_("Aucun dossier famille n'est associé à ce compte."), code="no_household")
    basket = open_basket(household_id, now)
    summary: dict[str, Any] = {"basket_id": None, "status": None, "expires_at": None, "lines": [],
                               "total_cents": 0, "lapsed": None}
    if basket is not None:
        lines = db.session.execute(
            select(Reservation).where(Reservation.basket_id == basket.id, Reservation.status == ReservationStatus.HELD)
            .options(*_line_options()).order_by(Reservation.id)
        ).unique().scalars().all()
        items = [_line_dict(line, household) for line in lines]
        summary.update(basket_id=basket.id, status=basket.status, expires_at=basket.expires_at.isoformat(),
                       expires_at_dt=basket.expires_at, lines=items,
                       total_cents=sum(item["total_cents"] for item in items),
                       seconds_left=max(0, int((basket.expires_at - now).total_seconds())))
        return summary
    last = db.session.execute(
        select(Basket).where(Basket.household_id == household_id).order_by(Basket.id.desc()).limit(1)
    ).scalar_one_or_none()
    if last is not None and (last.status == BasketStatus.EXPIRED
                             or (last.status in BasketStatus.ACTIVE and last.expires_at <= now)):
        released = db.session.execute(
            select(Reservation).where(Reservation.basket_id == last.id,
                                      Reservation.status.in_((ReservationStatus.HELD, ReservationStatus.EXPIRED)))
            .options(*_line_options()).order_by(Reservation.id)
        ).unique().scalars().all()
        summary["lapsed"] = {"basket_id": last.id, "expires_at": last.expires_at.isoformat(),
                             "expires_at_dt": last.expires_at,
                             "lines": [_line_dict(line, household) for line in released]}
    return summary


def public_summary(summary: dict) -> dict:
    """The summary without its Python-only keys (for JSON)."""
    data = {k: v for k, v in summary.items() if not k.endswith("_dt")}
    if data.get("lapsed"):
        data["lapsed"] = {k: v for k, v in data["lapsed"].items() if not k.endswith("_dt")}
    return data


def reservations(household_id: int, statuses: tuple[str, ...] = (ReservationStatus.CONFIRMED,),
                 now: datetime | None = None) -> list[dict]:
    """The household's reservations (confirmed by default), by week, for "Mes inscriptions" and the API,
    each saying whether the parent may still change its stop."""
    now = now or utcnow()
    household = db.session.get(Household, household_id)
    if household is None:
        raise NotFound(_("Aucun dossier famille n'est associé à ce compte."), code="no_household")
    lines = db.session.execute(
        select(Reservation).join(Week, Week.id == Reservation.week_id)
        .where(Reservation.household_id == household_id, Reservation.status.in_(statuses))
        .options(*_line_options()).order_by(Week.starts_on, Reservation.id)
    ).unique().scalars().all()
    items = []
    for line in lines:
        item = _line_dict(line, household)
        item["stop_change_open"] = parent_can_change_stop(line.week.period, now)
        items.append(item)
    return items


def transport_options(period_ids) -> dict[int, list[dict]]:
    """Bus circuits and their stops (with times) per period, for the stop-change forms."""
    ids = sorted(set(period_ids))
    if not ids:
        return {}
    circuits = db.session.execute(
        select(Circuit).where(Circuit.period_id.in_(ids)).options(selectinload(Circuit.stops))
        .order_by(Circuit.name, Circuit.id)
    ).scalars().all()
    options: dict[int, list[dict]] = {period_id: [] for period_id in ids}
    for circuit in circuits:
        options[circuit.period_id].append({
            "id": circuit.id, "name": circuit.name,
            "stops": [{"id": s.id, "name": s.name, "pickup_time": s.pickup_time.strftime("%H:%M"),
                       "dropoff_time": s.dropoff_time.strftime("%H:%M")} for s in circuit.stops]})
    return options


# --- expiry --------------------------------------------------------------------------------

# Before a basket in checkout expires, the payments package asks its provider whether the payment
# went through (it registers itself: booking must not import payments, which imports booking).
_settle_hooks: list[Callable[[Basket], str]] = []


def register_settle_hook(hook: Callable[[Basket], str]) -> None:
    if hook not in _settle_hooks:
        _settle_hooks.append(hook)


def _settle_hook() -> Callable[[Basket], str] | None:
    return _settle_hooks[0] if _settle_hooks else None


def _expire_locked(basket: Basket, now: datetime) -> list[Reservation]:
    """Release a locked basket: held lines expire, the basket is marked, audited and mailed once."""
    lines = db.session.execute(
        select(Reservation).where(Reservation.basket_id == basket.id,
                                  Reservation.status.in_((ReservationStatus.HELD, ReservationStatus.EXPIRED)))
        .options(joinedload(Reservation.child),
                 joinedload(Reservation.week).joinedload(Week.period).joinedload(Period.establishment))
        .order_by(Reservation.id).execution_options(populate_existing=True)
    ).unique().scalars().all()
    for line in lines:
        if line.status == ReservationStatus.HELD:
            line.status = ReservationStatus.EXPIRED
            line.ended_at = now
    before = basket.status
    basket.status = BasketStatus.EXPIRED
    basket.expired_at = now
    audit.record("basket.expired", "basket", basket.id, household_id=basket.household_id,
                 before={"status": before}, after={"status": BasketStatus.EXPIRED,
                                                   "released_lines": [line.id for line in lines]})
    if lines:
        _mail_expired(basket, lines)
    return lines


def _mail_expired(basket: Basket, lines: list[Reservation]) -> None:
    from app.services.mail import public_url, queue_mail

    household = db.session.get(Household, basket.household_id)
    to = household.email or (household.owner.email if household.owner else None)
    if not to:
        log.warning("basket %s expired: household %s has no e-mail address", basket.id, household.id)
        return
    weeks = [{"child": line.child.first_name, "week": line.week.label,
              "establishment": line.week.period.establishment.name, "period": line.week.period.name}
             for line in lines]
    queue_mail("basket_expired", to, _("Votre panier a expiré"), "basket_expired", household_id=household.id,
               dedupe_key=f"basket-expired-{basket.id}", household_name=household.name, weeks=weeks,
               expired_at=paris_datetime(basket.expires_at), booking_url=public_url("/famille/inscrire"))


def expire_basket(basket_id: int, now: datetime | None = None) -> bool:
    """Release the places of a basket whose hold lapsed unpaid. Idempotent: re-reads and locks the
    basket; does nothing if it is no longer active or not due. Returns True when it expired it."""
    now = now or utcnow()
    try:
        basket = _lock_basket(basket_id)
        if basket is None or basket.status not in BasketStatus.ACTIVE or basket.expires_at > now:
            db.session.rollback()
            return False
        if basket.status == BasketStatus.CHECKOUT:
            settle = _settle_hook()
            if settle is not None:
                # May commit, may raise (provider unreachable): the job is then retried.
                if settle(basket) == "paid":
                    db.session.commit()
                    return False
                basket = _lock_basket(basket_id)
                if basket is None or basket.status not in BasketStatus.ACTIVE:
                    db.session.commit()
                    return False
        _expire_locked(basket, now)
        db.session.commit()
        return True
    except Exception:
        db.session.rollback()
        raise


def _lock_basket(basket_id: int) -> Basket | None:
    return db.session.execute(
        select(Basket).where(Basket.id == basket_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()


def expire_due_baskets(now: datetime | None = None) -> int:
    """The sweeper's catch-up: every active basket whose hold lapsed. One failure does not stop the rest."""
    now = now or utcnow()
    due = db.session.execute(
        select(Basket.id).where(Basket.status.in_(BasketStatus.ACTIVE), Basket.expires_at <= now)
        .order_by(Basket.id).limit(500)
    ).scalars().all()
    db.session.commit()
    expired = 0
    for basket_id in due:
        try:
            if expire_basket(basket_id, now):
                expired += 1
        except Exception:
            log.exception("could not expire basket %s; next sweep will retry", basket_id)
    return expired


def schedule_expiry(basket: Basket) -> None:
    """Schedule the expiry job at the hold's end, after the commit. Never raises: if Redis is down the
    booking still succeeds (`enqueue` logs the failure) and the sweeper catches up. Retries cover a
    payment provider that cannot be reached when a basket in checkout expires."""
    from rq import Retry

    from app.services.tasks import defer

    # RQ schedules to the whole second (truncating): round up so the job never runs before the hold
    # ends (it would find nothing due and leave the basket to the next sweep).
    at = basket.expires_at.replace(microsecond=0) + timedelta(seconds=1)
    defer(db.session, EXPIRE_BASKET_JOB, basket.id, job_id=f"expire-basket-{basket.id}", at=at, unique=True,
          retry=Retry(max=5, interval=[30, 60, 120, 300, 600]))


# --- transport changes ---------------------------------------------------------------------

def stop_change_deadline(period: Period) -> datetime | None:
    return period.stop_change_deadline


def parent_can_change_stop(period: Period, now: datetime | None = None) -> bool:
    """Parents change a stop until the period's deadline set by staff (none set: until the period starts)."""
    now = now or utcnow()
    deadline = period.stop_change_deadline
    if deadline is None:
        return now.astimezone(_paris()).date() < period.starts_on
    return now < deadline


def _paris():
    from app.services.booking.eligibility import PARIS

    return PARIS


def change_stop(household_id: int, reservation_id: int, transport: dict, *, actor=None, by_staff: bool = False,
                now: datetime | None = None) -> Reservation:
    """Change the bus stop (or, for a line still in the basket or for staff, the transport mode) of a
    held or confirmed line. Parents until the period's deadline, staff always; seats re-checked under
    the week lock when the circuit changes."""
    now = now or utcnow()
    mode, stop_id = parse_transport(transport)
    reservation_id = _as_id(reservation_id)
    if reservation_id is None:
        raise NotFound(_("Cette inscription est introuvable."), code="not_found")
    return _run(_change_stop, household_id, reservation_id, mode, stop_id, actor, by_staff, now)


def _change_stop(household_id, reservation_id, mode, stop_id, actor, by_staff, now) -> Reservation:
    row = db.session.execute(
        select(Reservation.week_id, Reservation.basket_id, Reservation.status)
        .where(Reservation.id == reservation_id, Reservation.household_id == household_id)
    ).first()
    if row is None:
        raise NotFound(_("Cette inscription est introuvable."), code="not_found")
    week_id, basket_id, status = row
    if status == ReservationStatus.HELD:
        _lock_basket(basket_id)  # same order as add_line and checkout: basket, then week
    week = lock_weeks([week_id])[week_id]
    line = db.session.execute(
        select(Reservation).where(Reservation.id == reservation_id).execution_options(populate_existing=True)
    ).scalar_one()
    period = db.session.get(Period, week.period_id)
    live = line.status == ReservationStatus.CONFIRMED or (
        line.status == ReservationStatus.HELD and line.hold_expires_at and line.hold_expires_at > now)
    if not live:
        raise Conflict(_("Cette inscription n'est plus active."), code="not_active")
    if not by_staff and not parent_can_change_stop(period, now):
        raise Conflict(_("La date limite pour changer d'arrêt est passée : contactez le Pôle Jeunesse."),
                       code="stop_change_closed")
    basket = db.session.get(Basket, line.basket_id)
    mode_changes = mode != line.transport_mode
    if mode_changes and line.status == ReservationStatus.CONFIRMED and not by_staff:
        raise Conflict(_("Pour passer du bus à l'accueil sur site (ou l'inverse) sur une semaine payée, "
                         "contactez le Pôle Jeunesse."), code="transport_mode_change")
    if mode_changes and line.status == ReservationStatus.HELD and basket.status == BasketStatus.CHECKOUT:
        raise Conflict(_checkout_message(), code=BASKET_IN_CHECKOUT)

    stop = circuit = None
    if mode == TransportMode.BUS:
        stop, circuit = _load_stop(stop_id, period.id)
        if circuit.id != line.circuit_id and \
                circuit_usage([(circuit.id, week.id)], now)[(circuit.id, week.id)] >= circuit.seats:
            reason = bus_full_reason(circuit)
            raise Conflict(reason.message, code=reason.code, **reason.details)
    before = {"transport_mode": line.transport_mode, "circuit_id": line.circuit_id, "stop_id": line.stop_id,
              "bus_price_cents": line.bus_price_cents}
    line.transport_mode = mode
    line.circuit_id = circuit.id if circuit else None
    line.stop_id = stop.id if stop else None
    if mode_changes and line.status == ReservationStatus.HELD:
        household = db.session.get(Household, household_id)
        line.bus_price_cents = price_line(household, period, mode).bus_price_cents
    audit.record("reservation.transport_changed", "reservation", line.id, actor=actor, household_id=household_id,
                 before=before, after={"transport_mode": line.transport_mode, "circuit_id": line.circuit_id,
                                       "stop_id": line.stop_id, "bus_price_cents": line.bus_price_cents,
                                       "by_staff": by_staff})
    return line
