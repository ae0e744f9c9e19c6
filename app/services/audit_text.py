"""An audit entry's before/after in French words, for staff screens (« Historique »).

The audit log keeps JSON (exact, for programs); a person reading a family's history needs
« Adresse : (vide) → 3 rue des Écoles », not `{"address_line": null, …}`. Only what changed is
shown when both sides are known; a creation shows what was set, a removal what was there.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from app.services.localize import (
    AUDIT_ENTITY_FIELD_LABELS,
    AUDIT_ENTITY_VALUE_LABELS,
    AUDIT_FIELD_LABELS,
    AUDIT_STATUS_LABELS,
    AUDIT_VALUE_LABELS,
    DOCUMENT_STATUS_LABELS,
    HOUSEHOLD_STATUS_LABELS,
    date_fr,
    datetime_fr,
    euros,
    label,
)

EMPTY = "(vide)"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@dataclass(frozen=True)
class Change:
    field: str  # French label
    before: str | None  # None: the side was not recorded (a creation or a removal)
    after: str | None


def _load(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {"value": raw}
    return value if isinstance(value, dict) else {"value": value}


def value_text(field: str, value: Any, entity: str | None = None,
               values: dict[str, dict[str, str]] | None = None) -> str:
    """One recorded value as a French reader expects it. `entity` (AuditLog.entity) picks the status
    table; `values` adds code tables the caller knows (a document's kind, from the household domain)."""
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return "oui" if value else "non"
    if field.endswith("_cents") and isinstance(value, int):
        return euros(value)
    if field == "status" and isinstance(value, str):
        if entity in AUDIT_STATUS_LABELS:
            return label(AUDIT_STATUS_LABELS[entity], value)
        return label({**DOCUMENT_STATUS_LABELS, **HOUSEHOLD_STATUS_LABELS}, value)
    table = ((values or {}).get(field) or AUDIT_ENTITY_VALUE_LABELS.get((entity or "", field))
             or AUDIT_VALUE_LABELS.get(field))
    if table is not None and isinstance(value, str) and value in table:
        return table[value]
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            return date_fr(date.fromisoformat(value))
        if _ISO_DATETIME.match(value):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                return value
            return datetime_fr(parsed) if parsed.tzinfo else date_fr(parsed)
        return value
    if isinstance(value, list):
        return " ; ".join(value_text(field, item, entity, values) for item in value)
    if isinstance(value, dict):
        return " ; ".join(f"{label(AUDIT_FIELD_LABELS, key)} : {value_text(key, item, entity, values)}"
                          for key, item in value.items())
    return str(value)


def field_label(field: str, entity: str | None = None) -> str:
    return AUDIT_ENTITY_FIELD_LABELS.get((entity or "", field)) or label(AUDIT_FIELD_LABELS, field)


def changes(before_json: str | None, after_json: str | None, entity: str | None = None,
            values: dict[str, dict[str, str]] | None = None) -> list[Change]:
    before, after = _load(before_json), _load(after_json)
    fields = list(dict.fromkeys([*(before or {}), *(after or {})]))
    result = []
    for field in fields:
        old = before.get(field) if before is not None else None
        new = after.get(field) if after is not None else None
        if before is not None and after is not None and field in before and field in after and old == new:
            continue
        result.append(Change(field_label(field, entity),
                             value_text(field, old, entity, values) if before is not None and field in before else None,
                             value_text(field, new, entity, values) if after is not None and field in after else None))
    return result
