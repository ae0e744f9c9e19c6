"""A household's confirmed weeks as an ICS calendar feed (RFC 5545, built with `icalendar`).

The feed lives at a secret address (no login: phones' calendar apps cannot log in): one random
token per household, created when the parent first asks for the link, replaced when the parent
renews it (the old address then answers 404). The feed holds one all-day event per confirmed week
with the child, the establishment and, for the bus, the circuit, the stop and its times.
"""
from __future__ import annotations

import secrets
from datetime import date, timedelta

from flask_babel import gettext as _
from icalendar import Calendar, Event
from sqlalchemy import select

from app.models import CalendarFeed, Household, db, utcnow
from app.services import audit
from app.services.booking.basket import reservations
from app.services.mail import public_url
from app.services.transactions import transactional

PRODID = "-//Pôle Jeunesse//Portail Familles//FR"


def _new_token() -> str:
    return secrets.token_urlsafe(32)


FEED_PATH = "/agenda/{token}.ics"  # app.views.parent.calendar.CalendarFeedView


def feed_url(token: str) -> str:
    """The feed's absolute address (what a calendar app subscribes to)."""
    return public_url(FEED_PATH.format(token=token))


def feed_token(household_id: int) -> str | None:
    """The household's current feed token, or None when the parent never asked for the link."""
    return db.session.execute(
        select(CalendarFeed.token).where(CalendarFeed.household_id == household_id)).scalar_one_or_none()


@transactional
def ensure_feed_token(household_id: int, *, actor=None) -> str:
    """The household's feed token, created on first request."""
    feed = db.session.get(CalendarFeed, household_id)
    if feed is None:
        feed = CalendarFeed(household_id=household_id, token=_new_token(), created_at=utcnow())
        db.session.add(feed)
        audit.record("calendar_feed_created", "household", household_id, actor=actor, household_id=household_id)
    return feed.token


@transactional
def renew_feed_token(household_id: int, *, actor=None) -> str:
    """A new secret address: the previous one stops working at once."""
    feed = db.session.get(CalendarFeed, household_id, with_for_update=True)
    if feed is None:
        feed = CalendarFeed(household_id=household_id)
        db.session.add(feed)
    feed.token = _new_token()
    feed.created_at = utcnow()
    audit.record("calendar_feed_renewed", "household", household_id, actor=actor, household_id=household_id)
    return feed.token


def household_for_token(token: str) -> int | None:
    """The household whose feed this token opens; None for an unknown or renewed-away token."""
    if not token or len(token) > 64:
        return None
    # An erased household's feed is gone too (its past weeks stay only for the accounts).
    return db.session.execute(
        select(CalendarFeed.household_id).join(Household, Household.id == CalendarFeed.household_id)
        .where(CalendarFeed.token == token, Household.erased_at.is_(None))).scalar_one_or_none()


def household_calendar(household_id: int) -> bytes:
    """The ICS document of the household's confirmed weeks."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", _("Inscriptions — Pôle Jeunesse"))
    stamp = utcnow()
    for row in reservations(household_id):
        calendar.add_component(_week_event(row, stamp))
    return calendar.to_ical()


def _week_event(row: dict, stamp) -> Event:
    child, week, establishment = row["child"], row["week"], row["establishment"]
    transport = row["transport"]
    event = Event()
    event.add("uid", f"reservation-{row['id']}@portail-familles")
    event.add("dtstamp", stamp)
    event.add("dtstart", date.fromisoformat(week["starts_on"]))
    # All-day events end the day after their last day (RFC 5545: DTEND is exclusive).
    event.add("dtend", date.fromisoformat(week["ends_on"]) + timedelta(days=1))
    event.add("summary", f"{child['first_name']} — {establishment['name']}")
    lines = [f"{row['period']['name']}, {week['label']}"]
    if transport["mode"] == "bus" and transport["stop"]:
        stop = transport["stop"]
        circuit = transport["circuit"]["name"] if transport["circuit"] else ""
        lines.append(_("Bus %(circuit)s, arrêt %(stop)s : montée à %(pickup)s, retour à %(dropoff)s.",
                       circuit=circuit, stop=stop["name"], pickup=stop["pickup_time"],
                       dropoff=stop["dropoff_time"]))
        event.add("location", _("Arrêt %(stop)s", stop=stop["name"]))
    else:
        lines.append(_("Accueil sur site (sans bus)."))
        event.add("location", establishment["name"])
    event.add("description", "\n".join(lines))
    event.add("status", "CONFIRMED")
    event.add("transp", "TRANSPARENT")
    return event
