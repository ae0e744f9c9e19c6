"""Every state change is audited: who, when, what, before and after (DESIGN.md §3.7)."""
from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any

from app.models import AuditLog, db

SYSTEM = "système"


def _default(value: Any):
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value)


def snapshot(obj, fields: list[str]) -> dict:
    return {f: getattr(obj, f) for f in fields}


def apply_changes(obj, values: dict) -> tuple[dict, dict]:
    """Set `values` on `obj` and return (before, after) of the fields that really changed, for `record`."""
    before = snapshot(obj, list(values))
    for field, value in values.items():
        setattr(obj, field, value)
    changed = [field for field in values if before[field] != values[field]]
    return {f: before[f] for f in changed}, {f: values[f] for f in changed}


def record(action: str, entity: str, entity_id: int | None, *, actor=None, household_id: int | None = None,
           before: dict | None = None, after: dict | None = None) -> AuditLog:
    """Add an audit row to the current session; it commits (or rolls back) with the change it describes.
    `actor` is a FAB user, or None for the system (jobs, webhooks)."""
    entry = AuditLog(
        actor_id=getattr(actor, "id", None),
        actor_label=(getattr(actor, "email", None) or getattr(actor, "username", None) or SYSTEM),
        action=action,
        entity=entity,
        entity_id=entity_id,
        household_id=household_id,
        before=json.dumps(before, default=_default, ensure_ascii=False, sort_keys=True) if before is not None else None,
        after=json.dumps(after, default=_default, ensure_ascii=False, sort_keys=True) if after is not None else None,
    )
    db.session.add(entry)
    return entry
