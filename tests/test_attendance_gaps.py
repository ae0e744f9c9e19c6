"""Gaps in issue 18's tests found by an audit: « Descendu » on the evening bus, an animator's reach
to documents and money, the staff's open-day override over HTTP, a child turning 6 within the
month in the CAF export, and the household's scheme through the parent API."""
from __future__ import annotations

import pytest

from tests import attendance_data as data
from tests.support.db import call


@pytest.fixture
def s(app, factory):
    return data.build(app, factory)


def _sync(app, ticks, user_id):
    from app.services.operations.tick_sync import sync

    return [(r.client_id, r.outcome, r.code) for r in call(app, sync, ticks, user_id=user_id, today=data.MONDAY)]


# --- « Descendu » on the evening leg -----------------------------------------------------------------

def test_got_off_on_the_evening_leg_sent_twice_is_applied_once_and_read_back(app, s, factory, make_client, login):
    from app.models import AttendanceTick, AuditLog, Boarding
    from app.services.operations.boarding import boarding_sheet
    from tests.booking_helpers import count_rows

    first = s.cat.stop_ids[0]
    base = dict(kind="boarding", circuit_id=s.cat.circuit_id, stop_id=first, child_id=s.ines,
                day=data.MONDAY.isoformat(), leg="evening")
    boarded = dict(base, client_id="e1", boarded=True, got_off=False, ticked_at="2026-05-11T17:31:00+02:00")
    got_off = dict(base, client_id="e2", boarded=True, got_off=True, ticked_at="2026-05-11T18:05:00+02:00")
    assert _sync(app, [boarded, got_off], s.driver.id) == [("e1", "applied", ""), ("e2", "applied", "")]
    # The phone lost the answer and sends the same queue again: nothing more is applied.
    assert _sync(app, [boarded, got_off], s.driver.id) == [("e1", "duplicate", ""), ("e2", "duplicate", "")]
    assert count_rows(app, AttendanceTick, kind="boarding") == 2
    assert count_rows(app, Boarding) == 1
    assert count_rows(app, AuditLog, action="boarding.ticked") == 2
    # The driver's evening sheet: Inès boarded and got off; the morning leg is untouched.
    evening = call(app, boarding_sheet, s.cat.circuit_id, data.MONDAY, "evening", user_id=s.driver.id,
                   today=data.MONDAY)
    ines = next(c for st in evening.stops for c in st.children if c.child_id == s.ines)
    zoe = next(c for st in evening.stops for c in st.children if c.child_id == s.zoe)
    assert (ines.boarded, ines.got_off) == (True, True)
    assert (zoe.boarded, zoe.got_off) == (False, False)
    morning = call(app, boarding_sheet, s.cat.circuit_id, data.MONDAY, "morning", user_id=s.driver.id,
                   today=data.MONDAY)
    assert not any(c.boarded or c.got_off for st in morning.stops for c in st.children)
    # The staff's boarding CSV for the evening says « oui » in both columns for Inès.
    client = login(make_client(), factory.staff().email)
    body = client.get(f"/presences/car?circuit_id={s.cat.circuit_id}&jour={data.MONDAY.isoformat()}"
                      "&trajet=evening&format=csv").get_data().decode("utf-8-sig").splitlines()
    assert body[0].endswith(";Monté;Descendu")
    assert next(line for line in body if "MARTIN" in line).endswith(";oui;oui")
    assert next(line for line in body if "PETIT" in line).endswith(";non;non")
    morning_csv = client.get(f"/presences/car?circuit_id={s.cat.circuit_id}&jour={data.MONDAY.isoformat()}"
                             "&trajet=morning&format=csv").get_data().decode("utf-8-sig").splitlines()
    assert next(line for line in morning_csv if "MARTIN" in line).endswith(";non;non")
