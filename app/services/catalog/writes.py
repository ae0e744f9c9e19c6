"""Audited catalogue writes: check the rules, then record who changed what, before/after.

The staff screens are Flask-AppBuilder ModelViews: the form fills the row, then FAB calls a hook
(pre_add / pre_update / pre_delete) and commits. These functions are those hooks' whole body. They
flush the change and add the audit row to the same session, so FAB's single commit writes both or
neither: an audit entry never describes a change that did not happen, and no change goes unaudited
(DESIGN.md §3.7). A refusal raises a ServiceError before anything is flushed; the caller rolls back.
The same flush bumps the catalogue version (a flush listener, app/services/booking/catalogue_snapshot.py),
so the parents' offers show the change on their very next call.

Audit entries name the entity by its table (« week », « tariff_bracket »…), like every other audit
entry, and keep every column; an edit records only the columns that really changed.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import IntegrityError

from app.models import Circuit, Period, db
from app.services import audit
from app.services.booking.waitlist_offers import offer_freed_places
from app.services.catalog.rules import CHECKS, DELETE_CHECKS
from app.services.errors import ValidationFailed

log = logging.getLogger(__name__)

# Rows removed with their parent by the ORM cascade: audited one by one, since each disappears.
CASCADES: dict[type, tuple[str, ...]] = {Period: ("weeks", "tariffs", "circuits"), Circuit: ("stops",)}


def entity_of(item: Any) -> str:
    return item.__tablename__


def columns(item: Any) -> list[str]:
    return [attr.key for attr in sa_inspect(type(item)).column_attrs]


def _plain(value: Any) -> Any:
    """Datetimes in UTC: the form gives Paris time, the database gives UTC back; both mean the same."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc)
    return value


def state(item: Any) -> dict:
    return {key: _plain(value) for key, value in audit.snapshot(item, columns(item)).items()}


def state_before_edit(item: Any) -> dict:
    """The column values as loaded from the database, although the form has already set new ones
    (FAB calls pre_update after populate_obj): SQLAlchemy keeps the loaded value in the history."""
    attrs = sa_inspect(item).attrs
    before = {}
    for key in columns(item):
        history = attrs[key].load_history()
        value = history.deleted[0] if history.deleted else getattr(item, key)
        before[key] = _plain(value)
    return before


def _check(item: Any, before: dict | None) -> None:
    check = CHECKS.get(type(item))
    if check is None:
        raise TypeError(f"not a catalogue row: {item!r}")
    with db.session.no_autoflush:
        check(item, before)


def _flush() -> None:
    """The database has the last word (unique names, races between two staff): its refusal becomes
    a French message instead of an SQL error."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        log.info("catalogue write refused by the database: %s", exc.orig)
        raise ValidationFailed(_("Enregistrement impossible : cette fiche entre en conflit avec une autre "
                                 "(nom ou numéro déjà utilisé). Rien n'a été modifié."), code="integrity") from exc


def audited_add(item: Any, actor: Any) -> None:
    _check(item, None)
    db.session.add(item)
    _flush()
    entity = entity_of(item)
    audit.record(f"{entity}.added", entity, item.id, actor=actor, after=state(item))


def audited_update(item: Any, actor: Any) -> None:
    before = state_before_edit(item)
    _check(item, before)
    _flush()
    after = state(item)
    changed = [key for key in after if after[key] != before[key]]
    if not changed:
        return
    entity = entity_of(item)
    audit.record(f"{entity}.updated", entity, item.id, actor=actor,
                 before={key: before[key] for key in changed}, after={key: after[key] for key in changed})
    weeks = [item.id] if entity == "week" else [w.id for w in item.period.weeks] if entity == "circuit" else []
    offer_freed_places(weeks)  # a raised capacity or seat count goes to the waiting lists (same commit)


def audited_delete(item: Any, actor: Any) -> None:
    check = DELETE_CHECKS.get(type(item))
    if check is not None:
        with db.session.no_autoflush:
            check(item)
    for row in _with_cascade(item):
        entity = entity_of(row)
        audit.record(f"{entity}.deleted", entity, row.id, actor=actor, before=state(row))


def _with_cascade(item: Any) -> list[Any]:
    rows = [item]
    for relation in CASCADES.get(type(item), ()):
        for child in getattr(item, relation):
            rows.extend(_with_cascade(child))
    return rows
