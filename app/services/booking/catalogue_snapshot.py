"""The catalogue as plain, read-only data, kept per process for as long as its version stands.

Why: the offers page is what every parent refreshes at the minute registrations open, and it used
to reload establishments, periods, weeks, tariffs, circuits and stops on every call (five
statements, most of its CPU) although they only change in the staff screens. The snapshot keeps
them per process and application; each request reads one version number (folded into the query
that loads the household and the child, `eligibility.offers`) and rebuilds the snapshot only when
it moved. Places left and the child's own lines are never cached: they are counted live.

The version is a row of `security_version` named ``catalog``, bumped in the very transaction of
every write to a catalogue row: a flush listener sees every ORM write (the staff catalogue screens
through app/services/catalog/writes.py, the demo data, the tests' factories, any screen added
later), and an execution listener sees bulk UPDATE/DELETE/INSERT statements sent through the
session on a catalogue table. A change is visible on the very next offers call, in every process:
there is no stale window. Only statements that bypass the session (raw SQL on a connection,
TRUNCATE) are not seen; nothing in the portal writes the catalogue that way.

The snapshot's rows carry every column of their model under the same attribute names, and the
catalogue relationships (period.establishment/weeks/tariffs/circuits, week.period, circuit.stops…)
as tuples, so the rule functions (`eligibility.week_reason`, `period_reason`, pricing) and the
templates read them exactly as they read ORM objects. They are never ORM instances: nothing is
shared between sessions or threads but immutable values.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import event, inspect, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.models import Circuit, Establishment, Period, SecurityVersion, Stop, TariffBracket, Week, db

CATALOG = "catalog"
CATALOGUE_MODELS = (Establishment, Period, Week, TariffBracket, Circuit, Stop)
_TABLES = frozenset(model.__tablename__ for model in CATALOGUE_MODELS)
_EXTENSION = "catalogue_snapshot"
_PENDING = "catalogue_changed_in"  # session.info key: the transaction that wrote the catalogue


# --- the version -----------------------------------------------------------------------------

def version_column():
    """A scalar subquery of the catalogue version (0 before any write), to fold into a query."""
    return (select(SecurityVersion.version).where(SecurityVersion.name == CATALOG)
            .scalar_subquery())


def catalogue_version() -> int:
    return db.session.execute(
        select(SecurityVersion.version).where(SecurityVersion.name == CATALOG)).scalar() or 0


def bump_catalogue_version(connection) -> None:
    """+1 in the caller's transaction (an upsert: the first bump creates the row)."""
    dialect = connection.dialect.name
    table = SecurityVersion.__table__
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(table).values(name=CATALOG, version=1)
        connection.execute(statement.on_conflict_do_update(
            index_elements=[table.c.name], set_={"version": table.c.version + 1}))
        return
    result = connection.execute(update(SecurityVersion).where(SecurityVersion.name == CATALOG)
                                .values(version=SecurityVersion.version + 1))
    if not result.rowcount:
        connection.execute(table.insert().values(name=CATALOG, version=1))


def changes_catalogue(session: Session) -> bool:
    """Does the flush under way write a catalogue row?"""
    if any(isinstance(obj, CATALOGUE_MODELS) for obj in session.new):
        return True
    if any(isinstance(obj, CATALOGUE_MODELS) for obj in session.deleted):
        return True
    return any(isinstance(obj, CATALOGUE_MODELS) and session.is_modified(obj) for obj in session.dirty)


def _mark_and_bump(session: Session) -> None:
    bump_catalogue_version(session.connection())
    # This transaction now sees a catalogue nobody else sees yet (and that may be rolled back):
    # its offers must not fill the shared snapshot.
    session.info[_PENDING] = session.get_transaction()


@event.listens_for(Session, "after_flush")
def _bump_on_catalogue_flush(session: Session, _flush_context) -> None:
    # after_flush: the rows are written and new/dirty/deleted still describe the flush; the bump
    # joins the same transaction, so it commits (or rolls back) with the change itself.
    if changes_catalogue(session):
        _mark_and_bump(session)


@event.listens_for(Session, "do_orm_execute")
def _bump_on_catalogue_statement(state) -> None:
    """A bulk UPDATE/DELETE/INSERT sent through the session on a catalogue table."""
    if not (state.is_update or state.is_delete or getattr(state, "is_insert", False)):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _TABLES:
        _mark_and_bump(state.session)


def _pending_in(session: Session) -> bool:
    pending = session.info.get(_PENDING)
    return pending is not None and session.in_transaction() and pending is session.get_transaction()


# --- the snapshot ----------------------------------------------------------------------------

class Row:
    """One catalogue row as read-only plain data (the model's attribute names)."""

    __tablename__ = ""

    if TYPE_CHECKING:  # the columns are set per instance, under the model's names
        def __getattr__(self, name: str) -> Any: ...

    def __init__(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the catalogue snapshot is read-only ({self.__tablename__}.{name})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"the catalogue snapshot is read-only ({self.__tablename__}.{name})")

    def _link(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self, 'id', None)}>"


