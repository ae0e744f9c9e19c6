"""The admission gate: a full week, and a child already on it, refused from Redis (issue 21).

At the minute registrations open most adds of a popular week come after its last place went: each
would still take the person lock, queue behind the week's row lock in PostgreSQL, count and roll
back. The gate remembers what the locked check last found for a full week — its state as of one
consistent read — and answers the next parents from Redis:

* `remember_full(week_id)` runs after a refusal « complet » of the week (not of a bus). One read,
  outside any lock: the week's capacity, its live lines (each child's status and household) and the
  first hold to lapse. If the week is indeed full, its mark is written: `full`, `until` and one
  field per child on it. It holds until that first hold lapses (a place comes back then: `until`,
  compared with the request's clock), at most `ADMISSION_MARK_SECONDS`.
* `refusal(week, household_id, child_id, now)` reads the mark (one HMGET): the child's own line
  gives `eligibility.week_reason`'s « déjà dans votre panier » / « déjà inscrit » reason, else the
  full mark gives « complet ». No mark, or Redis unreachable: None — the locked check decides.

It may only refuse, never let in: a parent it lets through meets the locked check in PostgreSQL,
the only way in. A mark never outlives the places it describes: every change that gives a place back
— a line leaving the live statuses (removed, cancelled, expired by the ORM), a line deleted, a
week's capacity edited — bumps the week's epoch and deletes its mark once its transaction commits
(`_note_changes`/`_apply_changes`); a mark computed before such a change is not written (the script
compares epochs). A held line being paid stays the child's line: the mark's field says so. Holds
that lapse give their place back at their `hold_expires_at`, which the mark's lifetime never passes.
`tests/test_admission.py` checks it never refuses what the locked check holds.
"""
from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from app.models import Reservation, ReservationStatus, Week, db
from app.services import tasks
from app.services.booking.capacity import live_condition, week_full_shortage
from app.services.booking.eligibility import ChildLine, Reason, week_reason
from app.services.localize import paris_today

log = logging.getLogger(__name__)

_PREFIX = "pf:adm"
_PENDING = "admission_freed_weeks"  # session.info: weeks given a place back in this transaction

# KEYS: the mark, the week's epoch. ARGV: the epoch read before the SQL, lifetime (ms), then field/value pairs.
_WRITE_MARK = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


def enabled() -> bool:
    return bool(current_app.config.get("ADMISSION_GATE", True))


def _keys(week_id: int) -> tuple[str, str]:
    return f"{_PREFIX}:{week_id}", f"{_PREFIX}:epoch:{week_id}"


def _connection():
    return tasks.state().connection


def refusal(week, household_id: int, child_id: int, now: datetime) -> Reason | None:
    """The rule's refusal from the week's mark, or None (no mark, or Redis unreachable)."""
    if not enabled():
        return None
    try:
        full, until, line = _connection().hmget(_keys(week.id)[0], "full", "until", f"c:{child_id}")
    except Exception as exc:  # noqa: BLE001 - the gate is an optimisation: without it PostgreSQL decides
        log.warning("admission gate unavailable: %s", exc.__class__.__name__)
        return None
    if until is None or now.timestamp() >= float(until):
        return None  # a hold may have lapsed since (Redis's own expiry is the backstop)
    today = paris_today(now)
    if line is not None:
        status, _, household = line.decode().partition(":")
        return week_reason(None, week, None, ChildLine(status, int(household)), household_id, today)
    if full is not None:
        return week_reason(None, week, week_full_shortage(week.id), None, household_id, today)
    return None


