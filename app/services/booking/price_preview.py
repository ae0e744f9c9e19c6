"""What a week will cost this household, shown where the week is chosen (before the basket).

The old portal showed the price first in the basket: a parent chose weeks blind. The preview asks
`pricing.price_line` — the very function the basket calls when a line is added — so the amount
read on the weeks page is the amount charged, QF bracket and bus extra included.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.models import Household, Period, TransportMode, Week
from app.services.booking.pricing import price_line
from app.services.errors import ValidationFailed


@dataclass(frozen=True)
class PeriodPrices:
    bracket_label: str
    week_cents: int  # on-site drop-off
    bus_extra_cents: int  # added when the bus is taken (0 when the period's bus is free)

    @property
    def with_bus_cents(self) -> int:
        return self.week_cents + self.bus_extra_cents

    def as_dict(self) -> dict:
        return {"bracket_label": self.bracket_label, "week_cents": self.week_cents,
                "bus_extra_cents": self.bus_extra_cents, "with_bus_cents": self.with_bus_cents}


def week_price(household: Household, period: Period, week: Week | None = None) -> PeriodPrices | None:
    """The household's price of `week` (the QF valid at its start, as the basket prices it; the
    period's start without a week), on site and with the bus; None while the period's tariffs are not
    published (the weeks page then says so through eligibility)."""
    try:
        onsite = price_line(household, period, TransportMode.ONSITE, week)
        bus = price_line(household, period, TransportMode.BUS, week)
    except ValidationFailed:
        return None
    return PeriodPrices(bracket_label=onsite.bracket_label, week_cents=onsite.total_cents,
                        bus_extra_cents=bus.total_cents - onsite.total_cents)


def period_prices(household: Household, period: Period, weeks: list[Week]) -> tuple[PeriodPrices | None,
                                                                                     dict[int, PeriodPrices]]:
    """The price at the period's start (the page's summary) and each week's own (a QF that changes
    within the period changes the weeks after it)."""
    by_week = {week.id: price for week in weeks if (price := week_price(household, period, week)) is not None}
    return week_price(household, period), by_week
