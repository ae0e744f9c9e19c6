"""One owner of transactions: commit, rollback, and the database's refusals turned into typed errors.

Why one helper: a service that commits on one path and forgets to roll back on another leaves a
half-done change in the session that the next statement of the request then commits or trips
over. `unit_of_work()` (and `@transactional`) is the only place that ends a transaction:

* the block's work is committed when it ends normally, rolled back when anything escapes it;
* a lock that cannot be had within LOCK_TIMEOUT_SECONDS (PostgreSQL `lock_timeout`, SQLite
  `busy_timeout`) or a deadlock is not a failure of the portal: it becomes `Busy` and the parent
  is told to try again, nothing was recorded (DESIGN §4);
* a unique index that refuses a row is the last guard of a business rule (a child booked twice,
  a webhook replayed): the caller names, per constraint, the typed error that rule gives;
* a block opened inside another joins it: only the outermost block commits, so a service that
  calls another service never commits half of the caller's work;
* jobs deferred with `tasks.defer()` are enqueued by the session's after_commit, i.e. only once
  the outermost block has committed, and dropped when it rolls back.

Provider calls (Stripe…) never run inside a block: a service ends its block, makes the call,
then records the outcome in a second block.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Callable, Iterator, Mapping, ParamSpec, TypeVar, overload

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from app.models import db
from app.services.errors import Busy, ServiceError

BUSY_MESSAGE = ("Beaucoup de familles réservent en ce moment : votre demande n'a pas pu aboutir. "
                "Rien n'a été enregistré, réessayez dans quelques secondes.")

# A unique constraint's marker (its PostgreSQL name, or SQLite's "table.column" text) → the typed
# error of the rule it guards. Factories, so that the French message is translated when raised.
Duplicates = Mapping[str, Callable[[], ServiceError]]

_DEPTH = "portail_unit_of_work_depth"

P = ParamSpec("P")
R = TypeVar("R")


def is_lock_timeout(exc: OperationalError) -> bool:
    code = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(getattr(exc, "orig", None), "pgcode", None)
    if code in ("55P03", "40P01"):  # lock_not_available, deadlock_detected
        return True
    return "database is locked" in str(exc).lower()


def is_unique_violation(exc: IntegrityError) -> bool:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code == "23505":  # unique_violation
        return True
    return "unique constraint failed" in str(orig if orig is not None else exc).lower()


def typed_error(exc: BaseException, duplicates: Duplicates | None = None) -> ServiceError | None:
    """The typed error a database refusal stands for, or None when it is a genuine failure."""
    if isinstance(exc, OperationalError) and is_lock_timeout(exc):
        return Busy(BUSY_MESSAGE, code="busy")
    if isinstance(exc, IntegrityError) and duplicates and is_unique_violation(exc):
        text = str(exc.orig if exc.orig is not None else exc)
        for marker, make_error in duplicates.items():
            if marker in text:
                return make_error()
    return None


@contextmanager
def refusals_as_errors(duplicates: Duplicates | None = None) -> Iterator[None]:
    """Translate only, never end the transaction: for a function whose caller owns the transaction
    but has not opened it through `unit_of_work` (it commits or rolls back itself)."""
    try:
        yield
    except (OperationalError, IntegrityError) as exc:
        error = typed_error(exc, duplicates)
        if error is None:
            raise
        raise error from exc


def in_unit_of_work() -> bool:
    return db.session.info.get(_DEPTH, 0) > 0


def commit_asynchronously() -> None:
    """Let this transaction's commit return before its WAL record reaches the disk (PostgreSQL
    `synchronous_commit = off`, for this transaction only).

    Chosen per kind of write (DESIGN §4): a parent's hold may be lost if the database server crashes
    in the few hundred milliseconds after its commit (the parent then sees the week back in the
    offers and adds it again); nothing is ever corrupted and no overbooking follows, because
    capacity is still checked under the week lock. Payments, cancellations, credits and staff
    actions never call this: their commits wait for the disk. Only the outermost block decides: a
    hold made inside a larger transaction (a desk booking, a payment) commits as that one does."""
    session = db.session
    if session.info.get(_DEPTH, 0) != 1 or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SET LOCAL synchronous_commit = off"))


@contextmanager
def unit_of_work(duplicates: Duplicates | None = None) -> Iterator[None]:
    """Run the block in one transaction: commit at the end of the outermost block, roll back on any
    exception, lock timeouts → Busy, unique violations named in `duplicates` → their typed error.

    A nested block joins the outer one: it neither commits nor rolls back (an exception it lets
    through rolls back the outer block, unless the outer code catches it; to undo only part of a
    transaction, use a savepoint, `db.session.begin_nested()`)."""
    session = db.session
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        yield
        if depth == 0:
            session.commit()
    except BaseException as exc:
        if depth == 0:
            session.rollback()
        error = typed_error(exc, duplicates)
        if error is None:
            raise
        raise error from exc
    finally:
        session.info[_DEPTH] = depth


@overload
def transactional(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def transactional(*, duplicates: Duplicates | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def transactional(func=None, /, *, duplicates=None):
    """Decorator form of `unit_of_work`: `@transactional` or `@transactional(duplicates={...})`."""

    def decorate(inner):
        @functools.wraps(inner)
        def wrapper(*args, **kwargs):
            with unit_of_work(duplicates):
                return inner(*args, **kwargs)

        return wrapper

    return decorate(func) if func is not None else decorate
