"""The waiting room's door on the booking API (offers, add to basket): a decorator over
app/services/booking/waiting_room.py, placed under `@protect()`.

A queued parent's refresh is answered before anything else (`early_answer`, called by the light
gate, app/api/gate.py): the JWT's signature (verified once per process) names the user, the room is
one Redis script, so a 429 costs no database statement and leaves the workers to the admitted. Who is
admitted then goes through the whole gate (stamp, roles, household) before the route runs; a token
whose password or role changed meanwhile may learn its place in the queue, nothing more.

The client holds its ticket in the `X-Waiting-Room-Ticket` header: every answer of a guarded
route while the room is in force carries the ticket to send next. A parent whose turn has not
come gets 429 with `code: waiting_room` and, in `details`, their position, the estimated wait and
the ticket, with Retry-After; once admitted, the answer carries a pass that lets them in without a second wait.
"""
from __future__ import annotations

import functools

from flask import g, request
from flask_jwt_extended import decode_token

from app.api import schemas
from app.api.common import answer
from app.services.booking import waiting_room

HEADER = schemas.WAITING_ROOM_HEADER


_DECIDED = "_waiting_room_decision"


def early_answer():
    """The room's 429 for a bearer token's user whose turn has not come, before the gate reads the
    database; None to go on (room not in force, no or bad token: the gate answers, or admitted: the
    decision waits in `g` for `queued`)."""
    if not waiting_room.in_force():
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        return None
    try:
        claims = decode_token(token)
        user_id = int(claims["sub"])
    except Exception:  # noqa: BLE001 - any bad token: the gate's own 401
        return None
    if claims.get("type") != "access":
        return None
    decision = waiting_room.enter(user_id, request.headers.get(HEADER))
    if decision.admitted:
        g.setdefault(_DECIDED, {})[user_id] = decision
        return None
    return _queue_answer(decision)


def queued(fn):
    """Let the caller in, or answer 429 with their place in the queue."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        if not waiting_room.in_force():
            return fn(self, *args, **kwargs)
        user = g.user
        decision = g.get(_DECIDED, {}).get(user.id) or waiting_room.enter(user.id, request.headers.get(HEADER))
        if decision.admitted:
            response = fn(self, *args, **kwargs)
            if decision.token:
                response.headers[HEADER] = decision.token
            return response
        return _queue_answer(decision)

    wrapper._waiting_room = early_answer  # type: ignore[attr-defined]  # the gate asks it first
    return wrapper


def _queue_answer(decision):
    response = answer(429, schemas.reason_answer, {
        "code": "waiting_room", "message": waiting_room.queue_message(decision),
        "details": {"position": decision.position, "wait_seconds": decision.wait_seconds,
                    "ticket": decision.token}})
    response.headers["Retry-After"] = str(decision.refresh_seconds)
    response.headers[HEADER] = decision.token or ""
    response.headers["Cache-Control"] = "no-store"
    return response

