"""The parent booking pages: child → establishments (with reasons) → weeks and transport → basket →
"Mes inscriptions". Every id scoped to the household; errors next to the field; never a 500."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from tests.booking_helpers import add, confirm_basket, count_rows


def _parent(app, login, family):
    return login(app.test_client(), family.email)


def _forms_have_csrf(page: str) -> bool:
    return page.count("<form") == page.count('name="csrf_token"')


def test_choose_child_lists_the_children(app, factory, login):
    family = factory.household(children=[("Léa", 8), ("Tom", 6)])
    client = _parent(app, login, family)
    page = client.get("/famille/inscrire/").get_data(as_text=True)
    for child_id in family.child_ids:
        assert f'href="/famille/inscrire/{child_id}"' in page
    assert "Léa" in page and "Tom" in page and "Rattachement validé" in page
    assert client.get("/famille/inscrire").status_code == 200


def test_offers_page_splits_open_and_not_open_with_reasons(app, factory, login):
    open_one = factory.catalog(name="ALSH Les Pins")
    factory.catalog(name="Séjour ados", age_min=12, age_max=17)
    family = factory.household()
    client = _parent(app, login, family)
    page = client.get(f"/famille/inscrire/{family.child_ids[0]}").get_data(as_text=True)
    open_part, _, hidden_part = page.partition("<details")
    assert "ALSH Les Pins" in open_part and "Séjour ados" not in open_part
    assert f'/famille/inscrire/{family.child_ids[0]}/periode/{open_one.period_id}' in open_part
    assert "Séjour ados" in hidden_part and 'data-reason="age"' in hidden_part and "12 à 17 ans" in hidden_part


def test_not_validated_household_sees_why(app, factory, login):
    factory.catalog()
    family = factory.household(status="submitted")
    client = _parent(app, login, family)
    page = client.get(f"/famille/inscrire/{family.child_ids[0]}").get_data(as_text=True)
    assert 'data-reason="household_not_validated"' in page
    assert "pas encore validé" in page
    assert 'data-reason="household_not_validated"' in client.get("/famille/inscrire/").get_data(as_text=True)


def test_another_household_child_or_period_is_404(app, factory, login):
    catalog = factory.catalog()
    family = factory.household()
    stranger = factory.household()
    client = _parent(app, login, family)
    assert client.get(f"/famille/inscrire/{stranger.child_ids[0]}").status_code == 404
    assert client.get(f"/famille/inscrire/{stranger.child_ids[0]}/periode/{catalog.period_id}").status_code == 404
    assert client.post(f"/famille/inscrire/{stranger.child_ids[0]}/periode/{catalog.period_id}",
                       data={"week": catalog.week_ids[0], f"transport-{catalog.week_ids[0]}": "onsite"}).status_code == 404
    assert client.get(f"/famille/inscrire/{family.child_ids[0]}/periode/999999").status_code == 404
    huge = 10**25
    assert client.get(f"/famille/inscrire/{huge}").status_code == 404
    assert client.post(f"/famille/panier/retirer/{huge}").status_code == 404
    assert client.post(f"/famille/inscriptions/{huge}/arret", data={"transport": "stop-1"}).status_code == 404
    from app.models import Reservation

    assert count_rows(app, Reservation) == 0


def test_weeks_page_shows_places_left_and_stops_with_times(app, factory, login):
    catalog = factory.catalog(capacities=(3, 1), seats=2)
    family = factory.household()
    other = factory.household()
    add(app, other.id, other.child_ids[0], catalog.week_ids[1], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    client = _parent(app, login, family)
    page = client.get(f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}").get_data(as_text=True)
    assert "3 places restantes" in page
    assert 'data-reason="full"' in page  # the second week: its only place is held
    assert f'value="stop-{catalog.stop_ids[0]}"' in page and "montée 07:30, retour 17:50" in page
    assert "2 places dans le bus" in page
    assert 'value="onsite"' in page
    assert _forms_have_csrf(page)


def test_transport_is_mandatory_error_next_to_the_field_and_choice_kept(app, factory, login):
    from app.models import Reservation

    catalog = factory.catalog()
    family = factory.household()
    client = _parent(app, login, family)
    week = catalog.week_ids[0]
    response = client.post(f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}",
                           data={"week": str(week), f"transport-{week}": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(rf'id="error-{week}"[^>]*>Choisissez le bus', page)
    assert f'id="week-{week}" name="week" value="{week}" checked' in page
    assert count_rows(app, Reservation) == 0
    response = client.post(f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}", data={})
    assert response.status_code == 400 and "Cochez au moins une semaine" in response.get_data(as_text=True)


def test_booking_weeks_puts_lines_in_the_basket(app, factory, login):
    catalog = factory.catalog(bus_price_cents=500)
    family = factory.household(quotient=650)
    client = _parent(app, login, family)
    w1, w2 = catalog.week_ids
    response = client.post(f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}",
                           data={"week": [str(w1), str(w2)], f"transport-{w1}": f"stop-{catalog.stop_ids[1]}",
                                 f"transport-{w2}": "onsite"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/famille/inscrire/")
    landing = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 semaines ajoutées" in landing and "Voir mon panier" in landing
    basket = client.get("/famille/panier/").get_data(as_text=True)
    assert basket.count('class="line"') == 2
    assert "arrêt Stade" in basket and "montée 08:30, retour 17:40" in basket
    assert "Accueil sur site" in basket
    assert "45,00\u00a0€" in basket and "95,00\u00a0€" in basket  # 45 + 5 bus, 45: total 95
    assert 'id="countdown"' in basket and "heure de Paris" in basket
    assert 'action="/famille/paiement/commencer"' in basket and "Valider mon panier" in basket
    assert _forms_have_csrf(basket)


def test_a_week_taken_meanwhile_is_reported_next_to_it(app, factory, login):
    catalog = factory.catalog(capacities=(1, 5))
    family = factory.household()
    other = factory.household()
    client = _parent(app, login, family)
    w1, w2 = catalog.week_ids
    client.get(f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}")
    add(app, other.id, other.child_ids[0], w1)  # someone else takes the last place of week 1
    response = client.post(f"/famille/inscrire/{family.child_ids[0]}/periode/{catalog.period_id}",
                           data={"week": [str(w1), str(w2)], f"transport-{w1}": "onsite", f"transport-{w2}": "onsite"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(rf'id="error-{w1}"[^>]*>Cette semaine est complète', page)
    assert "1 semaine ajoutée" in page
    assert f'id="week-{w1}"' not in page  # week 1 is now shown as full, not as a choice
    assert client.get("/famille/panier/").get_data(as_text=True).count('class="line"') == 1


def test_remove_line_from_the_basket_page(app, factory, login):
    from app.models import Reservation, db

    catalog = factory.catalog()
    family = factory.household()
    stranger = factory.household()
    line_id = add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    foreign = add(app, stranger.id, stranger.child_ids[0], catalog.week_ids[0])
    client = _parent(app, login, family)
    assert f'action="/famille/panier/retirer/{line_id}"' in client.get("/famille/panier/").get_data(as_text=True)
    assert client.post(f"/famille/panier/retirer/{foreign}").status_code == 404
    response = client.post(f"/famille/panier/retirer/{line_id}", follow_redirects=True)
    assert "retirée de votre panier" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Reservation, line_id).status == "removed"
        assert db.session.get(Reservation, foreign).status == "held"


def test_lapsed_basket_page_says_what_happened(app, factory, login):
    from app.models import Basket, Reservation, db, utcnow

    catalog = factory.catalog()
    family = factory.household()
    add(app, family.id, family.child_ids[0], catalog.week_ids[0])
    past = utcnow() - timedelta(minutes=1)
    with app.app_context():
        db.session.execute(update(Basket).values(expires_at=past))
        db.session.execute(update(Reservation).values(hold_expires_at=past))
        db.session.commit()
    page = _parent(app, login, family).get("/famille/panier/").get_data(as_text=True)
    assert 'id="lapsed"' in page and "Votre panier a expiré" in page and "places ont été libérées" in page
    assert "Semaine du" in page
    assert "Valider mon panier" not in page


def test_empty_basket(app, factory, login):
    family = factory.household()
    page = _parent(app, login, family).get("/famille/panier").get_data(as_text=True)
    assert "Votre panier est vide" in page


def test_reservations_page_with_stop_change_and_receipt_link(app, factory, login):
    from app.models import Reservation, db

    catalog = factory.catalog()
    family = factory.household()
    line_id = add(app, family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    basket_id = confirm_basket(app, family.id)
    client = _parent(app, login, family)
    page = client.get("/famille/inscriptions/").get_data(as_text=True)
    assert "Église" in page and "montée 07:30, retour 17:50" in page
    assert f'href="/famille/recu/{basket_id}"' in page
    assert f'action="/famille/inscriptions/{line_id}/arret"' in page and _forms_have_csrf(page)
    response = client.post(f"/famille/inscriptions/{line_id}/arret", data={"transport": f"stop-{catalog.stop_ids[2]}"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Reservation, line_id).stop_id == catalog.stop_ids[2]
    bad = client.post(f"/famille/inscriptions/{line_id}/arret", data={"transport": "n'importe quoi"})
    assert bad.status_code == 400 and "Choisissez un arrêt" in bad.get_data(as_text=True)


def test_after_the_deadline_the_page_says_to_contact_the_pole(app, factory, login):
    catalog = factory.catalog(stop_change_deadline_in=-timedelta(hours=2))
    family = factory.household()
    line_id = add(app, family.id, family.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    confirm_basket(app, family.id)
    client = _parent(app, login, family)
    page = client.get("/famille/inscriptions/").get_data(as_text=True)
    assert "contactez le Pôle Jeunesse" in page
    assert f'action="/famille/inscriptions/{line_id}/arret"' not in page
    response = client.post(f"/famille/inscriptions/{line_id}/arret", data={"transport": f"stop-{catalog.stop_ids[1]}"})
    assert response.status_code == 409 and "date limite" in response.get_data(as_text=True)


def test_stop_change_of_another_household_is_404(app, factory, login):
    catalog = factory.catalog()
    owner = factory.household()
    line_id = add(app, owner.id, owner.child_ids[0], catalog.week_ids[0], {"mode": "bus", "stop_id": catalog.stop_ids[0]})
    confirm_basket(app, owner.id)
    intruder = _parent(app, login, factory.household())
    response = intruder.post(f"/famille/inscriptions/{line_id}/arret", data={"transport": f"stop-{catalog.stop_ids[1]}"})
    assert response.status_code == 404


def test_staff_and_anonymous_cannot_use_the_parent_pages(app, factory, login):
    agent = login(app.test_client(), factory.staff().email)
    for url in ["/famille/inscrire/", "/famille/panier/", "/famille/inscriptions/"]:
        assert agent.get(url).status_code == 403
        assert app.test_client().get(url).status_code in (302, 401, 403)
