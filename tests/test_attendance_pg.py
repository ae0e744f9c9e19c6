"""PostgreSQL races of issue 18, with real threads and real row locks: two phones sending ticks of
the same child at once (one state, the latest phone time wins), the same batch delivered twice at
once (each tick applied once), and two staff granting the same justified absence at once (one avoir)."""
from __future__ import annotations

from tests import attendance_data as data
from tests.support.db import race

ROUNDS = 3


def _sync(s, ticks):
    from app.services.operations.tick_sync import sync

    return [r.outcome for r in sync(ticks, user_id=s.animator.id, today=data.MONDAY)]


def _state(app, child_id):
    from sqlalchemy import func, select

    from app.models import Attendance, AttendanceTick, db

    with app.app_context():
        rows = db.session.execute(select(Attendance).where(Attendance.child_id == child_id)).scalars().all()
        ticks = db.session.execute(select(func.count()).select_from(AttendanceTick)).scalar_one()
        return [(r.status, r.absence_reason) for r in rows], ticks


def test_two_phones_ticking_the_same_child_at_once_converge(pg_app, pg_factory):
    s = data.build(pg_app, pg_factory)
    for round_no in range(ROUNDS):
        # Phone A ticked later (09:05) than phone B (09:01): A's state wins, whichever arrives first.
        a = data.tick(s, s.tom, data.MONDAY, "present", client_id=f"A{round_no}",
                      at=f"2026-05-11T09:0{5 + round_no}:00+02:00")
        b = data.tick(s, s.tom, data.MONDAY, "absent", client_id=f"B{round_no}", absence_reason="unjustified",
                      at=f"2026-05-11T09:0{1 + round_no}:00+02:00")
        results = race(pg_app, lambda a=a: _sync(s, [a]), lambda b=b: _sync(s, [b]))
        assert sorted(r[0] for r in results) in (["applied", "applied"], ["applied", "stale"]), results
        rows, _ticks = _state(pg_app, s.tom)
        assert rows == [("present", None)], (round_no, results, rows)


def test_the_same_batch_delivered_twice_at_once_is_applied_once(pg_app, pg_factory):
    s = data.build(pg_app, pg_factory)
    batch = [data.tick(s, s.tom, data.MONDAY, client_id="same-1"),
             data.tick(s, s.ines, data.MONDAY, "absent", client_id="same-2", absence_reason="justified")]
    results = race(pg_app, lambda: _sync(s, batch), lambda: _sync(s, batch))
    # Per tick, one delivery applies it and the other finds it already there.
    for position in range(2):
        assert sorted(r[position] for r in results) == ["applied", "duplicate"], results
    assert _state(pg_app, s.tom)[0] == [("present", None)]
    rows, ticks = _state(pg_app, s.ines)
    assert rows == [("absent", "justified")] and ticks == 2


def test_two_staff_granting_the_same_absence_at_once_give_one_avoir(pg_app, pg_factory):
    from sqlalchemy import func, select

    from app.models import Attendance, CreditNote, db
    from app.services.operations.absence_credit import credit_justified_absence
    from app.services.payments.credits import book_balance

    s = data.build(pg_app, pg_factory)
    days = [data.MONDAY, data.MONDAY.replace(day=12), data.MONDAY.replace(day=13)]
    _sync_as = [data.tick(s, s.tom, day, "absent", client_id=f"j{n}", absence_reason="justified",
                          at=f"{day.isoformat()}T09:00:00+02:00") for n, day in enumerate(days)]
    with pg_app.app_context():
        assert _sync(s, _sync_as) == ["applied"] * 3
        ids = db.session.execute(select(Attendance.id).where(Attendance.child_id == s.tom)
                                 .order_by(Attendance.day)).scalars().all()
        staff = [pg_factory.staff() for _ in range(2)]
    for attendance_id in ids:
        def grant(user_id):
            actor = pg_app.appbuilder.sm.get_user_by_id(user_id)
            return credit_justified_absence(attendance_id, certificate_received=True, actor=actor).amount_cents

        results = race(pg_app, lambda: grant(staff[0].id), lambda: grant(staff[1].id))
        assert sorted(results, key=str) in ([1500, "already_credited"], [1500, "busy"]), results
    with pg_app.app_context():
        household_id = db.session.get(Attendance, ids[0]).reservation.household_id
        notes = db.session.execute(select(func.count(), func.sum(CreditNote.amount_cents))
                                   .where(CreditNote.household_id == household_id)).one()
        assert tuple(notes) == (3, 4500) and book_balance(household_id) == 4500
