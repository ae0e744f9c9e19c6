"""What staff read every morning: rosters, bus lists, on-site lists, occupancy and takings.

One entry point for the staff views, the CSV exports and the tests; the work is done in
`rosters` (the lists of children), `occupancy` (places and seats) and `takings` (money), each
running a fixed number of SQL queries whatever the number of rows.
"""
from __future__ import annotations

from app.services.operations.occupancy import (  # noqa: F401 (re-exported)
    CircuitOccupancy,
    Occupancy,
    WeekOccupancy,
    occupancy,
)
from app.services.operations.rosters import (  # noqa: F401 (re-exported)
    BusList,
    BusStop,
    Contact,
    ListChild,
    Pickup,
    Roster,
    age_on,
    bus_list,
    bus_lists,
    onsite_list,
    onsite_lists,
    resolve_weeks,
    roster,
    rosters,
)
from app.services.operations.takings import (  # noqa: F401 (re-exported)
    MONEY_IN_STATUSES,
    Takings,
    _allocate,
    takings,
)
