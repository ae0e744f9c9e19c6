"""A phone's queue of ticks, attendance and boarding mixed, applied in the order it was recorded.

Each tick is its own transaction: a tick refused (a child no longer booked, a closed day) never
blocks the ones behind it, and the phone learns the outcome of each by its client id.
"""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _

from app.services.errors import ServiceError
from app.services.operations.attendance import REFUSED, TickResult, apply_attendance_tick
from app.services.operations.boarding import apply_boarding_tick

MAX_TICKS = 500  # a day of a big ALSH ticked twice over: more is not a phone's queue


def sync(ticks: list, *, user_id: int | None, today: date | None = None) -> list[TickResult]:
    results = []
    for tick in ticks[:MAX_TICKS]:
        if not isinstance(tick, dict):
            results.append(TickResult("", REFUSED, "invalid", _("Pointage illisible.")))
            continue
        try:
            if tick.get("kind") == "boarding":
                results.append(apply_boarding_tick(tick, user_id=user_id, today=today))
            else:
                results.append(apply_attendance_tick(tick, user_id=user_id, today=today))
        except ServiceError as exc:
            results.append(TickResult(str(tick.get("client_id") or "")[:64], REFUSED, exc.code, exc.message))
    return results
