"""The attestation fiscale (issue 16): children under 6 on 1 January, ALSH weeks only, meals and bus
excluded, refunds and credits netted, each separated household apart, parents only for a past year;
the PDF's text read back."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from tests.credit_helpers import add, book_and_pay, checkout, pay
from tests.test_invoices import pdf_text


def _set(app, model, row_id, **values):
    from app.models import db

    with app.app_context():
        row = db.session.get(model, row_id)
        for name, value in values.items():
            setattr(row, name, value)
        db.session.commit()


def _meal_share(app, period_id, cents):
    from app.models import Period, db

    with app.app_context():
        for bracket in db.session.get(Period, period_id).tariffs:
            bracket.meal_share_cents = cents
        db.session.commit()


def _attestation(app, household_id, year=None):
    from app.models import utcnow
    from app.services.localize import to_paris
    from app.services.payments.tax_attestation import attestation

    with app.app_context():
        result = attestation(household_id, year or to_paris(utcnow()).year)
        return result, {c.child_name.split()[0]: c.total_cents for c in result.children}


def _price(app, line_id):
    from app.models import Reservation, db

    with app.app_context():
        return db.session.get(Reservation, line_id).price_cents


def test_under_six_on_first_january():
    from app.services.payments.tax_attestation import under_six_on_first_january as under_six

    assert under_six(date(2020, 1, 2), 2026)
    assert not under_six(date(2020, 1, 1), 2026)  # 6 years old that very morning
    assert under_six(date(2026, 3, 1), 2026)  # born during the year
    assert not under_six(None, 2026)


def test_attestation_counts_alsh_weeks_of_young_children_without_meals_or_bus(app, factory):
    from app.models import Establishment

    cat = factory.catalog(capacities=(10, 10))
    stay = factory.catalog(capacities=(10,))
    _set(app, Establishment, stay.establishment_id, kind="sejour")
    _meal_share(app, cat.period_id, 300)
    fam = factory.household(children=[("Hugo", 4), ("Léa", 8)])
    hugo, lea = fam.child_ids
    first = book_and_pay(app, fam.id, hugo, cat.week_ids[0], cat.stop_ids[0])  # by bus: bus excluded
    book_and_pay(app, fam.id, lea, cat.week_ids[0])  # 8 years old: not on the attestation
    book_and_pay(app, fam.id, hugo, stay.week_ids[0])  # a séjour: not childcare
    result, totals = _attestation(app, fam.id)
    assert totals == {"Hugo": _price(app, first) - 300}
    assert result.total_cents == _price(app, first) - 300


def test_refunds_and_credits_are_netted(app, factory):
    from app.services.payments.cancellations import cancel_by_parent

    cat = factory.catalog(capacities=(10, 10))
    fam = factory.household(children=[("Hugo", 4)])
    kept = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    cancelled = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[1])
    with app.app_context():
        cancel_by_parent(fam.id, cancelled)  # free cancellation: a credit note for the whole week
    _result, totals = _attestation(app, fam.id)
    assert totals == {"Hugo": _price(app, kept)}


def test_separated_parents_each_get_what_their_household_paid(app, factory):
    cat = factory.catalog(capacities=(10, 10))
    mother = factory.household(children=[("Hugo", 4)])
    father = factory.household()
    factory.link_child(father.id, mother.child_ids[0])
    week1 = book_and_pay(app, mother.id, mother.child_ids[0], cat.week_ids[0])
    week2 = book_and_pay(app, father.id, mother.child_ids[0], cat.week_ids[1], cat.stop_ids[1])
    mother_result, mother_totals = _attestation(app, mother.id)
    father_result, father_totals = _attestation(app, father.id)
    assert list(mother_totals.values()) == [_price(app, week1)]
    assert list(father_totals.values()) == [_price(app, week2)]
    assert len(mother_result.children[0].lines) == len(father_result.children[0].lines) == 1
    assert mother_result.children[0].lines[0].week_label != father_result.children[0].lines[0].week_label


def test_parents_ask_for_a_finished_year_and_the_pdf_says_it(app, factory):
    from app.services.errors import ValidationFailed
    from app.services.payments import documents_pdf
    from app.services.payments.tax_attestation import parent_attestation

    cat = factory.catalog(capacities=(10,))
    fam = factory.household(children=[("Hugo", 4)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    with app.app_context():
        from app.models import utcnow
        from app.services.localize import to_paris

        year = to_paris(utcnow()).year
        with pytest.raises(ValidationFailed):
            parent_attestation(fam.id, year)
        result = parent_attestation(fam.id, year, now=datetime(year + 1, 1, 2, 9, tzinfo=timezone.utc))
        text = pdf_text(documents_pdf.attestation_pdf(result))
    assert f"Attestation de frais de garde {year}" in text
    assert "200 quater B" in text and "Hugo" in text
    from app.services.localize import euros

    assert euros(_price(app, line)).replace("\u202f", " ").replace("\u00a0", " ") in text


def _payment_of(app, line_id):
    from app.models import Invoice, InvoiceLine, db

    with app.app_context():
        return db.session.execute(db.select(Invoice.payment_id).join(InvoiceLine).where(
            InvoiceLine.reservation_id == line_id)).scalar_one()


def _staff_refund(app, staff_id, payment_id, cents):
    from flask_appbuilder.security.sqla.models import User

    from app.models import db
    from app.services import payments

    with app.app_context():
        payments.refund(payment_id, cents, "Geste commercial", actor=db.session.get(User, staff_id))


def test_a_refund_of_the_payment_not_tied_to_a_week_is_netted(app, factory):
    cat = factory.catalog(capacities=(10,), tariffs=((0, None, 4500),))
    staff = factory.staff()
    fam = factory.household(children=[("Hugo", 4)])
    line = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])
    _staff_refund(app, staff.id, _payment_of(app, line), 1000)  # its credit note has no week
    _result, totals = _attestation(app, fam.id)
    assert totals == {"Hugo": 4500 - 1000}


def test_a_payment_refund_is_shared_pro_rata_and_only_eligible_shares_count(app, factory):
    from app.models import Establishment
    from app.services.payments.tax_attestation import pro_rata

    cat = factory.catalog(capacities=(10,), tariffs=((0, None, 4500),))
    stay = factory.catalog(capacities=(10,), tariffs=((0, None, 3000),))
    _set(app, Establishment, stay.establishment_id, kind="sejour")
    _meal_share(app, cat.period_id, 500)
    staff = factory.staff()
    fam = factory.household(children=[("Hugo", 4), ("Léa", 8)])
    hugo, lea = fam.child_ids
    add(app, fam.id, hugo, cat.week_ids[0])  # eligible: 45 € with 5 € of meals
    add(app, fam.id, lea, cat.week_ids[0])  # 8 years old
    add(app, fam.id, hugo, stay.week_ids[0])  # a séjour
    pay(app, checkout(app, fam.id))
    payment_id = _payment_of(app, _line_of(app, fam.id, hugo, cat.week_ids[0]))
    _staff_refund(app, staff.id, payment_id, 1001)
    shares = pro_rata(1001, [4500, 4500, 3000])  # the invoice's lines, in their order
    assert shares == [376, 375, 250] and sum(shares) == 1001
    _result, totals = _attestation(app, fam.id)
    assert totals == {"Hugo": (4500 - 500) * (4500 - 376) // 4500}


def test_pro_rata_is_exact_and_deterministic():
    from app.services.payments.tax_attestation import pro_rata

    assert pro_rata(100, [100, 100, 100]) == [34, 33, 33]
    assert pro_rata(5000, [1000, 3000]) == [1000, 3000]  # never more than the lines
    assert pro_rata(0, [10]) == [0] and pro_rata(10, []) == [] and pro_rata(7, [0, 0]) == [0, 0]


def _line_of(app, household_id, child_id, week_id):
    from app.models import Reservation, db

    with app.app_context():
        return db.session.execute(db.select(Reservation.id).where(
            Reservation.household_id == household_id, Reservation.child_id == child_id,
            Reservation.week_id == week_id)).scalar_one()


def test_credit_staff_granted_is_left_out_but_credit_from_a_cancelled_week_counts(app, factory):
    from flask_appbuilder.security.sqla.models import User

    from app.models import Invoice, db
    from app.services.payments import credits
    from app.services.payments.cancellations import cancel_by_parent

    cat = factory.catalog(capacities=(10, 10), tariffs=((0, None, 4500),))
    staff = factory.staff()
    fam = factory.household(children=[("Hugo", 4)])
    first = book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[0])  # 45 € by card
    with app.app_context():
        credits.grant(fam.id, 1000, "Geste commercial", actor=db.session.get(User, staff.id))  # issued first
        cancel_by_parent(fam.id, first)  # 45 € of credit the family paid
    book_and_pay(app, fam.id, fam.child_ids[0], cat.week_ids[1])  # 10 € granted + 35 € of the family's
    with app.app_context():
        last = db.session.execute(db.select(Invoice).where(Invoice.household_id == fam.id)
                                  .order_by(Invoice.id.desc())).scalars().first()
        assert (last.credit_cents, last.card_cents) == (4500, 0)
    result, totals = _attestation(app, fam.id)
    assert totals == {"Hugo": 4500 - 1000}
    assert [line.invoice_number for line in result.children[0].lines] == [last.number]
