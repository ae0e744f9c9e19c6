"""Attendance, boarding, hours realised and the CAF export (issue 18), on the worked example of
tests/attendance_data.py: the animator's row scoping, idempotent sync, two phones, the hours."""
from __future__ import annotations

import dataclasses
from datetime import date, time, timedelta

import pytest

from tests import attendance_data as data
from tests.support.db import call

TUESDAY = data.MONDAY + timedelta(days=1)
WEDNESDAY = data.MONDAY + timedelta(days=2)


@pytest.fixture
def s(app, factory):
    return data.build(app, factory)


def _sync(app, ticks, user_id, today=data.MONDAY):
    from app.services.operations.tick_sync import sync

    return [(r.client_id, r.outcome, r.code) for r in call(app, sync, ticks, user_id=user_id, today=today)]


def _attendance(app, establishment_id, child_id, day):
    from sqlalchemy import select

    from app.models import Attendance, db

    with app.app_context():
        row = db.session.execute(select(Attendance).where(
            Attendance.establishment_id == establishment_id, Attendance.child_id == child_id,
            Attendance.day == day)).scalar_one_or_none()
        return None if row is None else dict(status=row.status, arrived_at=row.arrived_at, left_at=row.left_at,
                                             picked_up_by=row.picked_up_by, pickup_unlisted=row.pickup_unlisted,
                                             absence_reason=row.absence_reason)


# --- open days ------------------------------------------------------------------------------------

def test_open_days_are_weekdays_minus_public_holidays_and_staff_can_override(app, s, factory):
    from app.services.operations.open_days import set_open_day, week_open_days

    days = call(app, week_open_days, s.cat.establishment_id, data.MONDAY)
    assert [d.day.weekday() for d in days] == [0, 1, 2, 3, 4]
    thursday = days[3]
    assert thursday.day == data.ASCENSION and not thursday.is_open and thursday.holiday == "Ascension"
    assert all(d.is_open and d.minutes == 540 for d in days if d.day != data.ASCENSION)
    # A tick on the holiday is refused, until staff open the day (with shorter hours).
    refused = _sync(app, [data.tick(s, s.tom, data.ASCENSION, client_id="h1")], s.animator.id)
    assert refused == [("h1", "refused", "closed_day")]
    staff = factory.staff()
    with app.app_context():
        actor = app.appbuilder.sm.get_user_by_id(staff.id)
        set_open_day(s.cat.establishment_id, data.ASCENSION, is_open=True, opens_at=time(9), closes_at=time(12),
                     actor=actor)
    days = call(app, week_open_days, s.cat.establishment_id, data.MONDAY)
    assert days[3].is_open and days[3].minutes == 180
    assert _sync(app, [data.tick(s, s.tom, data.ASCENSION, client_id="h2")], s.animator.id) == [("h2", "applied", "")]


# --- row scoping ----------------------------------------------------------------------------------

def test_the_animator_sees_only_their_establishment_this_week_and_nothing_of_money_or_documents(app, s):
    from app.services.errors import NotFound
    from app.services.operations.attendance import SheetChild, day_sheet

    sheet = call(app, day_sheet, s.cat.establishment_id, data.MONDAY, user_id=s.animator.id, today=data.MONDAY)
    assert sorted(c.first_name for c in sheet.children) == ["Inès", "Tom", "Zoé"]
    ines = next(c for c in sheet.children if c.first_name == "Inès")
    assert [p.name for p in ines.contacts] == ["Claire Martin"]
    # Another establishment, another week, the driver on an establishment: "not found".
    for establishment_id, day, user_id in [(s.other.establishment_id, data.MONDAY, s.animator.id),
                                           (s.cat.establishment_id, data.MONDAY + timedelta(days=7), s.animator.id),
                                           (s.cat.establishment_id, data.MONDAY, s.driver.id)]:
        with pytest.raises(NotFound):
            call(app, day_sheet, establishment_id, day, user_id=user_id, today=data.MONDAY)
    # A tick on the other establishment's child is refused and records nothing.
    result = _sync(app, [data.tick(s, s.max, data.MONDAY, client_id="x1", establishment_id=s.other.establishment_id)],
                   s.animator.id)
    assert result == [("x1", "refused", "not_found")]
    assert _attendance(app, s.other.establishment_id, s.max, data.MONDAY) is None
    # What a sheet can carry at all: no price, no document, no address, no medical notes, no household.
    fields = {f.name for f in dataclasses.fields(SheetChild)}
    assert not {name for name in fields if any(word in name for word in
                                                ("price", "cents", "document", "address", "medical",
                                                 "household", "quotient", "doctor"))}


def test_staff_see_any_week_without_assignment(app, s):
    from app.services.operations.attendance import day_sheet

    sheet = call(app, day_sheet, s.cat.establishment_id, data.MONDAY, user_id=None, today=date(2030, 1, 1))
    assert len(sheet.children) == 3


# --- sync -----------------------------------------------------------------------------------------

