"""The parent's waiting-list pages: the full weeks a child can wait for, joining with the rank shown,
the offer on « Accueil », « Mes inscriptions » and the list page with its deadline and one-click
payment, leaving; another family's entry is a 404. Staff's list per week, CSV and actions."""
from __future__ import annotations

from tests.booking_helpers import add


def _parent(app, login, family):
    return login(app.test_client(), family.email)


def _full(app, factory):
    catalog = factory.catalog(capacities=(1,), seats=1)
    holder = factory.household()
    line = add(app, holder.id, holder.child_ids[0], catalog.week_ids[0])
    return catalog, holder, line


def test_join_from_the_list_page_and_see_the_rank(app, factory, login):
    catalog, _holder, _line = _full(app, factory)
    family = factory.household()
    client = _parent(app, login, family)
    page = client.get("/famille/liste-attente").get_data(as_text=True)
    assert f'data-week="{catalog.week_ids[0]}"' in page and "M'inscrire sur la liste d'attente" in page
    assert page.count("<form") == page.count('name="csrf_token"')
    missing = client.post("/famille/liste-attente/rejoindre",
                          data={"child_id": family.child_ids[0], "week_id": catalog.week_ids[0], "transport": ""})
    assert missing.status_code == 400 and "Choisissez le transport" in missing.get_data(as_text=True)
    response = client.post("/famille/liste-attente/rejoindre", follow_redirects=True,
                           data={"child_id": family.child_ids[0], "week_id": catalog.week_ids[0],
                                 "transport": f"any-{catalog.stop_ids[0]}"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "1ʳᵉ sur la liste" in page
    assert "bus ou sur place" in page
    # Joined weeks are no longer offered for joining.
    assert f'data-week="{catalog.week_ids[0]}" data-child' not in page
    second = factory.household()
    other = _parent(app, login, second)
    other.post("/famille/liste-attente/rejoindre",
               data={"child_id": second.child_ids[0], "week_id": catalog.week_ids[0], "transport": "onsite"})
    assert "2ᵉ sur la liste" in other.get("/famille/liste-attente").get_data(as_text=True)


def test_an_offer_shows_everywhere_with_its_deadline_and_pays_in_one_click(app, factory, login):
    from app.services.booking import basket, waitlist

    catalog, holder, line = _full(app, factory)
    family = factory.household()
    with app.app_context():
        entry = waitlist.join(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
        basket.remove_line(holder.id, line)
    client = _parent(app, login, family)
    for path in ("/famille/", "/famille/inscriptions", f"/famille/liste-attente/{entry['id']}"):
        page = client.get(path).get_data(as_text=True)
        assert "Une place" in page and 'class="deadline"' in page, path
        assert f"/famille/liste-attente/{entry['id']}/payer" in page, path
    # Another family cannot see this entry.
    stranger = _parent(app, login, factory.household())
    assert stranger.get(f"/famille/liste-attente/{entry['id']}").status_code == 404
    assert stranger.post(f"/famille/liste-attente/{entry['id']}/payer").status_code == 404
    paid = client.post(f"/famille/liste-attente/{entry['id']}/payer")
    assert paid.status_code == 303 and "/payments/sandbox/" in paid.headers["Location"]


def test_leave_the_list_from_the_page(app, factory, login):
    from app.services.booking import waitlist

    catalog, _holder, _line = _full(app, factory)
    family = factory.household()
    with app.app_context():
        entry = waitlist.join(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
    client = _parent(app, login, family)
    page = client.post(f"/famille/liste-attente/{entry['id']}/quitter", follow_redirects=True).get_data(as_text=True)
    assert "a été retiré de la liste" in page and "Retirée de la liste" in page


# --- staff ---------------------------------------------------------------------------------

def test_staff_see_counts_the_list_and_csv_and_act_with_a_reason(app, factory, login):
    from sqlalchemy import select

    from app.models import AuditLog, Week, db
    from app.services.booking import waitlist

    catalog, _holder, _line = _full(app, factory)
    first, second = factory.household(), factory.household()
    with app.app_context():
        from app.models import Household

        db.session.get(Household, second.id).name = "=cmd|' /C calc'!A0"
        db.session.commit()
        a = waitlist.join(first.id, first.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
        b = waitlist.join(second.id, second.child_ids[0], catalog.week_ids[0],
                          {"mode": "bus", "stop_id": catalog.stop_ids[1]})
    staff = factory.staff()
    client = login(app.test_client(), staff.email)
    index = client.get(f"/listes-attente/?period_id={catalog.period_id}").get_data(as_text=True)
    assert f'data-week="{catalog.week_ids[0]}"' in index and 'class="num waiting">2<' in index
    page = client.get(f"/listes-attente/semaine/{catalog.week_ids[0]}").get_data(as_text=True)
    assert page.index(f'data-entry="{a["id"]}"') < page.index(f'data-entry="{b["id"]}"')
    csv = client.get(f"/listes-attente/semaine/{catalog.week_ids[0]}/csv")
    text = csv.get_data(as_text=True)
    assert csv.status_code == 200 and "Rang;Enfant;Foyer" in text and ";'=cmd" in text
    # No reason: refused. No free place: a manual offer is refused, never past capacity.
    client.post(f"/listes-attente/entree/{b['id']}/proposer", data={"reason": ""})
    refused = client.post(f"/listes-attente/entree/{b['id']}/proposer", data={"reason": "Fratrie"},
                          follow_redirects=True).get_data(as_text=True)
    assert "Aucune place n" in refused
    # Inside the cut-off (no automatic offer any more) staff add a place and give it by hand.
    client.post(f"/listes-attente/periode/{catalog.period_id}/reglages", data={"offer_hours": "12",
                                                                              "cutoff_days": "60"})
    with app.app_context():
        assert waitlist.period_overview(catalog.period_id)["cutoff_days"] == 60
        db.session.get(Week, catalog.week_ids[0]).capacity = 2
        db.session.commit()
    client.post(f"/listes-attente/entree/{b['id']}/proposer", data={"reason": "Fratrie"})
    client.post(f"/listes-attente/entree/{a['id']}/retirer", data={"reason": "Désistement au téléphone"})
    with app.app_context():
        rows = db.session.execute(select(AuditLog).where(AuditLog.entity == "waitlist_entry",
                                                         AuditLog.actor_id == staff.id)).scalars().all()
        actions = {row.action: row.after for row in rows}
    assert "waitlist.offered" in actions and "Fratrie" in actions["waitlist.offered"]
    assert "waitlist.withdrawn" in actions and "Désistement" in actions["waitlist.withdrawn"]
    # A parent cannot reach the staff screens.
    parent = _parent(app, login, first)
    assert parent.get("/listes-attente/").status_code in (302, 403)


def test_a_capacity_raised_on_the_staff_screen_is_offered_at_once(app, factory, login):
    from app.models import Week, db
    from app.services.booking import waitlist

    catalog, _holder, _line = _full(app, factory)
    family = factory.household()
    with app.app_context():
        entry = waitlist.join(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
        week = db.session.get(Week, catalog.week_ids[0])
        form = {"period": str(week.period_id), "label": week.label, "starts_on": week.starts_on.isoformat(),
                "ends_on": week.ends_on.isoformat(), "capacity": "2"}
    staff = login(app.test_client(), factory.staff().email)
    assert staff.post(f"/weekview/edit/{catalog.week_ids[0]}", data=form).status_code == 302
    with app.app_context():
        [item] = waitlist.household_entries(family.id)
    assert item["id"] == entry["id"] and item["status"] == "offered"


# --- the way in from the booking page, offers where the parent pays, the occupancy screen ---------

def _weeks_page(client, family, catalog, child=0):
    response = client.get(f"/famille/inscrire/{family.child_ids[child]}/periode/{catalog.period_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _week_card(page, week_id):
    """The fieldset of one week on the booking page."""
    start = page.index(f'data-week="{week_id}"')
    return page[start:page.index("</fieldset>", start)]


def test_a_full_week_on_the_booking_page_leads_to_its_waiting_list(app, factory, login):
    from app.services.booking import waitlist

    catalog, _holder, _line = _full(app, factory)
    family = factory.household()
    client = _parent(app, login, family)
    child, week = family.child_ids[0], catalog.week_ids[0]
    card = _week_card(_weeks_page(client, family, catalog), week)
    assert "Cette semaine est complète" in card and "M'inscrire sur la liste d'attente" in card
    link = f'href="/famille/liste-attente/?enfant={child}&amp;semaine={week}#wait-{child}-{week}"'
    assert link in card
    # The link lands on that child × week's form, first and highlighted.
    page = client.get(f"/famille/liste-attente?enfant={child}&semaine={week}").get_data(as_text=True)
    assert f'class="card join focus" id="wait-{child}-{week}"' in page
    # Garbage in the query string is ignored, never a 500.
    assert client.get("/famille/liste-attente?enfant=x&semaine=99999999999999999999").status_code == 200
    # Once on the list, the week says so, with the rank and a link to the entry.
    with app.app_context():
        entry = waitlist.join(family.id, child, week, {"mode": "onsite"})
    card = _week_card(_weeks_page(client, family, catalog), week)
    assert "Déjà sur liste d'attente" in card and "1ʳᵉ sur la liste" in card
    assert f'href="/famille/liste-attente/{entry["id"]}"' in card and "M'inscrire" not in card
    # The child's other household sees « déjà sur liste d'attente », without a way into the entry.
    father = factory.household()
    factory.link_child(father.id, child)
    other = _parent(app, login, father)
    card = _week_card(_weeks_page(other, family, catalog), week)
    assert "Déjà sur liste d'attente" in card and "l'autre foyer" in card
    assert "/famille/liste-attente/" not in card and "M'inscrire" not in card
    # Its waiting-list page says the same instead of offering a form that would be refused.
    page = other.get("/famille/liste-attente").get_data(as_text=True)
    assert f'class="card waiting-elsewhere" id="wait-{child}-{week}"' in page and "l'autre foyer" in page
    assert f'form class="card join" id="wait-{child}-{week}"' not in page


def test_a_full_bus_on_the_booking_page_leads_to_the_bus_waiting_list(app, factory, login):
    catalog = factory.catalog(capacities=(5,), seats=1)
    rider = factory.household()
    add(app, rider.id, rider.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    family = factory.household()
    client = _parent(app, login, family)
    card = _week_card(_weeks_page(client, family, catalog), catalog.week_ids[0])
    assert "Bus complet" in card and "M'inscrire sur la liste d'attente" in card
    assert 'id="week-' in card  # the week itself can still be booked on site


def test_no_join_link_once_the_list_is_closed(app, factory, login):
    from app.models import Period, WaitlistSettings, Week, db

    catalog, _holder, _line = _full(app, factory)
    with app.app_context():
        week = db.session.get(Week, catalog.week_ids[0])
        db.session.add(WaitlistSettings(period_id=catalog.period_id, offer_hours=24, cutoff_days=60))
        assert db.session.get(Period, catalog.period_id) is not None
        db.session.commit()
        assert week.capacity == 1
    family = factory.household()
    card = _week_card(_weeks_page(_parent(app, login, family), family, catalog), catalog.week_ids[0])
    assert "M'inscrire" not in card and "liste d'attente de cette semaine est close" in card


def test_an_offer_shows_on_the_basket_page(app, factory, login):
    from app.services.booking import basket, waitlist

    catalog, holder, line = _full(app, factory)
    family = factory.household()
    with app.app_context():
        entry = waitlist.join(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
        basket.remove_line(holder.id, line)
    page = _parent(app, login, family).get("/famille/panier").get_data(as_text=True)
    assert "Une place vous est proposée" in page and 'class="deadline"' in page
    assert f'action="/famille/liste-attente/{entry["id"]}/payer"' in page
    assert "Une place vous est proposée" not in _parent(app, login, holder).get("/famille/panier").get_data(as_text=True)


def test_the_occupancy_screen_counts_each_weeks_waiting_list(app, factory, login):
    import csv
    import io

    from app.services.booking import basket, waitlist
    from app.services.operations import reports

    catalog, holder, line = _full(app, factory)
    families = [factory.household() for _ in range(3)]
    with app.app_context():
        for family in families:
            waitlist.join(family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "onsite"})
        basket.remove_line(holder.id, line)  # the place goes to the first family
        occupancy = reports.occupancy(catalog.period_id)
    week = occupancy.weeks[0]
    assert (week.capacity, week.confirmed, week.held, week.free, week.waiting, week.offered) == (1, 0, 1, 0, 2, 1)
    staff = login(app.test_client(), factory.staff().email)
    page = staff.get(f"/tableau-de-bord/?period_id={catalog.period_id}").get_data(as_text=True)
    assert "Liste d'attente" in page and "Places proposées" in page
    assert f'<a href="/listes-attente/semaine/{catalog.week_ids[0]}" title="Voir la liste d\'attente">2</a>' in page
    assert '<td class="num waitlist-offered">1</td>' in page
    body = staff.get(f"/tableau-de-bord/occupation/csv?period_id={catalog.period_id}").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert (rows[0]["Liste d'attente"], rows[0]["Places proposées"]) == ("2", "1")
