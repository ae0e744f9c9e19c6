"""The allocation of a wish campaign, as a pure function over plain data (no database, no clock).

Why pure: the result must be reproducible byte for byte from the published data (wishes, rules,
seed), and property tests run it on thousands of random catalogues. `allocation_run.py` gathers the
data from the database, calls `allocate()`, and turns the result into offers and waiting-list entries.

The rules (docs/allocation.md):
- Rounds: round k considers each child's k-th wish, so every family has its first wish considered
  before anyone's second. A sibling group (« ensemble ou pas du tout », the household's wishes for one
  week marked together) is considered in the round of its best-ranked member, all or nothing.
- Within a round, items go in priority order: points (household criteria + the child's + « a sibling
  already has this week » as it stood when the round began) descending, then draw rank ascending,
  then household id, child id, wish id (never reached for two households: draw ranks are distinct).
- An item needs one place of the week per child and, for the bus, one seat of its circuit that week
  (« bus ou sur place » takes the bus while a seat is free, else on-site).
- When an item is refused for want of room in a week (or of seats on a circuit that week), that week
  (or circuit × week) is closed for the rest of the round: nobody after it in the round gets it,
  even a single child when a larger sibling group could not fit. The place goes to later rounds.
- A child never gets more than `max_per_child` weeks, nor a week it already has.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping

GIVEN = "given"
REFUSED = "refused"

# Why a wish was refused (the explanation's codes, French labels in allocation_reads).
FULL = "full"  # no place left in the week this round
GROUP_NO_ROOM = "group_no_room"  # fewer places left than children in the sibling group
BUS_FULL = "bus_full"  # no seat left on the circuit that week this round
MAX_REACHED = "max_reached"  # the child already has the maximum number of weeks
ALREADY_GIVEN = "already_given"  # the child already has this week (another household, or booked)
GROUP_MEMBER = "group_member"  # a sibling of the group could not be given the week: all or nothing
# Reasons fixed before the allocation (eligibility): passed in as WishIn.blocked.

# Refused wishes that go on the waiting list, in allocation order; the others cannot be given anyway.
WAITLISTED = (FULL, GROUP_NO_ROOM, BUS_FULL, GROUP_MEMBER)

NO_RANK = 10**9


@dataclass(frozen=True)
class WishIn:
    id: int
    household_id: int
    child_id: int
    week_id: int
    rank: int
    mode: str  # bus | onsite | any
    circuit_id: int | None = None
    together: bool = False
    blocked: str | None = None  # a reason code decided before the allocation (not eligible)


@dataclass(frozen=True)
class Problem:
    wishes: tuple[WishIn, ...]
    places: Mapping[int, int]  # week id → places free
    seats: Mapping[tuple[int, int], int]  # (circuit id, week id) → seats free
    household_points: Mapping[int, int]
    child_points: Mapping[int, int] = field(default_factory=dict)
    sibling_points: int = 0
    draw_rank: Mapping[int, int] = field(default_factory=dict)
    max_per_child: int | None = None
    booked: frozenset[tuple[int, int]] = frozenset()  # (child id, week id) already live


@dataclass(frozen=True)
class WishOut:
    wish_id: int
    household_id: int
    child_id: int
    week_id: int
    round: int
    order: int  # position of its item in the whole allocation (1 = first considered)
    points: int
    outcome: str  # given | refused
    reason: str | None
    transport: str | None  # bus | onsite when given


@dataclass
class _State:
    places: dict[int, int]
    seats: dict[tuple[int, int], int]
    given: set[tuple[int, int]]  # (child, week), the already booked ones included
    counts: dict[int, int]  # child → weeks given
    by_household_week: dict[tuple[int, int], set[int]]  # (household, week) → children given
    closed_weeks: set[int] = field(default_factory=set)
    closed_seats: set[tuple[int, int]] = field(default_factory=set)


def _items(wishes: list[WishIn]) -> list[tuple[int, tuple[WishIn, ...]]]:
    """(round, members) for every single wish and every sibling group, in a stable order."""
    groups: dict[tuple[int, int], list[WishIn]] = {}
    for wish in wishes:
        if wish.together:
            groups.setdefault((wish.household_id, wish.week_id), []).append(wish)
    grouped: set[int] = set()
    items: list[tuple[int, tuple[WishIn, ...]]] = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda w: (w.child_id, w.id))
        if len({w.child_id for w in members}) >= 2:
            grouped.update(w.id for w in members)
            items.append((min(w.rank for w in members), tuple(members)))
    items.extend((wish.rank, (wish,)) for wish in wishes if wish.id not in grouped)
    items.sort(key=lambda item: (item[0], item[1][0].id))
    return items


def allocate(problem: Problem) -> list[WishOut]:
    """Settle every wish; the result is sorted by wish id and depends on nothing but `problem`."""
    wishes = sorted(problem.wishes, key=lambda w: w.id)
    state = _State(places={w: max(0, int(n)) for w, n in sorted(problem.places.items())},
                   seats={k: max(0, int(n)) for k, n in sorted(problem.seats.items())},
                   given=set(problem.booked), counts={}, by_household_week={})
    items = _items(wishes)
    results: dict[int, WishOut] = {}
    order = 0
    for round_no in sorted({r for r, _m in items}):
        state.closed_weeks.clear()
        state.closed_seats.clear()
        keyed = []
        for _r, members in (item for item in items if item[0] == round_no):
            points = _points(problem, members, state)
            first = members[0]
            keyed.append(((-points, problem.draw_rank.get(first.household_id, NO_RANK), first.household_id,
                           first.child_id, first.id), points, members))
        keyed.sort(key=lambda k: k[0])
        for _key, points, members in keyed:
            order += 1
            for out in _settle(problem, state, members, round_no, order, points):
                results[out.wish_id] = out
    return [results[w.id] for w in wishes]


def _points(problem: Problem, members: tuple[WishIn, ...], state: _State) -> int:
    first = members[0]
    points = problem.household_points.get(first.household_id, 0)
    points += max(problem.child_points.get(w.child_id, 0) for w in members)
    children = {w.child_id for w in members}
    if state.by_household_week.get((first.household_id, first.week_id), set()) - children:
        points += problem.sibling_points
    return points


def _settle(problem: Problem, state: _State, members: tuple[WishIn, ...], round_no: int, order: int,
            points: int) -> list[WishOut]:
    def out(wish: WishIn, outcome: str, reason: str | None, transport: str | None = None) -> WishOut:
        return WishOut(wish.id, wish.household_id, wish.child_id, wish.week_id, round_no, order, points,
                       outcome, reason, transport)

    settled: list[WishOut] = []
    live: list[WishIn] = []
    for wish in members:
        if (wish.child_id, wish.week_id) in state.given:
            settled.append(out(wish, REFUSED, ALREADY_GIVEN))  # the child has it: the group does not need it
        else:
            live.append(wish)
    limit = problem.max_per_child
    blocking = [(w, w.blocked) for w in live if w.blocked] + [
        (w, MAX_REACHED) for w in live
        if not w.blocked and limit is not None and state.counts.get(w.child_id, 0) >= limit]
    if blocking:
        reasons = {w.id: reason for w, reason in blocking}
        settled.extend(out(w, REFUSED, reasons.get(w.id, GROUP_MEMBER)) for w in live)
        return settled
    if not live:
        return settled
    week_id = live[0].week_id
    need = len(live)
    free = 0 if week_id in state.closed_weeks else state.places.get(week_id, 0)
    if free < need:
        reason = FULL if free == 0 or need == 1 else GROUP_NO_ROOM
        state.closed_weeks.add(week_id)
        settled.extend(out(w, REFUSED, reason) for w in live)
        return settled
    taken: dict[tuple[int, int], int] = {}
    transports: list[str] = []
    for wish in live:
        key = (wish.circuit_id or 0, week_id)
        closed = key in state.closed_seats or wish.circuit_id is None
        left = 0 if closed else state.seats.get(key, 0) - taken.get(key, 0)
        if wish.mode == "onsite":
            transports.append("onsite")
        elif left > 0:
            taken[key] = taken.get(key, 0) + 1
            transports.append("bus")
        elif wish.mode == "any":
            transports.append("onsite")
        else:
            state.closed_seats.add(key)  # the bus of this child is full; its siblings are refused with it
            settled.extend(out(w, REFUSED, BUS_FULL if w.id == wish.id else GROUP_MEMBER) for w in live)
            return settled
    state.places[week_id] -= need
    for key, count in taken.items():
        state.seats[key] -= count
    for wish, transport in zip(live, transports):
        state.given.add((wish.child_id, week_id))
        state.counts[wish.child_id] = state.counts.get(wish.child_id, 0) + 1
        state.by_household_week.setdefault((wish.household_id, week_id), set()).add(wish.child_id)
        settled.append(out(wish, GIVEN, None, transport))
    return settled


def result_bytes(outcomes: Iterable[WishOut]) -> bytes:
    """The canonical serialisation: what « byte for byte » is measured on, and what is published."""
    rows = [asdict(o) for o in sorted(outcomes, key=lambda o: o.wish_id)]
    return json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
