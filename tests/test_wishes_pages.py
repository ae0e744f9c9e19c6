"""The wish campaign's pages: the parent's wishes per child (ranked, transport, « ensemble ou pas du
tout », changeable until the window closes, the time of submission said not to matter), ordinary
booking refused while the period waits for its allocation, the family's explanation after publication
with the given week paid through its offer, the public « Règles d'attribution » page; another
household's child is a 404."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from sqlalchemy import select

from tests.test_allocation_service import _campaign, _close_window


def _parent(app, login, family):
    return login(app.test_client(), family.email)


def test_wishes_page_ranks_weeks_and_keeps_them_changeable(app, factory, login):
    cat = _campaign(app, factory, capacities=(1, 2))
    family = factory.household(children=[("Léa", 8), ("Hugo", 6)])
    client = _parent(app, login, family)
    home = client.get("/famille/").get_data(as_text=True)
    assert 'class="card wishes-block"' in home and "/famille/voeux/" in home
    listing = client.get("/famille/voeux/").get_data(as_text=True)
    assert f'data-period="{cat.period_id}"' in listing and "L'heure à laquelle vous déposez vos vœux ne compte pas" \
        in listing
    url = f"/famille/voeux/{family.child_ids[0]}/{cat.period_id}"
    page = client.get(url).get_data(as_text=True)
    assert "L'heure de dépôt ne compte pas." in page and "Ensemble ou pas du tout" in page
    assert page.count("<form") == page.count('name="csrf_token"')
    week1, week2 = cat.week_ids
    # two weeks with the same choice number: refused, nothing saved, choices kept
    same = client.post(url, data={f"rank-{week1}": "1", f"transport-{week1}": "onsite",
                                  f"rank-{week2}": "1", f"transport-{week2}": "onsite"})
    assert same.status_code == 400 and "même numéro de choix" in same.get_data(as_text=True)
    no_transport = client.post(url, data={f"rank-{week1}": "1"})
    assert no_transport.status_code == 400 and "Choisissez le transport" in no_transport.get_data(as_text=True)
    saved = client.post(url, follow_redirects=True, data={
        f"rank-{week2}": "1", f"transport-{week2}": f"stop-{cat.stop_ids[0]}",
        f"rank-{week1}": "2", f"transport-{week1}": "onsite", f"together-{week1}": "1"})
    assert saved.status_code == 200 and "Vœux de Léa enregistrés" in saved.get_data(as_text=True)
    with app.app_context():
        from app.models import Wish, db

        rows = db.session.execute(select(Wish).where(Wish.child_id == family.child_ids[0]).order_by(Wish.rank)) \
            .scalars().all()
        assert [(w.week_id, w.transport_mode, w.stop_id, w.together) for w in rows] == [
            (week2, "bus", cat.stop_ids[0], False), (week1, "onsite", None, True)]
    again = client.get(url).get_data(as_text=True)
    assert re.search(rf'<option value="stop-{cat.stop_ids[0]}"[^>]* selected>', again)
    # changed: only week 1 now
    client.post(url, data={f"rank-{week1}": "1", f"transport-{week1}": "onsite"})
    with app.app_context():
        from app.models import Wish, db

        assert [w.week_id for w in db.session.execute(select(Wish).where(
            Wish.child_id == family.child_ids[0])).scalars()] == [week1]
    # « ensemble ou pas du tout » is offered only when another child of the family may wish this period
    lone = factory.household(children=[("Léo", 8), ("Jade", 15)])
    lone_page = _parent(app, login, lone).get(f"/famille/voeux/{lone.child_ids[0]}/{cat.period_id}")
    assert lone_page.status_code == 200 and "Ensemble ou pas du tout" not in lone_page.get_data(as_text=True)
    # another household's child: 404
    stranger = factory.household()
    assert client.get(f"/famille/voeux/{stranger.child_ids[0]}/{cat.period_id}").status_code == 404
    assert client.post(f"/famille/voeux/{stranger.child_ids[0]}/{cat.period_id}",
                       data={f"rank-{week1}": "1", f"transport-{week1}": "onsite"}).status_code == 404
    # closed window: read only, a post is refused with the service's message
    _close_window(app, cat)
    closed = client.get(url).get_data(as_text=True)
    assert "Les vœux sont clos" in closed and "Enregistrer mes vœux" not in closed
    refused = client.post(url, data={f"rank-{week2}": "1", f"transport-{week2}": "onsite"})
    assert refused.status_code == 400 and "Les vœux sont clos" in refused.get_data(as_text=True)


def test_ordinary_booking_waits_for_the_allocation(app, factory, login):
    from app.services.booking import allocation_run, basket
    from app.services.errors import Conflict

    cat = _campaign(app, factory, capacities=(2, 2))
    with app.app_context():
        from app.models import Period, db

        period = db.session.get(Period, cat.period_id)
        period.opens_at = period.wishes_open_at  # even with its booking window open
        db.session.commit()
    family = factory.household()
    client = _parent(app, login, family)
    offers = client.get(f"/famille/inscrire/{family.child_ids[0]}").get_data(as_text=True)
    assert 'class="card wishes-period"' in offers and "sans course" in offers
    assert f"/famille/voeux/{family.child_ids[0]}/{cat.period_id}" in offers
    with app.app_context():
        try:
            basket.add_line(family.id, family.child_ids[0], cat.week_ids[0], {"mode": "onsite"})
            raise AssertionError("a wishes period must refuse ordinary booking before its allocation")
        except Conflict as exc:
            assert exc.code == "wishes_period"
    _close_window(app, cat)
    with app.app_context():
        allocation_run.publish(cat.period_id, "loto 1 2 3")
        line = basket.add_line(family.id, family.child_ids[0], cat.week_ids[0], {"mode": "onsite"})
        assert line  # published: the places left follow the booking window


def test_explanation_page_and_paying_the_given_week(app, factory, login):
    from app.models import MailLog, Period, WaitlistOffer, db
    from app.services.booking import allocation_run

    cat = _campaign(app, factory, capacities=(1, 1))
    with app.app_context():
        db.session.get(Period, cat.period_id).offer_hours = 48
        db.session.commit()
    first, second = factory.household(), factory.household()
    week1, week2 = cat.week_ids
    for family in (first, second):
        _parent(app, login, family).post(f"/famille/voeux/{family.child_ids[0]}/{cat.period_id}", data={
            f"rank-{week1}": "1", f"transport-{week1}": "onsite"})
    client = _parent(app, login, first)
    before = client.get(f"/famille/attribution/{cat.period_id}").get_data(as_text=True)
    assert 'id="not-published"' in before and "prévus le" in before
    _close_window(app, cat)
    with app.app_context():
        run = allocation_run.publish(cat.period_id, "Loto 7 12 25")
        offer = db.session.execute(select(WaitlistOffer)).scalar_one()
        assert offer.expires_at == run.published_at + timedelta(hours=48)  # the period's offer_hours
        mail = db.session.execute(select(MailLog).where(MailLog.kind == "allocation_offer")).scalar_one()
        assert "Place attribuée" in mail.subject and "s'est libérée" not in mail.body_text
        assert f"/famille/attribution/{cat.period_id}" in mail.body_text
        winner = offer.entry.household_id
    loser = second if winner == first.id else first
    winner_family = first if winner == first.id else second
    win = _parent(app, login, winner_family)
    page = win.get(f"/famille/attribution/{cat.period_id}").get_data(as_text=True)
    assert "Ce qui vous est attribué" in page and "attribué au tour 1" in page
    assert f"/famille/liste-attente/{offer.entry_id}/payer" in page
    assert 'class="deadline"' in page and "Voir mon résultat" in win.get("/famille/").get_data(as_text=True)
    assert "sur 2</strong>" in page and "Loto 7 12 25" in page
    lose = unescape(_parent(app, login, loser).get(f"/famille/attribution/{cat.period_id}").get_data(as_text=True))
    assert "Complet au tour 1 ; 1ʳᵉ sur la liste d'attente." in lose
    assert "Aucune des semaines demandées" in lose
    # the result is the family's own: another household has made no wish here
    outsider = _parent(app, login, factory.household()).get(f"/famille/attribution/{cat.period_id}")
    assert outsider.status_code == 200 and "Vous n'avez pas fait de vœux" in outsider.get_data(as_text=True)
    assert win.get("/famille/attribution/99999999").status_code == 404
    paid = win.post(f"/famille/liste-attente/{offer.entry_id}/payer")
    assert paid.status_code in (302, 303)


def test_public_rules_page(app, factory):
    from app.services.booking import allocation_run, wishes

    cat = _campaign(app, factory, opened=False)
    staff = factory.staff()
    with app.app_context():
        wishes.save_rules(cat.period_id, {"resident_points": 10, "resident_communes": "Besse-sur-Issole\nLe Luc",
                                          "working_points": 20}, actor=staff)
    client = app.test_client()  # no account needed
    page = client.get(f"/regles-attribution/{cat.period_id}").get_data(as_text=True)
    assert "Besse-sur-Issole, Le Luc" in page and 'data-criterion="working"' in page
    assert "peuvent encore être modifiées" in page and "HMAC-SHA-256" in page
    assert client.get("/regles-attribution/99999999").status_code == 404
    first_come = factory.catalog()
    assert client.get(f"/regles-attribution/{first_come.period_id}").status_code == 404
    family = factory.household()
    with app.app_context():
        from app.models import Period, db, utcnow

        db.session.get(Period, cat.period_id).wishes_open_at = utcnow() - timedelta(hours=1)
        db.session.commit()
        wishes.save_wishes(family.id, family.child_ids[0], cat.period_id,
                           [{"week_id": cat.week_ids[0], "transport": {"mode": "onsite"}}])
    _close_window(app, cat)
    with app.app_context():
        run = allocation_run.publish(cat.period_id, "Loto 3 janvier")
        seed = run.seed
    page = client.get(f"/regles-attribution/{cat.period_id}").get_data(as_text=True)
    assert "figées" in page and seed in page and "Loto 3 janvier" in page
