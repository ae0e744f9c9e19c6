"""Staff's wish-campaign screens: the period's wish fields on the catalogue screen (with their rules),
the priority rules (editable until the window opens), the dry run (figures, nothing written), the
publication (confirmation, offers, mails) and the CSV; parents are kept out."""
from __future__ import annotations

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