def remember_full(week_id: int, now: datetime) -> bool:
    """After a refusal « complet »: write the week's mark if one consistent read finds it full."""
    if not enabled():
        return False
    mark, epoch_key = _keys(week_id)
    try:
        connection = _connection()
        if connection.exists(mark):
            return False
        epoch = (connection.get(epoch_key) or b"0").decode()
    except Exception as exc:  # noqa: BLE001
        log.warning("admission gate unavailable: %s", exc.__class__.__name__)
        return False
    capacity = db.session.execute(select(Week.capacity).where(Week.id == week_id)).scalar()
    lines = db.session.execute(
        select(Reservation.child_id, Reservation.status, Reservation.household_id, Reservation.hold_expires_at)
        .where(Reservation.week_id == week_id, live_condition(now))).all()
    db.session.rollback()  # a read: end it, nothing is kept
    if capacity is None or len(lines) < capacity:
        return False
    lapses = [line.hold_expires_at for line in lines if line.status == ReservationStatus.HELD]
    seconds = float(current_app.config.get("ADMISSION_MARK_SECONDS", 30))
    if lapses:
        seconds = min(seconds, (min(lapses) - now).total_seconds())
    if seconds < 0.05:
        return False
    fields = ["full", "1", "until", repr(now.timestamp() + seconds)]
    for child_id, status, household_id, _lapse in lines:
        fields += [f"c:{child_id}", f"{status}:{household_id}"]
    try:
        written = _connection().register_script(_WRITE_MARK)(
            keys=[mark, epoch_key], args=[epoch, int(seconds * 1000), *fields])
    except Exception as exc:  # noqa: BLE001
        log.warning("admission gate unavailable: %s", exc.__class__.__name__)
        return False
    return bool(written)


def forget(week_ids) -> None:
    """A place came back in these weeks (committed): their marks go, and a mark being computed is void."""
    ids = sorted(set(week_ids))
    if not ids:
        return
    try:
        pipe = _connection().pipeline(transaction=True)
        for week_id in ids:
            mark, epoch_key = _keys(week_id)
            pipe.incr(epoch_key)
            pipe.expire(epoch_key, 86400)
            pipe.delete(mark)
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - the marks then end with their lifetime
        log.warning("admission gate: marks of weeks %s not cleared: %s", ids, exc.__class__.__name__)


def forget_all() -> None:
    """Every mark and epoch (tests truncating the tables, a restore)."""
    connection = _connection()
    keys = list(connection.scan_iter(match=f"{_PREFIX}:*", count=1000))
    if keys:
        connection.delete(*keys)


# --- what gives a place back ----------------------------------------------------------------

_CONFIRMED = "admission_confirmed_lines"  # session.info: (week, child, household) held → confirmed

# KEYS: the mark. ARGV: field, value. A paid line stays the child's line: update the mark if there is one.
_UPDATE_LINE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0
"""


def _changes(obj, deleted: bool) -> tuple[int | None, tuple[int, int, int] | None]:
    """(week given a place back, line now confirmed) by `obj`'s pending change; `deleted` when the
    flush deletes it (before the flush, `inspect(obj).deleted` is still false)."""
    state = inspect(obj)
    if isinstance(obj, Week):
        return (obj.id if state.attrs.capacity.history.has_changes() else None), None
    if deleted:
        return obj.week_id, None
    moved = state.attrs.week_id.history.deleted
    if moved:  # a line moved to another week gives its old week a place back
        return moved[0], None
    old = state.attrs.status.history.deleted
    if old and any(status in ReservationStatus.LIVE for status in old):
        if obj.status not in ReservationStatus.LIVE:
            return obj.week_id, None
        if obj.status == ReservationStatus.CONFIRMED:
            return None, (obj.week_id, obj.child_id, obj.household_id)
    return None, None


@event.listens_for(Session, "before_flush")
def _note_changes(session: Session, _context, _instances) -> None:
    deleted = session.deleted  # an IdentitySet: by identity (FAB's models are not hashable)
    for obj in list(session.dirty) + list(deleted):
        if isinstance(obj, (Reservation, Week)):
            freed, confirmed = _changes(obj, obj in deleted)
            if freed is not None:
                session.info.setdefault(_PENDING, set()).add(freed)
            if confirmed is not None:
                session.info.setdefault(_CONFIRMED, set()).add(confirmed)


@event.listens_for(Session, "after_commit")
def _apply_changes(session: Session) -> None:
    freed = session.info.pop(_PENDING, None)
    confirmed = session.info.pop(_CONFIRMED, None)
    if not (freed or confirmed) or not enabled():
        return
    if freed:
        forget(freed)
    try:
        script = _connection().register_script(_UPDATE_LINE)
        for week_id, child_id, household_id in sorted(confirmed or ()):
            if week_id not in (freed or ()):
                paid = f"{ReservationStatus.CONFIRMED}:{household_id}"
                script(keys=[_keys(week_id)[0]], args=[f"c:{child_id}", paid])
    except Exception as exc:  # noqa: BLE001 - the marks then end with their lifetime
        log.warning("admission gate: paid lines not noted: %s", exc.__class__.__name__)


@event.listens_for(Session, "after_soft_rollback")
def _drop_changes(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_CONFIRMED, None)
