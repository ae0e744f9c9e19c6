"""Staff's wish-campaign screens: the period's wish fields on the catalogue screen (with their rules),
the priority rules (editable until the window opens), the dry run (figures, nothing written), the
publication (confirmation, offers, mails) and the CSV; parents are kept out."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from sqlalchemy import func, select

from tests.test_allocation_service import _campaign, _close_window


def text(response) -> str:
    return unescape(response.get_data(as_text=True))


def _staff(app, factory, login):
    return login(app.test_client(), factory.staff().email)


def test_period_screen_sets_the_wish_campaign_fields(app, factory, login):
    cat = factory.catalog()
    client = _staff(app, factory, login)
    period = {"establishment": str(cat.establishment_id), "name": "Été sur vœux", "starts_on": "2031-07-07",
              "ends_on": "2031-07-25", "opens_at": "2031-05-01T09:00", "closes_at": "2031-06-30T18:00",
              "bus_price_cents": "0", "opening_mode": "wishes", "offer_hours": "48"}
    missing = client.post("/periodview/add", data=period)
    assert "Une période sur vœux a besoin de l'ouverture et de la clôture des vœux." in text(missing)
    backwards = client.post("/periodview/add", data=dict(period, wishes_open_at="2031-04-10T09:00",
                                                         wishes_close_at="2031-04-01T18:00"))
    assert "La clôture des vœux doit être après leur ouverture." in text(backwards)
    ok = client.post("/periodview/add", data=dict(period, wishes_open_at="2031-04-01T09:00",
                                                  wishes_close_at="2031-04-10T18:00", results_at="2031-04-15T12:00",
                                                  max_weeks_per_child="2"))
    assert ok.status_code == 302
    with app.app_context():
        from app.models import Period, db

        row = db.session.execute(select(Period).where(Period.name == "Été sur vœux")).scalar_one()
        assert (row.opening_mode, row.offer_hours, row.max_weeks_per_child) == ("wishes", 48, 2)
        assert row.wishes_close_at.isoformat() == "2031-04-10T16:00:00+00:00"  # Paris time typed
    listing = text(client.get("/attribution/"))
    assert "Été sur vœux" in listing
    # once families have wished, the opening mode stays
    family = factory.household()
    with app.app_context():
        from app.models import Week, Wish

        week = Week(period_id=row.id, label="S1", starts_on=row.starts_on, ends_on=row.starts_on + timedelta(days=4),
                    capacity=5)
        db.session.add(week)
        db.session.flush()
        db.session.add(Wish(period_id=row.id, household_id=family.id, child_id=family.child_ids[0], week_id=week.id,
                            rank=1, transport_mode="onsite"))
        db.session.commit()
        period_id = row.id
    edit = client.post(f"/periodview/edit/{period_id}", data=dict(
        period, opening_mode="first_come", wishes_open_at="2031-04-01T09:00", wishes_close_at="2031-04-10T18:00"))
    assert "son mode d'ouverture ne peut plus changer" in text(edit)


def test_rules_dry_run_publish_and_csv(app, factory, login):
    from app.models import AllocationRun, MailLog, WaitlistOffer, db

    cat = _campaign(app, factory, capacities=(1, 2), opened=False)
    client = _staff(app, factory, login)
    url = f"/attribution/periode/{cat.period_id}"
    page = text(client.get(url))
    assert 'id="rules-form"' in page and "après la clôture des vœux" in page
    refused = client.post(f"{url}/regles", data={"resident_points": "10", "resident_communes": "Besse-sur-Issole",
                                                "working_points": "abc"}, follow_redirects=True)
    assert "Les points d'un critère vont de 0 à 1 000." in text(refused)
    saved = client.post(f"{url}/regles", follow_redirects=True, data={
        "resident_points": "10", "resident_communes": "Besse-sur-Issole", "working_points": "5"})
    assert "Règles d'attribution enregistrées" in text(saved)
    with app.app_context():
        from app.models import Period, utcnow

        db.session.get(Period, cat.period_id).wishes_open_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    frozen = client.post(f"{url}/regles", data={"resident_points": "50"}, follow_redirects=True)
    assert "figées" in text(frozen)
    families = [factory.household(), factory.household()]
    from app.services.booking import wishes

    with app.app_context():
        for family in families:
            wishes.save_wishes(family.id, family.child_ids[0], cat.period_id,
                               [{"week_id": cat.week_ids[0], "transport": {"mode": "onsite"}}])
    _close_window(app, cat)
    trial = text(client.get(f"{url}?essai=1&valeur=Loto+1+2+3"))
    assert 'id="dry-run"' in trial and "1 famille sans aucune place" in trial and "100 %" in trial
    with app.app_context():
        assert db.session.execute(select(func.count(AllocationRun.id))).scalar() == 0  # nothing written
        assert db.session.execute(select(func.count(WaitlistOffer.id))).scalar() == 0
    unconfirmed = client.post(f"{url}/publier", data={"public_value": "Loto 1 2 3"}, follow_redirects=True)
    assert "Cochez la case de confirmation" in text(unconfirmed)
    published = text(client.post(f"{url}/publier", data={"public_value": "Loto 1 2 3", "confirm": "1"},
                                 follow_redirects=True))
    assert "Attribution publiée" in published and 'id="published"' in published
    with app.app_context():
        assert db.session.execute(select(func.count(WaitlistOffer.id))).scalar() == 1
        assert db.session.execute(select(func.count(MailLog.id)).where(MailLog.kind == "allocation_result")) \
            .scalar() == 2
    csv = client.get(f"{url}/csv")
    assert csv.status_code == 200 and "attribuée" in text(csv)
    again = client.post(f"{url}/publier", data={"public_value": "autre", "confirm": "1"}, follow_redirects=True)
    assert "déjà publiée" in text(again)
    assert client.get("/attribution/periode/99999999").status_code == 404
    parent = login(app.test_client(), families[0].email)
    assert parent.get("/attribution/").status_code in (302, 403)
    assert parent.get(f"{url}/csv").status_code in (302, 403)


def _period_form(row) -> dict:
    """The edit form as the screen fills it (times to the minute: the row's are rounded first)."""
    from app.models import db
    from app.services.booking.eligibility import PARIS

    for name in ("opens_at", "closes_at", "wishes_open_at", "wishes_close_at", "results_at"):
        if getattr(row, name):
            setattr(row, name, getattr(row, name).replace(second=0, microsecond=0))
    db.session.commit()

    def local(value):
        return value.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M") if value else ""

    return {"establishment": str(row.establishment_id), "name": row.name, "starts_on": row.starts_on.isoformat(),
            "ends_on": row.ends_on.isoformat(), "opens_at": local(row.opens_at), "closes_at": local(row.closes_at),
            "bus_price_cents": str(row.bus_price_cents or 0), "opening_mode": row.opening_mode,
            "offer_hours": str(row.offer_hours), "wishes_open_at": local(row.wishes_open_at),
            "wishes_close_at": local(row.wishes_close_at), "results_at": local(row.results_at),
            "max_weeks_per_child": str(row.max_weeks_per_child or "")}


def test_an_opened_window_cannot_be_moved_to_unfreeze_the_rules(app, factory, login):
    """Moving the opening into the future would make the priority rules editable again."""
    from app.models import Period, db, utcnow

    cat = _campaign(app, factory, opened=True)
    client = _staff(app, factory, login)
    with app.app_context():
        form = _period_form(db.session.get(Period, cat.period_id))
        opened_at = db.session.get(Period, cat.period_id).wishes_open_at
    later = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    for change in ({"wishes_open_at": later}, {"max_weeks_per_child": "1"}, {"opening_mode": "first_come"}):
        refused = text(client.post(f"/periodview/edit/{cat.period_id}", data=dict(form, **change)))
        assert "ne peuvent plus changer" in refused, change
        with app.app_context():
            row = db.session.get(Period, cat.period_id)
            assert (row.wishes_open_at, row.max_weeks_per_child, row.opening_mode) == (opened_at, None, "wishes")
    # the rest of the period can still change before publication
    renamed = client.post(f"/periodview/edit/{cat.period_id}", data=dict(form, name="Été renommé"))
    assert renamed.status_code == 302, re.findall(r'(?s)alert-danger.{0,300}', text(renamed))
    with app.app_context():
        assert db.session.get(Period, cat.period_id).name == "Été renommé"
    # before the window opens, the opening can still move
    before = _campaign(app, factory, opened=False)
    with app.app_context():
        form = _period_form(db.session.get(Period, before.period_id))
    moved = client.post(f"/periodview/edit/{before.period_id}", data=dict(
        form, wishes_open_at=(utcnow() + timedelta(days=1, hours=2)).strftime("%Y-%m-%dT%H:%M")))
    assert moved.status_code == 302


def test_nothing_of_a_published_period_changes_and_the_page_shows_the_published_rules(app, factory, login):
    from app.models import Period, db
    from app.services.booking import allocation_run, wishes

    cat = _campaign(app, factory, opened=False)
    staff = factory.staff()
    with app.app_context():
        wishes.save_rules(cat.period_id, {"resident_points": "10", "resident_communes": "Besse-sur-Issole"},
                          actor=staff)
        db.session.get(Period, cat.period_id).wishes_open_at -= timedelta(days=2)
        db.session.commit()
    _close_window(app, cat)
    with app.app_context():
        allocation_run.publish(cat.period_id, "Loto 7 8 9", actor=staff)
        form = _period_form(db.session.get(Period, cat.period_id))
    client = _staff(app, factory, login)
    refused = text(client.post(f"/periodview/edit/{cat.period_id}", data=dict(form, name="Autre nom")))
    assert "L'attribution de cette période est publiée : la période ne peut plus changer." in refused, re.findall(r"(?s)alert-danger.{0,300}?</button>(.{0,300})", refused)
    # a rules row changed behind the screens (not through the service) is not what the page shows
    with app.app_context():
        from app.models import AllocationRules

        db.session.get(AllocationRules, cat.period_id).resident_points = 99
        db.session.commit()
    page = text(app.test_client().get(f"/regles-attribution/{cat.period_id}"))
    assert '<tr data-criterion="resident"><td class="stack-title">Résident' in page
    assert "<td data-label=\"Points\">10</td>" in page and ">99<" not in page
