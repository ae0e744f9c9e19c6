"""The waiting room's door on the parent booking pages (/famille/inscrire…): a thin before_request
hook over app/services/booking/waiting_room.py.

While the room is in force (WAITING_ROOM=on, or auto around a period's opening), a logged-in
parent reaching a booking page either goes in (holding a pass, or now admitted: the pass is set as
a cookie) or gets the French queue page with their position and estimated wait, which refreshes
itself (app/static/waiting-room.js; strict CSP: no inline script). Anonymous visitors go on to the
login page as usual; staff, the desk, the basket and payments never pass through this door.
"""
from __future__ import annotations

from flask import Flask, current_app, g, make_response, render_template, request, session

from app.roles import ADMIN, PARENT, STAFF
from app.services.booking import waiting_room

COOKIE = "portail_salle"
COOKIE_PATH = "/famille/inscrire"
# The booking pages: choosing a child, an establishment, a period's weeks (and adding them).
GUARDED = ("ParentBookingView.",)


def _session_user_id() -> int | None:
    """The logged-in user's id from the signed session, without loading the user."""
    value = session.get("_user_id")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _is_parent() -> bool:
    user = getattr(g, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    names = {role.name for role in user.roles}
    return PARENT in names and not names & {STAFF, ADMIN}


def _door():
    if not (request.endpoint or "").startswith(GUARDED) or not waiting_room.in_force():
        return None
    user_id = _session_user_id()
    if user_id is None:
        return None  # the login page comes first
    token = request.cookies.get(COOKIE)
    # A ticket proves a parent queued; without one, only a parent's account is queued (checked once).
    if not waiting_room.holds_ticket(user_id, token) and not _is_parent():
        return None
    decision = waiting_room.enter(user_id, token)
    if decision.admitted:
        g.waiting_room_token = decision.token
        return None
    response = make_response(render_template(
        "parent/waiting_room.html", position=decision.position, ahead=waiting_room.families_ahead(decision.position),
        wait=waiting_room.wait_text(decision.wait_seconds), refresh_seconds=decision.refresh_seconds,
        again_url=request.full_path if request.query_string else request.path))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Retry-After"] = str(decision.refresh_seconds)
    _set_cookie(response, decision.token)
    return response


def _set_cookie(response, token: str | None) -> None:
    if token:
        response.set_cookie(COOKIE, token, max_age=12 * 3600, path=COOKIE_PATH, httponly=True, samesite="Lax",
                            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))


def _hand_pass(response):
    token = g.pop("waiting_room_token", None)
    _set_cookie(response, token)
    return response


def register(appbuilder) -> None:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]  # views register in its context
    app.before_request(_door)
    app.after_request(_hand_pass)
