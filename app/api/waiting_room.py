"""The waiting room's door on the booking API (offers, add to basket): a decorator over
app/services/booking/waiting_room.py, placed under `@protect()` so that only an authorised parent
(the light gate has resolved `g.user`) is queued.

The client holds its ticket in the `X-Waiting-Room-Ticket` header: every answer of a guarded
route while the room is in force carries the ticket to send next. A parent whose turn has not
come gets 429 with `code: waiting_room` and, in `details`, their position, the estimated wait and
the ticket, with Retry-After; once admitted, the answer carries a pass that lets them in without a second wait.
"""
from __future__ import annotations

import functools

from flask import g, request

from app.api import schemas
from app.api.common import answer
from app.services.booking import waiting_room

HEADER = schemas.WAITING_ROOM_HEADER


def queued(fn):
    """Let the caller in, or answer 429 with their place in the queue."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        if not waiting_room.in_force():
            return fn(self, *args, **kwargs)
        user = g.user
        decision = waiting_room.enter(user.id, request.headers.get(HEADER))
        if decision.admitted:
            response = fn(self, *args, **kwargs)
            if decision.token:
                response.headers[HEADER] = decision.token
            return response
        response = answer(429, schemas.reason_answer, {
            "code": "waiting_room", "message": waiting_room.queue_message(decision),
            "details": {"position": decision.position, "wait_seconds": decision.wait_seconds,
                        "ticket": decision.token}})
        response.headers["Retry-After"] = str(decision.refresh_seconds)
        response.headers[HEADER] = decision.token or ""
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapper

