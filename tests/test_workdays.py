"""Working days and "72 h ouvrées" on top of the `holidays` package (app.services.household.workdays).

Pins which days are off for the review promise: the national list of metropolitan France, Whit
Monday included (see the module docstring for why), no Alsace-Moselle or overseas days, Paris time.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from app.services.household.workdays import is_working_day, public_holidays, working_hours_between

PARIS = ZoneInfo("Europe/Paris")


def _paris(*args):
    return datetime(*args, tzinfo=PARIS)


def test_easter_monday_2027_is_off_and_the_day_after_is_not():
    assert not is_working_day(date(2027, 3, 29))  # lundi de Pâques 2027
    assert is_working_day(date(2027, 3, 30))


def test_ascension_2027_is_off():
    assert date(2027, 5, 6) in public_holidays(2027)
    assert not is_working_day(date(2027, 5, 6))  # jeudi de l'Ascension
    assert is_working_day(date(2027, 5, 7))  # the "pont" Friday is a working day


def test_whit_monday_is_a_day_off_by_decision():
    # On the legal list (journée de solidarité is each employer's choice): kept off, as before.
    assert not is_working_day(date(2027, 5, 17))
    assert not is_working_day(date(2026, 5, 25))
    # The library follows the law: no Whit Monday holiday in 2005-2007.
    assert is_working_day(date(2006, 6, 5))


def test_fourteenth_of_july_is_off():
    assert not is_working_day(date(2027, 7, 14))  # a Wednesday
    assert is_working_day(date(2027, 7, 15))


def test_weekends_are_off():
    assert not is_working_day(date(2027, 1, 2))  # Saturday
    assert not is_working_day(date(2027, 1, 3))  # Sunday
    assert is_working_day(date(2027, 1, 4))  # Monday


def test_no_alsace_moselle_or_overseas_days():
    assert is_working_day(date(2027, 3, 26))  # Good Friday (Alsace-Moselle only)
    assert is_working_day(date(2028, 12, 26))  # Saint-Étienne (Alsace-Moselle only), a Tuesday
    assert is_working_day(date(2027, 5, 27))  # abolition of slavery in Guadeloupe, a Thursday
    assert public_holidays(2027) == {
        date(2027, 1, 1), date(2027, 3, 29), date(2027, 5, 1), date(2027, 5, 6), date(2027, 5, 8),
        date(2027, 5, 17), date(2027, 7, 14), date(2027, 8, 15), date(2027, 11, 1), date(2027, 11, 11),
        date(2027, 12, 25),
    }


def test_a_span_over_a_holiday_skips_it():
    # Wednesday 5 May 2027 noon → Monday 10 May noon: 12 h + Ascension 0 + 24 h + weekend 0 + 12 h.
    assert working_hours_between(_paris(2027, 5, 5, 12), _paris(2027, 5, 10, 12)) == pytest.approx(48)


def test_seventy_two_working_hours_across_easter():
    # Friday 26 March 2027 9:00: 15 h, Easter weekend and Monday off, Tuesday, Wednesday, Thursday 9 h.
    start = _paris(2027, 3, 26, 9)
    assert working_hours_between(start, _paris(2027, 4, 1, 9)) == pytest.approx(72)
    assert working_hours_between(start, _paris(2027, 4, 1, 8)) < 72


def test_days_are_paris_days_not_utc_days():
    # Friday 23:30 in Paris is 22:30 UTC; Monday 0:00 in Paris is still Sunday in UTC.
    start = datetime(2027, 1, 8, 22, 30, tzinfo=timezone.utc)
    end = _paris(2027, 1, 11, 0)
    assert working_hours_between(start, end) == pytest.approx(0.5)


def test_naive_datetimes_are_refused_and_a_reversed_span_is_zero():
    with pytest.raises(ValueError):
        working_hours_between(datetime(2027, 1, 4, 9), _paris(2027, 1, 5, 9))  # noqa: DTZ001 (the naive value under test)
    assert working_hours_between(_paris(2027, 1, 5, 9), _paris(2027, 1, 4, 9)) == 0
