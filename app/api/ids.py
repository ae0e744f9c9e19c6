"""The bound of every id the API accepts (the INTEGER columns' range, app.models.types)."""
from __future__ import annotations

from app.models.types import MAX_ID, MIN_ID

__all__ = ["MAX_ID", "MIN_ID"]
