"""The régie's side of PayFiP: refund tasks on the staff screen (bank details, done by whom), the
money invariant with them, the daily reconciliation, and the booking package kept free of any
payment provider."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import grimp
import pytest
from sqlalchemy import func, select

from app.services import payments as service
from tests.support.payfip_fake import use_payfip
from tests.support.payments import audit_actions, call, fill_week, lapse, make_basket, state


@pytest.fixture
def fake(app, monkeypatch):
    return use_payfip(app, monkeypatch)


def _paid(app, factory, fake, client, **kwargs):
    b = make_basket(app, factory, **kwargs)
    b.payment_id = call(app, service.start_checkout, b.household.id).payment_id
    b.idop = state(app, b.basket_id).payments[0].provider_ref
    fake.pay(b.idop)
    assert client.post("/payments/payfip/notification", data={"idOp": b.idop}).status_code == 200
    return b


def _actor(app, user_id):
    from flask_appbuilder.security.sqla.models import User

    from app.models import db

    return db.session.get(User, user_id)


def test_staff_refund_of_a_payfip_payment_is_a_regie_task_then_done(app, factory, fake, client, login):
    b = _paid(app, factory, fake, client, weeks=(0, 1))
    staff = factory.staff()
    with app.app_context():
        row = service.refund(b.payment_id, 2500, "Journée absente", actor=_actor(app, staff.id))
        assert row.status == "succeeded" and row.provider_ref.startswith("regie-")
    login(client, staff.email)
    page = client.get("/regie/remboursements").get_data(as_text=True)
    assert "25,00" in page and "Journée absente" in page and f"PJB{b.basket_id:08d}T001" in page
    assert "À effectuer (RIB à demander)" in page
    from app.models import RegieRefund, db

    with app.app_context():
        task_id = db.session.execute(select(RegieRefund.id)).scalar_one()
    assert client.post(f"/regie/remboursements/{task_id}/rib-demande").status_code == 302
    # A transfer without its reference is refused in French; with it, done by this agent.
    client.post(f"/regie/remboursements/{task_id}/effectue", data={"note": " "})
    with app.app_context():
        assert db.session.get(RegieRefund, task_id).status == "details_requested"
    client.post(f"/regie/remboursements/{task_id}/effectue", data={"note": "Virement du 12/03, mandat 42"})
    with app.app_context():
        task = db.session.get(RegieRefund, task_id)
        assert (task.status, task.done_by_id, task.note) == ("done", staff.id, "Virement du 12/03, mandat 42")
        assert task.done_at is not None and task.details_requested_at is not None
    assert audit_actions(app, "regie_refund") == ["regie_refund.created", "regie_refund.details_requested",
                                                  "regie_refund.done"]
    done = client.get("/regie/remboursements?statut=done").get_data(as_text=True)
    assert "Virement du 12/03, mandat 42" in done and staff.email in done
    assert "Aucun remboursement." in client.get("/regie/remboursements").get_data(as_text=True)


def test_parents_cannot_reach_the_regie_screens(app, factory, client, login):
    parent = factory.household()
    login(client, parent.email)
    assert client.get("/regie/remboursements").status_code in (302, 403)
    assert client.get("/regie/rapprochement").status_code in (302, 403)


def test_money_is_conserved_with_regie_refunds(app, factory, fake, client):
    """Σ payments − Σ refunds = Σ confirmed prices, refunds handed to the régie included."""
    kept = _paid(app, factory, fake, client, weeks=(0, 1))
    late = make_basket(app, factory, capacities=(1, 10))
    call(app, service.start_checkout, late.household.id)
    late_idop = state(app, late.basket_id).payments[0].provider_ref
    lapse(app, late.basket_id)
    fill_week(app, factory, late.catalog)
    fake.pay(late_idop)
    assert client.post("/payments/payfip/notification", data={"idOp": late_idop}).json["outcome"] == "late_refunded"
    staff = factory.staff()
    with app.app_context():
        from app.models import Reservation, db

        line_id = db.session.execute(select(Reservation.id).where(Reservation.basket_id == kept.basket_id)
                                     .order_by(Reservation.id).limit(1)).scalar_one()
        service.cancel_reservation(line_id, reason="Malade", refund=True, actor=_actor(app, staff.id))
    from app.models import Payment, Refund, RegieRefund, db
    from app.services.payments.regie import regie_refund_totals

    with app.app_context():
        for household_id in (kept.household.id, late.household.id):
            paid = db.session.execute(select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(
                Payment.household_id == household_id, Payment.status.in_(service.PAID_STATES))).scalar()
            refunded = db.session.execute(select(func.coalesce(func.sum(Refund.amount_cents), 0)).join(Payment).where(
                Payment.household_id == household_id, Refund.status == "succeeded")).scalar()
            confirmed = db.session.execute(select(Reservation).where(
                Reservation.household_id == household_id, Reservation.status == "confirmed")).scalars().all()
            assert paid - refunded == sum(line.total_cents for line in confirmed)
            tasks = db.session.execute(select(func.sum(RegieRefund.amount_cents)).where(
                RegieRefund.household_id == household_id)).scalar()
            assert tasks == refunded  # every refund of a PayFiP payment is a task of the régie
        totals = regie_refund_totals()
        # The late payment (45 €) and the cancelled week (45 €), neither paid back by the régie yet.
        assert totals.handed_over_cents == totals.outstanding_cents == 9000


def test_daily_reconciliation_shows_payfip_beside_the_portal(app, factory, fake, client, login):
    confirmed = _paid(app, factory, fake, client)
    lost = make_basket(app, factory)
    call(app, service.start_checkout, lost.household.id)
    lost_idop = state(app, lost.basket_id).payments[0].provider_ref
    fake.pay(lost_idop)  # paid at PayFiP, its notification never arrived
    pending = make_basket(app, factory)
    call(app, service.start_checkout, pending.household.id)
    from app.services.payments.regie import reconciliation

    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    with app.app_context():
        rows = {row.payment.basket_id: row for row in reconciliation(today)}
        assert rows[confirmed.basket_id].difference is None and rows[confirmed.basket_id].payfip_status == "paid"
        assert rows[lost.basket_id].difference == "Payé chez PayFiP, non encaissé au portail."
        assert rows[pending.basket_id].difference is None and rows[pending.basket_id].payfip_status == "open"
        assert rows[confirmed.basket_id].payfip_fields["numauto"]
    staff = factory.staff()
    login(client, staff.email)
    page = client.get(f"/regie/rapprochement?jour={today.isoformat()}").get_data(as_text=True)
    assert "1 écart à examiner" in page and lost_idop in page
    with app.app_context():
        from app.models import Payment, db

        lost_payment = db.session.execute(select(Payment.id).where(Payment.provider_ref == lost_idop)).scalar_one()
    client.post(f"/regie/rapprochement/{lost_payment}/relire", data={"jour": today.isoformat()})
    assert state(app, lost.basket_id).status == "paid"
    assert "Aucun écart" in client.get("/regie/rapprochement").get_data(as_text=True)
    # A day without operations, and a date that is not one.
    assert "Aucune opération PayFiP" in client.get("/regie/rapprochement?jour=2001-01-01").get_data(as_text=True)
    assert client.get("/regie/rapprochement?jour=pas-une-date").status_code == 200


def test_staff_payment_screen_shows_the_payfip_references(app, factory, fake, client, login):
    b = _paid(app, factory, fake, client)
    login(client, factory.staff().email)
    page = client.get(f"/paiements/{b.payment_id}").get_data(as_text=True)
    assert "PayFiP" in page and b.idop in page and "-tip" in page
    # The refdet (what the régie reads in PayFiP's back office) and the way to the day's reconciliation.
    assert f'<code id="payfip-refdet">PJB{b.basket_id:08d}T001</code>' in page
    assert "/regie/rapprochement?jour=" in page
    # A refund handed to the régie shows on the payment, with its state.
    staff = factory.staff()
    with app.app_context():
        service.refund(b.payment_id, 1000, "Semaine annulée", actor=_actor(app, staff.id))
    page = client.get(f"/paiements/{b.payment_id}").get_data(as_text=True)
    assert "Remboursement régie" in page and "à effectuer (RIB à demander)" in page and "10,00" in page


def test_a_card_payment_screen_has_no_payfip_references(app, factory, client, login):
    b = make_basket(app, factory)
    payment_id = call(app, service.start_checkout, b.household.id).payment_id
    login(client, factory.staff().email)
    page = client.get(f"/paiements/{payment_id}").get_data(as_text=True)
    assert "Réf. page de paiement" in page and "payfip-refdet" not in page and "Remboursement régie" not in page


def test_booking_imports_nothing_of_any_payment_provider():
    graph = grimp.build_graph("app", include_external_packages=True)
    booking = {m for m in graph.modules if m == "app.services.booking" or m.startswith("app.services.booking.")}
    assert booking
    # The graph is live: payments do import booking (the other way round is what is forbidden).
    assert graph.chain_exists(importer="app.services.payments", imported="app.services.booking", as_packages=True)
    providers = ["app.services.payments", "stripe", "eopayment", "zeep"]
    for module in providers:
        for importer in booking:
            assert not graph.chain_exists(importer=importer, imported=module, as_packages=True), \
                f"{importer} reaches {module}"
