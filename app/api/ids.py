"""The bound of every id the API accepts, in a module of its own so the schemas need nothing else.

Ids are INTEGER columns: PostgreSQL refuses a value beyond 32 bits with an error (a 500), so such an
id can only be "not found". The request guard of app/views/hardening.py owns the number and answers
404 for URL ids beyond it before any view runs; the API's schemas validate body and path ids against
the very same constant, so the two can never disagree. When the constant moves to a neutral module,
only this import changes.
"""
from __future__ import annotations

from app.views.hardening import MAX_ID

MIN_ID = 1

__all__ = ["MAX_ID", "MIN_ID"]