def test_the_same_batch_sent_twice_is_applied_once(app, s):
    from app.models import Attendance, AttendanceTick, AuditLog
    from tests.booking_helpers import count_rows

    batch = [data.tick(s, s.ines, data.MONDAY, client_id="a-1"),
             data.tick(s, s.tom, data.MONDAY, "absent", client_id="a-2", absence_reason="justified")]
    assert _sync(app, batch, s.animator.id) == [("a-1", "applied", ""), ("a-2", "applied", "")]
    assert _sync(app, batch, s.animator.id) == [("a-1", "duplicate", ""), ("a-2", "duplicate", "")]
    assert count_rows(app, AttendanceTick) == 2
    assert count_rows(app, Attendance) == 2
    assert count_rows(app, AuditLog, action="attendance.ticked") == 2
    assert _attendance(app, s.cat.establishment_id, s.tom, data.MONDAY)["absence_reason"] == "justified"


def test_two_phones_ticking_the_same_child_converge_to_the_latest_tick(app, s, factory):
    other_phone = factory.user(role="Animateur")
    data.assign(app, other_phone.id, establishment_id=s.cat.establishment_id)
    early = data.tick(s, s.ines, data.MONDAY, "present", client_id="p1-1", at="2026-05-11T09:00:00+02:00")
    late = data.tick(s, s.ines, data.MONDAY, "absent", client_id="p2-1", at="2026-05-11T09:05:00+02:00",
                     absence_reason="unjustified")
    # The later tick reaches the server first (the first phone was offline): it still wins.
    assert _sync(app, [late], other_phone.id) == [("p2-1", "applied", "")]
    assert _sync(app, [early], s.animator.id) == [("p1-1", "stale", "")]
    assert _attendance(app, s.cat.establishment_id, s.ines, data.MONDAY)["status"] == "absent"
    # And in the other order, the same final state.
    later = data.tick(s, s.ines, data.MONDAY, "present", client_id="p1-2", at="2026-05-11T09:10:00+02:00",
                      arrived_at="09:10")
    assert _sync(app, [later], s.animator.id) == [("p1-2", "applied", "")]
    row = _attendance(app, s.cat.establishment_id, s.ines, data.MONDAY)
    assert row["status"] == "present" and row["arrived_at"] == time(9, 10) and row["absence_reason"] is None


def test_a_refused_tick_does_not_block_the_rest_of_the_queue(app, s):
    batch = [data.tick(s, s.ines, data.MONDAY, client_id="q1", arrived_at="25:00"),
             {"kind": "attendance"},
             "not a tick",
             data.tick(s, s.tom, data.MONDAY, client_id="q2", left_at="16:00")]
    assert _sync(app, batch, s.animator.id) == [("q1", "refused", "invalid_time"), ("", "refused", "no_client_id"),
                                                ("", "refused", "invalid"), ("q2", "applied", "")]


def test_a_pick_up_by_someone_not_authorised_is_flagged(app, s):
    _sync(app, [data.tick(s, s.ines, data.MONDAY, client_id="k1", left_at="16:30", picked_up_by="Claire Martin"),
                data.tick(s, s.tom, data.MONDAY, client_id="k2", left_at="16:30", picked_up_by="Un inconnu")],
          s.animator.id)
    assert _attendance(app, s.cat.establishment_id, s.ines, data.MONDAY)["pickup_unlisted"] is False
    assert _attendance(app, s.cat.establishment_id, s.tom, data.MONDAY)["pickup_unlisted"] is True


# --- boarding -------------------------------------------------------------------------------------

def _boarding(s, child_id, stop_id, client_id, leg="morning"):
    return dict(kind="boarding", client_id=client_id, circuit_id=s.cat.circuit_id, stop_id=stop_id, child_id=child_id,
                day=data.MONDAY.isoformat(), leg=leg, boarded=True, ticked_at="2026-05-11T07:31:00+02:00")


