"""Credit notes for card refunds (issue 16): every refund of a sale to the card — a staff refund of a
payment, a staff cancellation with refund, a cancellation under a « refund » rule — has its numbered
credit note (AV) referring to the invoice, settled to the card at once (the credit balance does not
move); paying back existing credit to the card issues no second note; money is conserved."""
from __future__ import annotations

from sqlalchemy import select

from tests.credit_helpers import assert_money_conserved, book_and_pay
from tests.test_invoices import pdf_text


def _staff(app, staff_id, func, *args, **kwargs):
    with app.app_context():
        return func(*args, actor=app.appbuilder.sm.get_user_by_id(staff_id), **kwargs)


def _notes(app, household_id):
    from app.models import CreditNote, db

    with app.app_context():
        return [(n.number, n.amount_cents, n.reservation_id, n.reason) for n in db.session.execute(
            select(CreditNote).where(CreditNote.household_id == household_id).order_by(CreditNote.id)).scalars()]


def _invoice(app, household_id):
    from app.models import Invoice, db

    with app.app_context():
        invoice = db.session.execute(select(Invoice).where(Invoice.household_id == household_id)
                                     .order_by(Invoice.id)).scalars().first()
        return invoice.id, invoice.number, invoice.payment_id


def test_staff_refund_and_staff_cancellation_have_numbered_credit_notes(app, factory):
    from app.models import CreditNote, db
    from app.services import payments
    from app.services.payments import credits, documents_pdf

    cat = factory.catalog(capacities=(10, 10), tariffs=((0, None, 4500),))
    fam = factory.household(last_name="Roux", children=[("Léo", 8)])
    staff = factory.staff()
    book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    second = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    _id, number, payment_id = _invoice(app, fam.id)

    _staff(app, staff.id, payments.refund, payment_id, 1000, "Sortie annulée")
    [(av1, amount, reservation, reason)] = _notes(app, fam.id)
    assert av1.startswith("AV-") and amount == 1000 and reservation is None
    assert number in reason and "Sortie annulée" in reason

    _staff(app, staff.id, payments.cancel_reservation, second, reason="Centre fermé", refund=True)
    notes = _notes(app, fam.id)
    assert len(notes) == 2 and notes[1][1:3] == (4500, second)
    assert int(notes[1][0].rsplit("-", 1)[1]) == int(av1.rsplit("-", 1)[1]) + 1  # gapless
    with app.app_context():
        assert credits.book_balance(fam.id) == 0  # each note is settled to the card at once
        lines = credits.account(fam.id)["credits"]
        assert sorted(line["amount_cents"] for line in lines) == [-4500, -1000, 1000, 4500]
        note = db.session.execute(select(CreditNote).where(CreditNote.reservation_id == second)).scalar_one()
        text = pdf_text(documents_pdf.credit_note_pdf(note))
    _i, second_number, _p = _invoice_of_reservation(app, second)
    assert f"Avoir {notes[1][0]}" in text and f"facture {second_number}" in text
    assert "remboursé sur la carte bancaire" in text and "porté au crédit" not in text
    m = assert_money_conserved(app, fam.id, granted=1000)  # the 10 € goodwill refund: the service's money
    assert m["refunded"] == 5500 and m["balance"] == 0


def _invoice_of_reservation(app, reservation_id):
    from app.services.payments.invoices import invoice_of_reservation

    with app.app_context():
        invoice = invoice_of_reservation(reservation_id)
        return invoice.id, invoice.number, invoice.payment_id


def test_refund_rule_cancellation_has_its_credit_note_and_credit_paid_back_has_none(app, factory):
    from app.services.booking.cancellation import set_rules
    from app.services.payments import credits
    from app.services.payments.cancellations import cancel_by_parent, cancel_for_family
    from app.services.transactions import unit_of_work

    cat = factory.catalog(capacities=(10, 10), tariffs=((0, None, 4500),))
    fam = factory.household(last_name="Brun", children=[("Mia", 8)])
    staff = factory.staff()
    with app.app_context(), unit_of_work():
        set_rules(cat.period_id, free_days_before=7, late_with_justification=True, outcome="refund", actor=None)
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    with app.app_context():
        result = cancel_by_parent(fam.id, line)
    assert result.outcome == "refund"
    [(_number, amount, reservation, reason)] = _notes(app, fam.id)
    assert (amount, reservation) == (4500, line) and "Remboursé sur votre carte" in reason

    # A week cancelled to credit, then that credit paid back to the card: one note (the credit), not two.
    other = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    _staff(app, staff.id, cancel_for_family, other, outcome="credit", reason="Déménagement")
    _staff(app, staff.id, credits.refund_to_card, fam.id, 4500, "Demande de la famille")
    assert len(_notes(app, fam.id)) == 2
    m = assert_money_conserved(app, fam.id)
    assert m["refunded"] == 9000 and m["balance"] == 0


def test_a_payfip_refund_credit_note_says_the_regie_pays_it_back(app, factory, client, monkeypatch):
    from app.models import CreditNote, db
    from app.services import payments
    from app.services.payments import credits, documents_pdf
    from tests.support.payfip_fake import use_payfip
    from tests.support.payments import call, make_basket, state

    fake = use_payfip(app, monkeypatch)
    b = make_basket(app, factory)
    payment_id = call(app, payments.start_checkout, b.household.id).payment_id
    idop = state(app, b.basket_id).payments[0].provider_ref
    fake.pay(idop)
    assert client.post("/payments/payfip/notification", data={"idOp": idop}).status_code == 200
    staff = factory.staff()
    _staff(app, staff.id, payments.refund, payment_id, 1500, "Journée absente")
    [(number, amount, _reservation, reason)] = _notes(app, b.household.id)
    assert amount == 1500 and reason.startswith("Remboursé par la régie (facture FA-")
    with app.app_context():
        assert credits.book_balance(b.household.id) == 0
        note = db.session.execute(select(CreditNote).where(CreditNote.number == number)).scalar_one()
        text = pdf_text(documents_pdf.credit_note_pdf(note))
    assert "remboursé par virement de la régie" in text and "carte bancaire" not in text
    assert "Se rapporte à la facture FA-" in text  # no week named: the invoice of the refunded payment
