"""Prices in integer cents: the week by QF bracket, plus the period's bus price when the bus is taken.

A household without a validated QF (no CAF number, or not yet read by staff) pays the top bracket.
The same function prices a line when it is added and again at checkout.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from app.models import Household, Period, TariffBracket, TransportMode, Week
from app.services.errors import ValidationFailed
from app.services.household.quotients import quotient_on


@dataclass(frozen=True)
class LinePrice:
    price_cents: int
    bus_price_cents: int
    bracket_label: str

    @property
    def total_cents(self) -> int:
        return self.price_cents + self.bus_price_cents


def bracket_for(household: Household, period: Period, week: Week | None = None) -> TariffBracket:
    """The bracket of the QF valid at the week's start (the period's start when no week is given):
    household.quotients owns the QF's dates and sources."""
    brackets = sorted(period.tariffs, key=lambda b: b.qf_min)
    if not brackets:
        raise ValidationFailed(_("Les tarifs de cette période ne sont pas encore publiés : "
                                 "les inscriptions ouvriront dès qu'ils le seront."), code="no_tariff")
    quotient = quotient_on(household, week.starts_on if week is not None else period.starts_on)
    if quotient is None:
        return brackets[-1]
    for bracket in brackets:
        if bracket.qf_min <= quotient and (bracket.qf_max is None or quotient <= bracket.qf_max):
            return bracket
    # A gap in the staff's brackets: charge the nearest bracket below, never nothing.
    below = [b for b in brackets if b.qf_min <= quotient]
    return below[-1] if below else brackets[0]


def price_line(household: Household, period: Period, transport_mode: str, week: Week | None = None) -> LinePrice:
    bracket = bracket_for(household, period, week)
    bus = period.bus_price_cents if transport_mode == TransportMode.BUS else 0
    return LinePrice(price_cents=bracket.price_cents, bus_price_cents=bus, bracket_label=bracket.label)