def test_boarding_list_in_route_order_and_a_child_from_another_stop_cannot_be_ticked(app, s):
    from app.services.errors import NotFound
    from app.services.operations.attendance import day_sheet
    from app.services.operations.boarding import boarding_sheet

    sheet = call(app, boarding_sheet, s.cat.circuit_id, data.MONDAY, "morning", user_id=s.driver.id,
                 today=data.MONDAY)
    assert [st.position for st in sheet.stops] == [1, 2, 3]
    assert [st.time for st in sheet.stops] == [time(7, 30), time(8, 30), time(9, 30)]
    assert [c.first_name for c in sheet.stops[0].children] == ["Inès"]
    evening = call(app, boarding_sheet, s.cat.circuit_id, data.MONDAY, "evening", user_id=s.driver.id,
                   today=data.MONDAY)
    assert [st.position for st in evening.stops] == [3, 2, 1]
    # Zoé is booked at the second stop: at the first one she is « non inscrit à cet arrêt ».
    first, second = s.cat.stop_ids[0], s.cat.stop_ids[1]
    result = call(app, __import__("app.services.operations.tick_sync", fromlist=["sync"]).sync,
                  [_boarding(s, s.zoe, first, "b1"), _boarding(s, s.ines, first, "b2")],
                  user_id=s.driver.id, today=data.MONDAY)
    assert [(r.outcome, r.code) for r in result] == [("refused", "not_on_stop"), ("applied", "")]
    assert "Non inscrit à cet arrêt" in result[0].message and "Stade" in result[0].message
    # Tom comes on site: on no stop of the circuit.
    result = _sync(app, [_boarding(s, s.tom, second, "b3")], s.driver.id)
    assert result == [("b3", "refused", "not_on_stop")]
    sheet = call(app, boarding_sheet, s.cat.circuit_id, data.MONDAY, "morning", user_id=s.driver.id,
                 today=data.MONDAY)
    assert sheet.stops[0].children[0].boarded is True
    # The driver sees no establishment, the animator no circuit.
    with pytest.raises(NotFound):
        call(app, boarding_sheet, s.cat.circuit_id, data.MONDAY, "morning", user_id=s.animator.id, today=data.MONDAY)
    with pytest.raises(NotFound):
        call(app, day_sheet, s.cat.establishment_id, data.MONDAY, user_id=s.driver.id, today=data.MONDAY)


# --- hours realised and the CAF export --------------------------------------------------------------

def _worked_week(app, s, factory):
    """Inès: Monday all day (540), Tuesday 9:00–16:00 (420), Wednesday absent (justified).
    Tom: Monday until 12:00 (210), Tuesday present all day but corrected by staff to 300 minutes.
    Zoé: never ticked."""
    from sqlalchemy import select

    from app.models import Attendance, db
    from app.services.operations.attendance import correct_hours

    _sync(app, [data.tick(s, s.ines, data.MONDAY, client_id="w1"),
                data.tick(s, s.ines, TUESDAY, client_id="w2", arrived_at="09:00", left_at="16:00"),
                data.tick(s, s.ines, WEDNESDAY, "absent", client_id="w3", absence_reason="justified"),
                data.tick(s, s.tom, data.MONDAY, client_id="w4", left_at="12:00"),
                data.tick(s, s.tom, TUESDAY, client_id="w5")], s.animator.id)
    staff = factory.staff()
    with app.app_context():
        row_id = db.session.execute(select(Attendance.id).where(Attendance.child_id == s.tom,
                                                                Attendance.day == TUESDAY)).scalar_one()
        correct_hours(row_id, 300, "Parti à 13:30, départ non pointé", actor=app.appbuilder.sm.get_user_by_id(staff.id))
    return staff


def test_hours_realised_per_child_and_day_with_a_staff_correction_audited(app, s, factory):
    from app.models import AuditLog
    from app.services.errors import ValidationFailed
    from app.services.operations.attendance import correct_hours, realised_days
    from tests.booking_helpers import count_rows

    _worked_week(app, s, factory)
    days = call(app, realised_days, s.cat.establishment_id, data.MONDAY, data.MONDAY + timedelta(days=6))
    assert [(d.first_name, d.day.weekday(), d.minutes) for d in days] == [
        ("Tom", 0, 210), ("Inès", 0, 540), ("Tom", 1, 300), ("Inès", 1, 420), ("Inès", 2, 0)]
    tom_tuesday = days[2]
    assert tom_tuesday.ticked_minutes == 540 and tom_tuesday.correction_reason.startswith("Parti")
    assert count_rows(app, AuditLog, action="attendance.corrected") == 1
    with pytest.raises(ValidationFailed):
        call(app, correct_hours, tom_tuesday.attendance_id, 100, "  ")


def test_caf_export_by_age_band_scheme_and_qf_band_on_the_worked_example(app, s, factory):
    from app.services.operations.caf_export import caf_csv, caf_export

    _worked_week(app, s, factory)
    export = call(app, caf_export, s.cat.establishment_id, 2026, 5)
    assert [(line.scheme, line.band, line.children, line.child_days, line.minutes) for line in export.by_age] == [
        ("CAF", "Moins de 6 ans", 1, 2, 960), ("MSA", "6 ans et plus", 1, 2, 510)]
    assert [(line.scheme, line.band, line.hours) for line in export.by_qf] == [
        ("CAF", "QF 0 – 700", 16.0), ("MSA", "QF 701 – 1200", 8.5)]
    assert export.total_hours == 24.5
    text = call(app, caf_csv, export).decode("utf-8-sig")
    lines = text.split("\r\n")
    assert lines[0] == "Établissement;Mois;Régime;Répartition;Tranche;Enfants;Journées;Heures réalisées"
    assert lines[1] == "ALSH Les Pins;05/2026;CAF;Âge;Moins de 6 ans;1;2;16"
    assert lines[2] == "ALSH Les Pins;05/2026;MSA;Âge;6 ans et plus;1;2;8,5"
    # Another month: nothing.
    assert call(app, caf_export, s.cat.establishment_id, 2026, 6).by_age == []
