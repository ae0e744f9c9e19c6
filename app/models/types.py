"""Column types shared by every model."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

# Ids are INTEGER columns: PostgreSQL refuses values beyond 32 bits with an error (a 500), while
# Werkzeug's <int:…> converter accepts any number of digits. Such an id can only be "not found":
# the request guard (app.views.hardening) and the API's schemas (app.api.ids) share this bound.
MAX_ID = 2**31 - 1
MIN_ID = 1
_ASCII_NUMBER = re.compile(r"[0-9]{1,12}")


def parse_id(value: Any) -> int | None:
    """A positive id from a URL, a query string, a form or a JSON body, else None (→ "not found",
    never a 500): ASCII digits only (`int()` takes "٣" and chokes on "²"), within MIN_ID..MAX_ID.
    The one id parser of views, API and services."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        text = value.strip() if isinstance(value, str) else ""
        if not _ASCII_NUMBER.fullmatch(text):
            return None
        number = int(text)
    return number if MIN_ID <= number <= MAX_ID else None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC timestamps on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are stored as naive UTC
    and made aware again on the way out. Naive values given by code are refused: they are bugs.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
