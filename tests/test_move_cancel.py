"""Staff move a child to another week or stop (capacity and bus seats checked under the week locks)
or cancel a week with a reason (through the payments service: place freed, refund, mail, audit)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests import ops_data


@pytest.fixture
def setup(app, factory):
    """Three weeks (10, 1 and 10 places), a bus of one seat; Léa confirmed on site in week 1."""
    cat = factory.catalog(capacities=(10, 1, 10), seats=1)
    family = factory.household(last_name="Moreau", children=[("Léa", 8), ("Noé", 6)])
    lea, noe = family.child_ids
    r_lea, _ = ops_data.reserve(app, family.id, lea, cat.week_ids[0])
    staff = factory.staff()
    return dict(cat=cat, family=family, lea=lea, noe=noe, r_lea=r_lea, staff=staff)


def _call(app, staff_id, func, *args, **kwargs):
    with app.app_context():
        actor = app.appbuilder.sm.get_user_by_id(staff_id)
        return func(*args, actor=actor, **kwargs)


def _line(app, reservation_id):
    from app.models import Reservation, db

    with app.app_context():
        line = db.session.get(Reservation, reservation_id)
        state = (line.status, line.week_id, line.transport_mode, line.stop_id, line.cancel_reason)
    return state


def _move(app, s, reservation_id, **kwargs):
    from app.services.operations import desk as operations

    return _call(app, s["staff"].id, operations.move_reservation, reservation_id, **kwargs)


def test_move_to_another_week_and_stop_is_audited_and_mailed(app, setup, make_client, login):
    from app.models import AuditLog, MailLog, db

    s = setup
    cat = s["cat"]
    client = login(make_client(), s["staff"].email)
    response = client.post(f"/operations/inscription/{s['r_lea']}/deplacer",
                           data={"week_id": cat.week_ids[2], "transport": f"stop:{cat.stop_ids[1]}"},
                           follow_redirects=True)
    assert "Inscription modifiée" in response.get_data(as_text=True)
    assert _line(app, s["r_lea"]) == ("confirmed", cat.week_ids[2], "bus", cat.stop_ids[1], None)
    with app.app_context():
        entry = db.session.query(AuditLog).filter_by(action="reservation.moved", entity_id=s["r_lea"]).one()
        assert entry.actor_label == s["staff"].email and entry.household_id == s["family"].id
        assert f'"week_id": {cat.week_ids[0]}' in entry.before and f'"week_id": {cat.week_ids[2]}' in entry.after
        mail = db.session.query(MailLog).filter_by(kind="reservation_moved").one()
        assert mail.to_address == s["family"].email and "Léa Moreau" in mail.subject
        assert "Stade" in mail.body_text and "08:30" in mail.body_text
    # The lists follow: week 3 bus list has Léa at the Stade stop, week 1 no longer lists her.
    bus = client.get(f"/listes/bus?week_id={cat.week_ids[2]}").get_data(as_text=True)
    assert "MOREAU Léa" in bus
    assert "MOREAU Léa" not in client.get(f"/listes/appel?week_id={cat.week_ids[0]}").get_data(as_text=True)


def test_move_into_a_full_week_is_refused(app, setup, factory):
    from app.services.errors import Conflict

    s = setup
    other = factory.household(last_name="Plein", children=[("Max", 8)])
    ops_data.reserve(app, other.id, other.child_ids[0], s["cat"].week_ids[1])  # the only place of week 2
    with pytest.raises(Conflict) as refused:
        _move(app, s, s["r_lea"], week_id=s["cat"].week_ids[1])
    assert refused.value.code == "full"
    assert _line(app, s["r_lea"])[1] == s["cat"].week_ids[0]
    # A live hold takes the place too; an expired one does not.
    from app.models import Reservation, db

    with app.app_context():
        lapsed = ops_data.now() - timedelta(minutes=1)
        db.session.query(Reservation).filter_by(household_id=other.id).update({"status": "held",
                                                                                 "hold_expires_at": lapsed})
        db.session.commit()
    _move(app, s, s["r_lea"], week_id=s["cat"].week_ids[1])
    assert _line(app, s["r_lea"])[1] == s["cat"].week_ids[1]


def test_bus_seats_are_checked_but_a_stop_change_on_the_same_bus_is_free(app, setup, factory):
    from app.services.errors import Conflict

    s = setup
    cat = s["cat"]
    other = factory.household(last_name="Bus", children=[("Jo", 8)])
    r_jo, _ = ops_data.reserve(app, other.id, other.child_ids[0], cat.week_ids[0], stop_id=cat.stop_ids[0],
                               circuit_id=cat.circuit_id)
    with pytest.raises(Conflict) as refused:
        _move(app, s, s["r_lea"], transport={"mode": "bus", "stop_id": cat.stop_ids[2]})
    assert refused.value.code == "full" and "bus" in refused.value.message
    assert _line(app, s["r_lea"])[2] == "onsite"
    # Jo already has the seat: another stop of the same circuit the same week is fine.
    _move(app, s, r_jo, transport={"mode": "bus", "stop_id": cat.stop_ids[2]})
    assert _line(app, r_jo)[3] == cat.stop_ids[2]
    # Jo to another week keeps a bus seat there (free in week 3), and frees week 1's.
    _move(app, s, r_jo, week_id=cat.week_ids[2])
    assert _line(app, r_jo)[:4] == ("confirmed", cat.week_ids[2], "bus", cat.stop_ids[2])
    _move(app, s, s["r_lea"], transport={"mode": "bus", "stop_id": cat.stop_ids[0]})
    assert _line(app, s["r_lea"])[2:4] == ("bus", cat.stop_ids[0])
    # And back to on site.
    _move(app, s, s["r_lea"], transport={"mode": "onsite"})
    assert _line(app, s["r_lea"])[2:4] == ("onsite", None)


def test_move_onto_a_week_the_child_already_has_is_refused_unless_the_hold_lapsed(app, setup):
    from app.models import Reservation, db
    from app.services.errors import Conflict

    s = setup
    cat = s["cat"]
    r_other, _ = ops_data.reserve(app, s["family"].id, s["lea"], cat.week_ids[2])
    with pytest.raises(Conflict) as refused:
        _move(app, s, s["r_lea"], week_id=cat.week_ids[2])
    assert refused.value.code == "already_booked"
    # That line becomes a lapsed hold (still 'held' in the table): the move goes through.
    with app.app_context():
        line = db.session.get(Reservation, r_other)
        line.status, line.hold_expires_at, line.confirmed_at = "held", ops_data.now(), None
        db.session.commit()
    _move(app, s, s["r_lea"], week_id=cat.week_ids[2])
    assert _line(app, s["r_lea"])[1] == cat.week_ids[2]
    assert _line(app, r_other)[0] == "expired"


def test_move_refusals_with_clear_messages(app, setup, factory):
    from app.services.errors import Conflict, NotFound, ValidationFailed

    s = setup
    cat = s["cat"]
    elsewhere = factory.catalog()
    with pytest.raises(ValidationFailed) as other_period:
        _move(app, s, s["r_lea"], week_id=elsewhere.week_ids[0])
    assert other_period.value.code == "other_period"
    with pytest.raises(ValidationFailed) as bad_stop:
        _move(app, s, s["r_lea"], transport={"mode": "bus", "stop_id": elsewhere.stop_ids[0]})
    assert bad_stop.value.code == "invalid_stop"
    with pytest.raises(ValidationFailed) as nothing:
        _move(app, s, s["r_lea"], week_id=cat.week_ids[0])
    assert nothing.value.code == "nothing_to_move"
    with pytest.raises(ValidationFailed):
        _move(app, s, s["r_lea"])
    with pytest.raises(ValidationFailed):
        _move(app, s, s["r_lea"], transport={"mode": "avion"})
    with pytest.raises(NotFound):
        _move(app, s, 999999, week_id=cat.week_ids[2])
    held, _ = ops_data.reserve(app, s["family"].id, s["noe"], cat.week_ids[0], status="held")
    with pytest.raises(Conflict) as not_confirmed:
        _move(app, s, held, week_id=cat.week_ids[2])
    assert not_confirmed.value.code == "not_confirmed"
    assert _line(app, s["r_lea"])[:3] == ("confirmed", cat.week_ids[0], "onsite")


def test_move_form_reports_errors_in_french(app, setup, make_client, login, factory):
    s = setup
    other = factory.household(last_name="Plein", children=[("Max", 8)])
    ops_data.reserve(app, other.id, other.child_ids[0], s["cat"].week_ids[1])
    client = login(make_client(), s["staff"].email)
    url = f"/operations/inscription/{s['r_lea']}/deplacer"
    html = client.post(url, data={"week_id": s["cat"].week_ids[1], "transport": "same"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Cette semaine est complète" in html
    html = client.post(url, data={"week_id": s["cat"].week_ids[0], "transport": "stop:abc"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Transport inconnu" in html
    assert client.post("/operations/inscription/999999/deplacer", data={"week_id": 1}).status_code == 404


def _desk_paid(app, s, child_id, week_id, transport, method="cash"):
    """A week booked and paid at the desk through the real services."""
    from app.services.operations import desk as operations

    _call(app, s["staff"].id, operations.desk_add_line, s["family"].id, child_id, week_id, transport)
    result = _call(app, s["staff"].id, operations.desk_pay, s["family"].id, method)
    assert result.confirmed


def test_cancel_with_reason_and_refund_frees_the_place(app, setup, make_client, login):
    from app.models import MailLog, Refund, db
    from app.services.operations import reports

    s = setup
    cat = s["cat"]
    from app.models import Reservation

    _desk_paid(app, s, s["noe"], cat.week_ids[1], {"mode": "bus", "stop_id": cat.stop_ids[0]})
    with app.app_context():
        r_noe = db.session.query(Reservation.id).filter_by(child_id=s["noe"], status="confirmed").scalar()
    client = login(make_client(), s["staff"].email)
    html = client.post(f"/operations/inscription/{r_noe}/annuler", data={"reason": "  "},
                       follow_redirects=True).get_data(as_text=True)
    assert "Indiquez le motif de l&#39;annulation." in html or "Indiquez le motif de l'annulation." in html
    assert _line(app, r_noe)[0] == "confirmed"

    html = client.post(f"/operations/inscription/{r_noe}/annuler", data={"reason": "Enfant malade", "refund": "1"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Inscription annulée" in html
    assert _line(app, r_noe)[0] == "cancelled" and _line(app, r_noe)[4] == "Enfant malade"
    with app.app_context():
        refund = db.session.query(Refund).filter_by(reservation_id=r_noe).one()
        assert (refund.amount_cents, refund.status) == (5000, "succeeded")  # 45 € + 5 € of bus
        assert db.session.query(MailLog).filter_by(kind="reservation_cancelled").count() == 1
        occupancy = reports.occupancy(cat.period_id)
        assert occupancy.weeks[1].confirmed == 0 and occupancy.weeks[1].free == 1
        takings = reports.takings(period_ids=[cat.period_id])[0]
        assert (takings.paid_cents, takings.refunded_cents, takings.net_cents) == (5000, 5000, 0)
    # Cancelling twice is refused; the place can be booked again at the desk.
    html = client.post(f"/operations/inscription/{r_noe}/annuler", data={"reason": "encore"},
                       follow_redirects=True).get_data(as_text=True)
    assert "Seule une inscription confirmée peut être annulée." in html
    assert "MOREAU Noé" not in client.get(f"/listes/appel?week_id={cat.week_ids[1]}").get_data(as_text=True)


def test_cancel_without_refund_keeps_the_money(app, setup):
    from app.models import Refund, db
    from app.services.operations import desk as operations

    s = setup
    line = _call(app, s["staff"].id, operations.cancel_reservation, s["r_lea"], reason="Erreur de saisie",
                 refund=False)
    assert line is not None
    assert _line(app, s["r_lea"])[0] == "cancelled"
    with app.app_context():
        assert db.session.query(Refund).count() == 0


def test_two_moves_racing_for_the_last_place_on_postgresql(pg_app, pg_factory):
    """Real threads, real row locks: only one of two staff members gets the last place of week 2."""
    from app.services.errors import Busy, Conflict
    from app.services.operations import desk as operations

    cat = pg_factory.catalog(capacities=(10, 1), seats=5)
    family = pg_factory.household(last_name="Course", children=[("Ana", 8), ("Bob", 7)])
    staff = pg_factory.staff()
    lines = [ops_data.reserve(pg_app, family.id, child, cat.week_ids[0])[0] for child in family.child_ids]
    barrier = threading.Barrier(2)

    def move(reservation_id):
        from app.models import db

        with pg_app.app_context():
            actor = pg_app.appbuilder.sm.get_user_by_id(staff.id)
            barrier.wait()
            try:
                operations.move_reservation(reservation_id, week_id=cat.week_ids[1], actor=actor)
                return "moved"
            except (Conflict, Busy) as exc:
                return exc.code
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(move, lines))
    assert outcomes == ["full", "moved"]
    from app.models import Reservation, db

    with pg_app.app_context():
        in_week_2 = db.session.query(Reservation).filter_by(week_id=cat.week_ids[1], status="confirmed").count()
    assert in_week_2 == 1
