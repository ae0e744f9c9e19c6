"""The accountant's export (issue 16): invoices, credit notes, payments and refunds over a range, as a
French CSV, whose totals per payment method and whose control line reconcile with the takings screen
(app/services/operations/takings.py): card, desk, credit-paid baskets, a partial staff refund and a
week cancelled with a refund."""
from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from app.services.localize import paris_today
from tests.credit_helpers import add, book_and_pay, checkout, pay


def _actor(app, user_id):
    from flask_appbuilder.security.sqla.models import User

    from app.models import db

    return db.session.get(User, user_id)


def _scenario(app, factory):
    from app.models import Invoice, Payment, Reservation, db
    from app.services import payments
    from app.services.payments.cancellations import cancel_by_parent

    cat = factory.catalog(capacities=(20, 20, 20), tariffs=((0, None, 4500),))
    staff = factory.staff()
    card = factory.household(last_name="Carte", children=[("Ana", 8)])
    desk = factory.household(last_name="Guichet", children=[("Bob", 8)])
    credit = factory.household(last_name="Avoir", children=[("Cléo", 8)])
    refunded = factory.household(last_name="Rembourse", children=[("Dan", 8), ("Eva", 5)])
    covered = factory.household(last_name="Couvert", children=[("Fanny", 8)])

    book_and_pay(app, card.id, card.child_ids[0], cat.week_ids[0], cat.stop_ids[0])  # card, with the bus

    line = add(app, desk.id, desk.child_ids[0], cat.week_ids[0])
    with app.app_context():
        basket_id = db.session.get(Reservation, line).basket_id
        payments.record_desk_payment(basket_id, "cash", actor=_actor(app, staff.id))

    first = book_and_pay(app, credit.id, credit.child_ids[0], cat.week_ids[0])
    with app.app_context():
        cancel_by_parent(credit.id, first)  # 45 € of credit
    add(app, credit.id, credit.child_ids[0], cat.week_ids[1])
    add(app, credit.id, credit.child_ids[0], cat.week_ids[2])
    pay(app, checkout(app, credit.id))  # 90 €: 45 by credit, 45 by card

    week = book_and_pay(app, covered.id, covered.child_ids[0], cat.week_ids[0])
    with app.app_context():
        cancel_by_parent(covered.id, week)  # 45 € of credit
    book_and_pay(app, covered.id, covered.child_ids[0], cat.week_ids[1])  # 45 €: all by credit, nothing cashed

    book_and_pay(app, refunded.id, refunded.child_ids[0], cat.week_ids[0])
    eva = book_and_pay(app, refunded.id, refunded.child_ids[1], cat.week_ids[1])
    with app.app_context():
        invoice = db.session.execute(db.select(Invoice).where(Invoice.household_id == refunded.id)
                                     .order_by(Invoice.id)).scalars().first()
        payments.refund(invoice.payment_id, 1000, "Geste commercial", actor=_actor(app, staff.id))
        payments.cancel_reservation(eva, reason="Fermeture", refund=True, actor=_actor(app, staff.id))
        assert db.session.execute(db.select(db.func.count()).select_from(Payment)
                                  .where(Payment.status == "partially_refunded")).scalar_one() >= 1
    return cat


def test_export_reconciles_with_the_takings(app, factory):
    from app.services.operations import accounting
    from app.services.operations.reports import takings

    _scenario(app, factory)
    with app.app_context():
        rows = takings()
        ledger = accounting.ledger(date(2000, 1, 1), paris_today() + timedelta(days=1))
        data = accounting.ledger_csv(ledger)
    net = sum(row.net_cents for row in rows)
    paid_by_method: dict[str, int] = {}
    for row in rows:
        for method, cents in row.by_method.items():
            paid_by_method[method] = paid_by_method.get(method, 0) + cents
    assert net > 0 and ledger.refunded_cents == sum(row.refunded_cents for row in rows) > 0
    assert ledger.paid_by_method == paid_by_method and set(paid_by_method) - {"credit"} == {"card", "cash"}
    assert not paid_by_method.get("credit")  # the basket covered by credit cashed nothing
    assert ledger.net_cents == net
    # The numbered documents tell the same money: invoices − their credit part − refunds.
    assert ledger.invoices_credit_cents == 4500 + 4500 and ledger.credit_notes_cents >= 9000
    assert ledger.documents_net_cents == net
    # The issue's identity: every credit note here was spent (the two 45 € credits) or refunded to the
    # card (the 10 € refund and the cancelled week each have one), so Σ invoices − Σ credit notes = net.
    assert ledger.credit_notes_cents == 4500 + 4500 + 1000 + 4500 and ledger.credit_gap_cents == 0
    assert ledger.invoices_cents - ledger.credit_notes_cents == net
    assert sum(v.get("paid", 0) - v.get("refunded", 0) for v in ledger.by_month.values()) == net

    text = data.decode("utf-8")
    assert text.startswith("\ufeff") and "\r\n" in text
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert table[0][:3] == ["Type", "Date", "Numéro"]
    kinds = {row[0] for row in table[1:] if row}
    assert {"Facture", "Avoir", "Encaissement", "Remboursement", "Total", "Contrôle"} <= kinds
    net_line = next(row for row in table if row[:3] == ["Total", "", "Net encaissé"])
    assert net_line[6] == f"{net // 100},{net % 100:02d}"
    controls = [row for row in table if row and row[0] == "Contrôle"]
    assert len(controls) == 2
    assert all(row[6] == net_line[6] and row[8] == "égal au net encaissé" for row in controls)
    numbers = [row[2] for row in table if row and row[0] == "Facture"]
    assert sorted(int(number.rsplit("-", 1)[1]) for number in numbers) == [1, 2, 3, 4, 5, 6, 7, 8]  # gapless
    # Every payment method in French: the basket covered by credit says so, never the code « credit ».
    assert all(row[5] != "credit" for row in table if row and len(row) > 5)
    covered = next(row for row in table if row[:1] == ["Facture"] and row[3] == "Foyer Couvert"
                   and row[7] == "45,00")
    assert covered[5] == "Payé par avoir" and covered[6] == "45,00"


def test_credit_left_on_an_account_is_the_gap_of_the_issue_identity(app, factory):
    from app.services.operations import accounting
    from app.services.operations.reports import takings
    from app.services.payments.cancellations import cancel_by_parent

    cat = factory.catalog(capacities=(5,), tariffs=((0, None, 4500),))
    fam = factory.household(last_name="Solde", children=[("Zoé", 8)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    with app.app_context():
        cancel_by_parent(fam.id, line)  # 45 € of credit, not spent yet
        ledger = accounting.ledger(date(2000, 1, 1), paris_today() + timedelta(days=1))
        net = sum(row.net_cents for row in takings())
        text = accounting.ledger_csv(ledger).decode("utf-8")
    assert ledger.net_cents == net == 4500 and ledger.documents_net_cents == net
    assert ledger.credit_gap_cents == -4500  # the family's credit: money kept, no invoice yet
    assert "écart : avoirs pas encore utilisés" in text


def test_range_keeps_what_falls_in_it(app, factory):
    from app.services.operations import accounting

    _scenario(app, factory)
    with app.app_context():
        past = accounting.ledger(date(2000, 1, 1), date(2000, 12, 31))
    assert past.entries == [] and past.net_cents == 0 and past.documents_net_cents == 0
