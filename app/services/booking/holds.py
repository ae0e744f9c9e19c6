"""Holds: a basket holds its places for one hour from its first line (not extended by later lines),
then the places return to the pool (DESIGN.md §3.3).

These are the pieces that run inside a caller's transaction; the entry points that commit
(`basket.expire_basket`, the sweeper's `basket.expire_due_baskets`) stay with the basket's others.

Correctness never waits for a job: every count treats a lapsed hold as free (`capacity.live_condition`),
and a writer that meets a lapsed line of the same child × week ends it on the spot
(`expire_lapsed_lines`, the partial unique index covers 'held'). Expiry only tidies up and notifies:
it is scheduled at the hold's end with a unique job id (`schedule_expiry`), the sweeper catches
whatever a lost job left, both are idempotent and re-read the database. A basket whose payment has
started is first settled with the payment provider so that a payment in flight is never lost:
payments registers that check here (`register_settle_hook`), because booking must not import
payments, which imports booking.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from app.models import Basket, BasketStatus, Household, Period, Reservation, ReservationStatus, Week, db, utcnow
from app.services import audit
from app.services.booking.eligibility import paris_datetime
from app.services.booking.waitlist_offers import offer_freed_places

log = logging.getLogger(__name__)

# Jobs are named by dotted path: services never import app.jobs (DESIGN §4).
EXPIRE_BASKET_JOB = "app.jobs.booking.expire_basket_job"

BASKET_IN_CHECKOUT = "basket_in_checkout"


def checkout_message() -> str:
    return _("Un paiement est en cours pour votre panier : terminez-le ou annulez-le avant d'ajouter ou de "
             "retirer une semaine.")


def hold_duration() -> timedelta:
    return timedelta(minutes=float(current_app.config["BASKET_HOLD_MINUTES"]))


# --- locks and reads -----------------------------------------------------------------------

def lock_basket(basket_id: int) -> Basket | None:
    return db.session.execute(
        select(Basket).where(Basket.id == basket_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()


def lock_active_basket(household_id: int) -> Basket | None:
    return db.session.execute(
        select(Basket)
        .where(Basket.household_id == household_id, Basket.status.in_(BasketStatus.ACTIVE))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def open_basket(household_id: int, now: datetime | None = None) -> Basket | None:
    """The household's live basket (open or in checkout, hold not lapsed), or None."""
    now = now or utcnow()
    return db.session.execute(
        select(Basket).where(Basket.household_id == household_id, Basket.status.in_(BasketStatus.ACTIVE),
                             Basket.expires_at > now)
    ).scalar_one_or_none()


def expire_lapsed_lines(child_id: int, week_id: int, now: datetime) -> None:
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


# --- expiry --------------------------------------------------------------------------------

# Before a basket in checkout expires, the payments package asks its provider whether the payment
# went through (it registers itself: booking must not import payments, which imports booking).
_settle_hooks: list[Callable[[Basket], str]] = []


def register_settle_hook(hook: Callable[[Basket], str]) -> None:
    if hook not in _settle_hooks:
        _settle_hooks.append(hook)


def settle_hook() -> Callable[[Basket], str] | None:
    return _settle_hooks[0] if _settle_hooks else None


def expire_locked(basket: Basket, now: datetime) -> list[Reservation]:
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
    offer_freed_places({line.week_id for line in lines}, now)  # the freed places go to the waiting list
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
