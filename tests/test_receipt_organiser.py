"""The receipt names its organiser (issue 20): the identity Admin entered (name, address, SIRET,
régie), printed on the parent's receipt; before it is entered, the portal's name."""
from __future__ import annotations

from tests.credit_helpers import book_and_pay


def test_receipt_prints_the_organiser_identity(app, factory, login):
    from app.models import Reservation, db
    from app.services.payments.organiser import update_organiser

    cat = factory.catalog(capacities=(10,))
    family = factory.household(children=[("Léa", 8)])
    line = book_and_pay(app, family.id, family.child_ids[0], cat.week_ids[0])
    with app.app_context():
        basket_id = db.session.get(Reservation, line).basket_id
    client = login(app.test_client(), family.email)
    before = client.get(f"/famille/recu/{basket_id}").get_data(as_text=True)
    assert '<p id="receipt-organiser"><strong>Pôle Jeunesse</strong>' in before

    admin = factory.admin()
    with app.app_context():
        from flask_appbuilder.security.sqla.models import User

        update_organiser({"name": "Communauté de communes Cœur du Var", "address": "Quartier Précoumin\n83340 Le Luc",
                          "siret": "24830039400019", "regie_name": "Régie enfance-jeunesse",
                          "regie_number": "R-0042", "contact": "04 94 00 00 00"},
                         actor=db.session.get(User, admin.id))
    page = client.get(f"/famille/recu/{basket_id}").get_data(as_text=True)
    organiser = page.split('id="receipt-organiser"')[1].split("</p>")[0]
    assert "Communauté de communes Cœur du Var" in organiser
    assert "Quartier Précoumin, 83340 Le Luc" in organiser
    assert "SIRET 24830039400019" in organiser and "Régie enfance-jeunesse (régie n° R-0042)" in organiser
