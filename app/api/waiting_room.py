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

from flask import g, jsonify, make_response, request

from app.services.booking import waiting_room

HEADER = "X-Waiting-Room-Ticket"

# The 429 answer in the OpenAPI document (PortalBaseApi.responses).
RESPONSE = {
    "description": "Salle d'attente (code waiting_room) : trop de familles à la fois. `details` donne "
                   "`position` (1 : la prochaine famille à entrer), `wait_seconds` (attente estimée) et "
                   "`ticket`. Renvoyer la requête après Retry-After secondes avec l'en-tête "
                   "X-Waiting-Room-Ticket reçu ; les familles entrent dans l'ordre d'arrivée.",
    "headers": {
        "Retry-After": {"schema": {"type": "integer"}, "description": "Secondes avant de réessayer."},
        HEADER: {"schema": {"type": "string"}, "description": "Le ticket à renvoyer (place dans la file)."},
    },
    # The API's one error shape; `details` carries position (1: next to go in), wait_seconds, ticket.
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PortalReason"}}},
}


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
        wait = waiting_room.wait_text(decision.wait_seconds)
        ahead = decision.position - 1
        message = ("Beaucoup de familles s'inscrivent en ce moment : vous êtes la prochaine à entrer. "
                   if ahead == 0 else
                   f"Beaucoup de familles s'inscrivent en ce moment : {ahead} famille{'s' if ahead > 1 else ''} "
                   "avant vous. ")
        message += f"Attente estimée : {wait}. Votre place est gardée : réessayez avec votre ticket."
        response = make_response(jsonify({"code": "waiting_room", "message": message, "details": {
            "position": decision.position, "wait_seconds": decision.wait_seconds, "ticket": decision.token}}), 429)
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        response.headers["Retry-After"] = str(decision.refresh_seconds)
        response.headers[HEADER] = decision.token or ""
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapper

