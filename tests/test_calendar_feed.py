"""« Mon agenda » (issue 20): a household's confirmed weeks as a private ICS feed at a secret address,
renewable (the old address then answers 404), reachable from « Mes inscriptions », and the same
link in the parent API. Only the household's own confirmed weeks are in it."""
from __future__ import annotations

import re
from datetime import date, timedelta

from icalendar import Calendar

from tests.credit_helpers import add, book_and_pay
from tests.support.clients import jwt_headers


def _feed_path(url: str) -> str:
    match = re.search(r"(/agenda/[A-Za-z0-9_-]{40,64}\.ics)$", url)
    assert match, url
    return match.group(1)


def _events(response):
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    return [c for c in Calendar.from_ical(response.data).walk("VEVENT")]


def test_feed_holds_confirmed_weeks_with_the_bus_stop_and_renews(app, factory, client, make_client, login):
    from app.models import Stop, Week, db

    cat = factory.catalog(capacities=(10, 10), name="ALSH Les Cigales")
    fam = factory.household(last_name="Martin", children=[("Emma", 8), ("Noé", 6)])
    bus_line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0], stop_id=cat.stop_ids[1])
    book_and_pay(app, fam.id, fam.child_ids[1], cat.week_ids[1])
    add(app, fam.id, fam.child_ids[0], cat.week_ids[1])  # in the basket, unpaid: not in the feed
    other = factory.household(last_name="Autre", children=[("Zoé", 8)])
    book_and_pay(app, other.id, other.child_ids[0], cat.week_ids[0])

    login(client, fam.email)
    page = client.get("/famille/inscriptions/").get_data(as_text=True)
    assert 'id="calendar-link" href="/famille/agenda' in page
    first = client.get("/famille/agenda/").get_data(as_text=True)
    assert "Créer mon lien d'agenda" in first and 'id="calendar-url"' not in first  # no link until asked for
    assert client.post("/famille/agenda/creer").status_code == 302
    shown = client.get("/famille/agenda/").get_data(as_text=True)
    url = re.search(r'id="calendar-url" type="text" readonly value="([^"]+)"', shown).group(1)
    assert 'href="webcal://' in shown
    path = _feed_path(url)

    feed = make_client().get(path)  # no login: a calendar app fetches it
    events = sorted(_events(feed), key=lambda e: e.decoded("dtstart"))
    assert len(events) == 2
    with app.app_context():
        week = db.session.get(Week, cat.week_ids[0])
        stop = db.session.get(Stop, cat.stop_ids[1])
        starts, ends, stop_name = week.starts_on, week.ends_on, stop.name
        pickup = stop.pickup_time.strftime("%H:%M")
    bus = events[0]
    assert bus.decoded("dtstart") == starts and bus.decoded("dtend") == ends + timedelta(days=1)
    assert str(bus["summary"]) == "Emma — ALSH Les Cigales"
    assert stop_name in str(bus["location"]) and f"montée à {pickup}" in str(bus["description"])
    assert str(bus["uid"]) == f"reservation-{bus_line}@portail-familles"
    assert "Accueil sur site" in str(events[1]["description"]) and str(events[1]["summary"]).startswith("Noé")
    assert isinstance(events[1].decoded("dtstart"), date)

    # The same link from the API; renewing gives a new one and the old one stops working.
    headers = jwt_headers(make_client(), fam.email)
    assert client.get("/api/v1/portal/calendar", headers=headers).json == {"url": url}
    assert client.post("/famille/agenda/renouveler").status_code == 302
    assert make_client().get(path).status_code == 404
    renewed = client.get("/api/v1/portal/calendar", headers=headers).json["url"]
    assert renewed != url and make_client().get(_feed_path(renewed)).status_code == 200
    by_api = client.post("/api/v1/portal/calendar/renew", headers=headers)
    assert by_api.status_code == 200 and by_api.json["url"] != renewed
    assert make_client().get(_feed_path(renewed)).status_code == 404
    assert client.post("/api/v1/portal/calendar", headers=headers).json["url"] == by_api.json["url"]

    # Another household: its own link, its own weeks only; a guessed address is a 404.
    other_headers = jwt_headers(make_client(), other.email)
    assert client.get("/api/v1/portal/calendar", headers=other_headers).json == {"url": None}
    other_url = client.post("/api/v1/portal/calendar", headers=other_headers).json["url"]
    other_events = _events(make_client().get(_feed_path(other_url)))
    assert [str(e["summary"]) for e in other_events] == ["Zoé — ALSH Les Cigales"]
    assert make_client().get("/agenda/" + "x" * 43 + ".ics").status_code == 404
    assert make_client().get("/agenda/" + "x" * 200 + ".ics").status_code == 404
    assert client.get("/api/v1/portal/calendar").status_code == 401


def test_calendar_routes_are_in_the_openapi_document(app, factory, client):
    admin = factory.admin()
    spec = client.get("/api/v1/_openapi", headers=jwt_headers(client, admin.email)).get_json()
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/portal/calendar"])
    assert "post" in spec["paths"]["/api/v1/portal/calendar/renew"]
    assert "PortalCalendar" in spec["components"]["schemas"]


def test_an_erased_household_has_no_feed(app, factory, make_client):
    """Erasing a family's data (issue 19) deletes its feed address; a feed whose household was
    erased by any other path answers 404 as well."""
    from app.models import CalendarFeed, Household, db, utcnow
    from app.services.booking import calendar
    from app.services.operations import privacy

    family = factory.household(children=[("Léa", 8)])
    other = factory.household(children=[("Tom", 8)])
    with app.app_context():
        token = calendar.ensure_feed_token(family.id)
        other_token = calendar.ensure_feed_token(other.id)
    assert make_client().get(f"/agenda/{token}.ics").status_code == 200
    with app.app_context():
        privacy.erase(family.id, None)
        assert db.session.get(CalendarFeed, family.id) is None
    assert make_client().get(f"/agenda/{token}.ics").status_code == 404
    with app.app_context():
        db.session.get(Household, other.id).erased_at = utcnow()
        db.session.commit()
    assert make_client().get(f"/agenda/{other_token}.ics").status_code == 404