class EstablishmentRow(Row):
    __tablename__ = Establishment.__tablename__


class PeriodRow(Row):
    __tablename__ = Period.__tablename__


class WeekRow(Row):
    __tablename__ = Week.__tablename__


class TariffRow(Row):
    __tablename__ = TariffBracket.__tablename__


class CircuitRow(Row):
    __tablename__ = Circuit.__tablename__


class StopRow(Row):
    __tablename__ = Stop.__tablename__


@dataclass(frozen=True)
class Catalogue:
    """The active establishments (by name) and all their periods (by first day, then id); their
    weeks by id (the fast hold's look-up)."""

    version: int
    establishments: tuple[Any, ...]
    periods: tuple[Any, ...]
    weeks: dict[int, Any]


def _rows(model, row_class, where) -> list[Row]:
    keys = [attr.key for attr in inspect(model).column_attrs]
    result = db.session.execute(select(*[getattr(model, key) for key in keys]).where(where))
    return [row_class(dict(zip(keys, values))) for values in result]


def _children(rows: list[Row], parent_key: str, sort_key) -> dict[int, tuple[Row, ...]]:
    grouped: dict[int, list[Row]] = {}
    for row in rows:
        grouped.setdefault(getattr(row, parent_key), []).append(row)
    return {parent: tuple(sorted(items, key=sort_key)) for parent, items in grouped.items()}


def load_catalogue(version: int) -> Catalogue:
    """Read the catalogue (six statements, Core rows: nothing enters the session) into a snapshot.
    Orders follow the models' relationships; ties go by id."""
    establishments = sorted(_rows(Establishment, EstablishmentRow, Establishment.active.is_(True)),
                            key=lambda e: (e.name, e.id))
    establishment_ids = [e.id for e in establishments]
    periods = _rows(Period, PeriodRow, Period.establishment_id.in_(establishment_ids)) if establishment_ids else []
    period_ids = [p.id for p in periods]
    weeks = _rows(Week, WeekRow, Week.period_id.in_(period_ids)) if period_ids else []
    tariffs = _rows(TariffBracket, TariffRow, TariffBracket.period_id.in_(period_ids)) if period_ids else []
    circuits = _rows(Circuit, CircuitRow, Circuit.period_id.in_(period_ids)) if period_ids else []
    circuit_ids = [c.id for c in circuits]
    stops = _rows(Stop, StopRow, Stop.circuit_id.in_(circuit_ids)) if circuit_ids else []

    stops_of = _children(stops, "circuit_id", lambda s: (s.position, s.id))
    for circuit in circuits:
        circuit._link("stops", stops_of.get(circuit.id, ()))
        for stop in circuit.stops:
            stop._link("circuit", circuit)
    weeks_of = _children(weeks, "period_id", lambda w: (w.starts_on, w.id))
    tariffs_of = _children(tariffs, "period_id", lambda t: (t.qf_min, t.id))
    circuits_of = _children(circuits, "period_id", lambda c: (c.name, c.id))
    by_id = {e.id: e for e in establishments}
    for period in periods:
        period._link("establishment", by_id[period.establishment_id])
        for name, children in (("weeks", weeks_of), ("tariffs", tariffs_of), ("circuits", circuits_of)):
            period._link(name, children.get(period.id, ()))
            for child in getattr(period, name):
                child._link("period", period)
    periods_of = _children(periods, "establishment_id", lambda p: (p.starts_on, p.id))
    for establishment in establishments:
        establishment._link("periods", periods_of.get(establishment.id, ()))
    return Catalogue(version, tuple(establishments),
                     tuple(sorted(periods, key=lambda p: (p.starts_on, p.id))),
                     {week.id: week for period in periods for week in period.weeks})


class _Store:
    """Per process and application: the snapshot at one version."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.catalogue: Catalogue | None = None


def _store() -> _Store:
    store = current_app.extensions.get(_EXTENSION)
    if store is None:
        store = current_app.extensions.setdefault(_EXTENSION, _Store())
    return store


def catalogue_at(version: int) -> Catalogue:
    """The snapshot at `version` (read in the caller's transaction): the kept one when it stands,
    else a fresh read, kept for the next requests unless this transaction wrote the catalogue
    itself (its view is not committed, and may never be)."""
    store = _store()
    current = store.catalogue
    if current is not None and current.version == version:
        return current
    if _pending_in(db.session()):
        return load_catalogue(version)
    with store.lock:  # one rebuild at a time per process; the others wait for it and reuse it
        current = store.catalogue
        if current is not None and current.version == version:
            return current
        catalogue = load_catalogue(version)
        store.catalogue = catalogue
        return catalogue


def forget(app) -> None:
    """Drop the kept snapshot (a database emptied behind the session's back, e.g. by the tests)."""
    app.extensions.pop(_EXTENSION, None)
