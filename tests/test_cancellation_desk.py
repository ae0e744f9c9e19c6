"""Staff cancellations and desk payments under the one cancellation rule (issue 14): the payment and
desk screens' « Annuler » go through payments.cancellations (the outcome chosen: refund, credit or
none; a week paid partly by credit gets that part back as credit), and a desk payment spends the
household's credit first, staff taking only the rest. The money invariant holds throughout."""
from __future__ import annotations

import html

from tests.credit_helpers import add, assert_money_conserved, checkout, money, pay, status


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _actor(app, user_id):
    return app.appbuilder.sm.get_user_by_id(user_id)


def test_one_cancellation_function_for_every_entry_point():
    from app.services import payments
    from app.services.payments import cancellations, refunds

    assert payments.cancel_reservation is cancellations.cancel_reservation
    assert not hasattr(refunds, "cancel_reservation")
    assert "cancel_for_family" in cancellations.cancel_reservation.__code__.co_names


def test_payment_screen_cancel_with_each_outcome_and_the_credit_part_back_as_credit(app, factory, login):
    from sqlalchemy import select

    from app.models import CreditNote, Payment, Refund, db
    from app.services.payments import credits

    cat = factory.catalog(capacities=(10, 10, 10))
    fam = factory.household(last_name="Morel", children=[("Léa", 8)])
    staff = factory.staff()
    with app.app_context():
        credits.grant(fam.id, 3000, "Geste commercial", actor=_actor(app, staff.id))
    lines = [add(app, fam.id, fam.child_ids[0], week_id) for week_id in cat.week_ids]
    result = checkout(app, fam.id)
    assert result.amount_cents == 3 * 4500 - 3000
    pay(app, result)
    client = login(app.test_client(), staff.email)
    base = f"/paiements/{result.payment_id}/inscription"
    detail = _text(client.get(f"/paiements/{result.payment_id}"))
    assert 'name="outcome"' in detail and 'name="refund"' not in detail

    refunded = client.post(f"{base}/{lines[0]}/annuler", data={"reason": "Malade", "outcome": "refund"},
                           follow_redirects=True)
    assert "le remboursement est lancé" in _text(refunded)
    credited = client.post(f"{base}/{lines[1]}/annuler", data={"reason": "Déménagement", "outcome": "credit"},
                           follow_redirects=True)
    assert "un avoir est crédité" in _text(credited)
    kept = client.post(f"{base}/{lines[2]}/annuler", data={"reason": "Absence non justifiée", "outcome": "none"},
                       follow_redirects=True)
    assert "Inscription annulée : la place est libérée." in _text(kept)
    assert [status(app, line) for line in lines] == ["cancelled"] * 3
    with app.app_context():
        refund = db.session.execute(select(Refund).where(Refund.reservation_id == lines[0])).scalar_one()
        # The card paid 105 of 135 €: its share of a 45 € week is 35 €; the 10 € paid by credit come back as credit.
        assert refund.amount_cents == 4500 * 10500 // 13500
        by_line = {n.reservation_id: n.amount_cents for n in db.session.execute(
            select(CreditNote).where(CreditNote.kind == "cancellation")).scalars()}
        assert by_line == {lines[0]: 4500 - refund.amount_cents, lines[1]: 4500}
        assert db.session.get(Payment, result.payment_id).status == "partially_refunded"
    assert_money_conserved(app, fam.id, granted=3000, withdrawn=4500)  # the week kept: the service took it


def test_the_old_refund_box_still_means_refund(app, factory, login):
    from app.models import Refund, db
    from tests.credit_helpers import book_and_pay

    cat = factory.catalog(capacities=(10,))
    fam = factory.household(children=[("Léa", 8)])
    staff = factory.staff()
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    client = login(app.test_client(), staff.email)
    client.post(f"/operations/inscription/{line}/annuler", data={"reason": "Malade", "refund": "1"})
    with app.app_context():
        assert db.session.query(Refund).filter_by(reservation_id=line).one().amount_cents == 4500
    assert_money_conserved(app, fam.id)


def test_a_desk_payment_spends_the_credit_first(app, factory, login):
    from app.models import Payment, db
    from app.services.operations import desk as operations
    from app.services.payments import credits

    cat = factory.catalog(capacities=(10, 10))
    fam = factory.household(last_name="Guichet", children=[("Léa", 8)])
    staff = factory.staff()
    with app.app_context():
        credits.grant(fam.id, 3000, "Geste commercial", actor=_actor(app, staff.id))
        operations.desk_add_line(fam.id, fam.child_ids[0], cat.week_ids[0], {"mode": "onsite"},
                                 actor=_actor(app, staff.id))
    client = login(app.test_client(), staff.email)
    page = _text(client.get(f"/guichet/foyer/{fam.id}"))
    assert "L'avoir de la famille (30,00\u00a0€) paie 30,00\u00a0€ : encaissez 15,00\u00a0€." in page
    assert "15,00\u00a0€ à encaisser" in page
    client.post(f"/guichet/foyer/{fam.id}/payer", data={"method": "cash"})
    with app.app_context():
        payment = db.session.query(Payment).filter_by(household_id=fam.id).one()
        assert (payment.provider, payment.amount_cents, payment.status) == ("desk", 1500, "paid")
    m = assert_money_conserved(app, fam.id, granted=3000)
    assert m["balance"] == 0 and m["confirmed"] == 4500

    # A basket the credit covers entirely: nothing to take at the desk, confirmed all the same.
    with app.app_context():
        credits.grant(fam.id, 5000, "Correction", actor=_actor(app, staff.id))
        operations.desk_add_line(fam.id, fam.child_ids[0], cat.week_ids[1], {"mode": "onsite"},
                                 actor=_actor(app, staff.id))
        result = operations.desk_pay(fam.id, "cash", actor=_actor(app, staff.id))
    assert result.confirmed
    m = assert_money_conserved(app, fam.id, granted=8000)
    assert m["balance"] == 500 and m["confirmed"] == 9000 and money(app, fam.id)["paid"] == 1500
