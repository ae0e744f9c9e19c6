"""The allocation's pure core, the draw and the criteria: no database, no app."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.booking import allocation as core
from app.services.booking.allocation import GIVEN, Problem, WishIn, allocate, result_bytes
from app.services.booking.draw import draw_ranks, draw_seed, household_score
from app.services.booking.priority import (
    LOW_QUOTIENT,
    RESIDENT,
    WORKING,
    HouseholdFacts,
    Rules,
    commune_key,
    household_criteria,
    household_points,
    parse_communes,
)

# --- the draw against docs/allocation.md -------------------------------------------------------

DOC_VALUE = "Loto 3 janvier 2026 : 7 12 25 33 41 (5)"
DOC_SEED = "b3cb1108ccb137e21b76a4f89e75417cf142368decc756f053e3cc557cda7316"


def test_draw_worked_example():
    assert draw_seed(DOC_VALUE, [12, 3, 7, 15, 4]) == DOC_SEED
    assert draw_seed("  " + DOC_VALUE + "\n", [15, 12, 7, 4, 3]) == DOC_SEED  # order and spaces do not matter
    assert household_score(DOC_SEED, 63) == "c8b4049848a5c2afab46fe84d4fa8091d7f348f050f7f53c6e5b71ae0ec55373"
    assert household_score(DOC_SEED, 17) == "1e4ac45f71338caac516d646e31d45165fbc91835f20cdef18713df07081d022"
    assert draw_ranks(DOC_SEED, [58, 63, 42, 17]) == {17: 1, 42: 2, 63: 3, 58: 4}


def test_draw_changes_with_the_value_and_the_wishes():
    assert draw_seed(DOC_VALUE, [3, 4, 7, 12]) != DOC_SEED
    assert draw_seed(DOC_VALUE + "x", [3, 4, 7, 12, 15]) != DOC_SEED


# --- the criteria --------------------------------------------------------------------------------

RULES = Rules(resident_points=10, resident_communes=("Saint-Jean-de-Luz", "Ciboure"), working_points=20,
              sibling_points=5, no_previous_week_points=3, low_quotient_points=7, quotient_threshold=700)


def facts(**changes) -> HouseholdFacts:
    base = dict(household_id=1, city="Ciboure", guardians_with_employer=2, guardians=2, employer_attestations=2,
                quotient=650)
    base.update(changes)
    return HouseholdFacts(**base)


def test_resident_criterion_compares_communes_loosely():
    assert commune_key("ST JEAN-DE-LUZ") == commune_key("saint jean de luz") == commune_key("Saint-Jean-de-Luz")
    assert RESIDENT in household_criteria(facts(city="st-jean-de-luz"), RULES)
    assert RESIDENT not in household_criteria(facts(city="Hendaye"), RULES)
    assert RESIDENT not in household_criteria(facts(city=None), RULES)
    assert parse_communes("Ciboure\n ciboure \n\nUrrugne, Ascain") == ("Ciboure", "Urrugne", "Ascain")


def test_working_criterion_needs_every_guardian_and_their_attestations():
    assert WORKING in household_criteria(facts(), RULES)
    assert WORKING not in household_criteria(facts(guardians_with_employer=1), RULES)
    assert WORKING not in household_criteria(facts(employer_attestations=1), RULES)
    assert WORKING not in household_criteria(facts(guardians=0, guardians_with_employer=0), RULES)


def test_low_quotient_criterion_is_strictly_under_the_threshold():
    assert LOW_QUOTIENT in household_criteria(facts(quotient=699), RULES)
    assert LOW_QUOTIENT not in household_criteria(facts(quotient=700), RULES)
    assert LOW_QUOTIENT not in household_criteria(facts(quotient=None), RULES)
    assert LOW_QUOTIENT not in household_criteria(facts(quotient=100), Rules(low_quotient_points=7))
    assert household_points(facts(), RULES) == 10 + 20 + 7


def test_sibling_criterion_counts_a_brother_given_the_week_in_an_earlier_round():
    # Household 1: Léa (child 10) got week 100 in round 1; Hugo (11) wishes it in round 2, as does
    # household 2's child 20 (better draw). One place left: Hugo wins on the sibling points.
    wishes = (WishIn(1, 1, 10, 100, 1, "onsite"), WishIn(2, 1, 11, 100, 2, "onsite"),
              WishIn(3, 2, 20, 101, 1, "onsite"), WishIn(4, 2, 20, 100, 2, "onsite"))
    problem = Problem(wishes, {100: 2, 101: 1}, {}, {1: 0, 2: 0}, sibling_points=5, draw_rank={1: 2, 2: 1})
    out = {o.wish_id: o for o in allocate(problem)}
    assert out[2].outcome == GIVEN and out[2].points == 5
    assert out[4].outcome == core.REFUSED and out[4].reason == core.FULL and out[4].round == 2
    no_bonus = {o.wish_id: o for o in allocate(Problem(wishes, {100: 2, 101: 1}, {}, {}, draw_rank={1: 2, 2: 1}))}
    assert no_bonus[4].outcome == GIVEN and no_bonus[2].outcome == core.REFUSED


def test_no_previous_week_criterion_is_the_childs():
    wishes = (WishIn(1, 1, 10, 100, 1, "onsite"), WishIn(2, 2, 20, 100, 1, "onsite"))
    problem = Problem(wishes, {100: 1}, {}, {}, child_points={20: 3}, draw_rank={1: 1, 2: 2})
    assert [o.outcome for o in allocate(problem)] == [core.REFUSED, GIVEN]


def test_group_is_all_or_nothing_and_closes_the_week_for_the_round():
    wishes = (WishIn(1, 1, 10, 100, 1, "onsite", together=True), WishIn(2, 1, 11, 100, 1, "onsite", together=True),
              WishIn(3, 2, 20, 100, 1, "onsite"), WishIn(4, 3, 30, 101, 1, "onsite"),
              WishIn(5, 3, 30, 100, 2, "onsite"))
    problem = Problem(wishes, {100: 1, 101: 1}, {}, {1: 10}, draw_rank={1: 1, 2: 2, 3: 3})
    out = {o.wish_id: o for o in allocate(problem)}
    assert out[1].reason == out[2].reason == core.GROUP_NO_ROOM
    assert out[3].outcome == core.REFUSED and out[3].reason == core.FULL  # closed in round 1
    assert out[5].outcome == GIVEN and out[5].round == 2  # the place went to round 2


def test_bus_any_falls_back_onsite_and_max_per_child():
    wishes = (WishIn(1, 1, 10, 100, 1, "bus", circuit_id=7), WishIn(2, 2, 20, 100, 1, "bus", circuit_id=7),
              WishIn(3, 3, 30, 100, 1, "any", circuit_id=7), WishIn(4, 1, 10, 101, 2, "onsite"))
    problem = Problem(wishes, {100: 5, 101: 5}, {(7, 100): 1}, {}, draw_rank={1: 1, 2: 2, 3: 3}, max_per_child=1)
    out = {o.wish_id: o for o in allocate(problem)}
    assert (out[1].outcome, out[1].transport) == (GIVEN, "bus")
    assert out[2].reason == core.BUS_FULL
    assert (out[3].outcome, out[3].transport) == (GIVEN, "onsite")
    assert out[4].reason == core.MAX_REACHED


# --- properties on random catalogues -------------------------------------------------------------

@st.composite
def problems(draw):
    weeks = draw(st.lists(st.integers(0, 4), min_size=1, max_size=4))
    week_ids = [100 + i for i in range(len(weeks))]
    circuits = [7, 8]
    seats = {(c, w): draw(st.integers(0, 3)) for c in circuits for w in week_ids}
    n_households = draw(st.integers(1, 8))
    wishes: list[WishIn] = []
    next_id = draw(st.integers(1, 50))
    for h in range(1, n_households + 1):
        for c in range(draw(st.integers(1, 3))):
            child = h * 10 + c
            chosen = draw(st.lists(st.sampled_from(week_ids), unique=True, max_size=len(week_ids)))
            for rank, week in enumerate(chosen, start=1):
                mode = draw(st.sampled_from(["onsite", "bus", "any"]))
                wishes.append(WishIn(next_id, h, child, week, rank, mode,
                                     None if mode == "onsite" else draw(st.sampled_from(circuits)),
                                     together=draw(st.booleans()),
                                     blocked=draw(st.sampled_from([None, None, None, None, "age"]))))
                next_id += draw(st.integers(1, 3))
    households = list(range(1, n_households + 1))
    ranks = draw(st.permutations(households))
    return Problem(tuple(wishes), dict(zip(week_ids, weeks)), seats,
                   {h: draw(st.sampled_from([0, 5, 10])) for h in households},
                   child_points={w.child_id: draw(st.sampled_from([0, 3])) for w in wishes},
                   sibling_points=draw(st.sampled_from([0, 4])),
                   draw_rank={h: i + 1 for i, h in enumerate(ranks)},
                   max_per_child=draw(st.sampled_from([None, 1, 2])))


@settings(max_examples=300, deadline=None)
@given(problems(), st.randoms(use_true_random=False))
def test_same_input_same_bytes_whatever_the_order(problem, rnd: random.Random):
    shuffled = list(problem.wishes)
    rnd.shuffle(shuffled)
    again = Problem(tuple(shuffled), dict(reversed(list(problem.places.items()))), problem.seats,
                    problem.household_points, problem.child_points, problem.sibling_points, problem.draw_rank,
                    problem.max_per_child)
    assert result_bytes(allocate(problem)) == result_bytes(allocate(again))


@settings(max_examples=300, deadline=None)
@given(problems())
def test_capacity_seats_groups_and_maximum_hold(problem):
    out = allocate(problem)
    wishes = {w.id: w for w in problem.wishes}
    given_ = [o for o in out if o.outcome == GIVEN]
    for week, places in problem.places.items():
        assert sum(1 for o in given_ if o.week_id == week) <= places
    for (circuit, week), seats in problem.seats.items():
        assert sum(1 for o in given_ if o.transport == "bus" and o.week_id == week
                   and wishes[o.wish_id].circuit_id == circuit) <= seats
    assert all(wishes[o.wish_id].mode != "onsite" or o.transport == "onsite" for o in given_)
    assert all(wishes[o.wish_id].mode != "bus" or o.transport == "bus" for o in given_)
    assert not any(o.outcome == GIVEN and wishes[o.wish_id].blocked for o in out)
    if problem.max_per_child:
        for child in {o.child_id for o in given_}:
            assert sum(1 for o in given_ if o.child_id == child) <= problem.max_per_child
    assert len({(o.child_id, o.week_id) for o in given_}) == len(given_)
    groups: dict[tuple[int, int], list] = {}
    for o in out:
        if wishes[o.wish_id].together:
            groups.setdefault((o.household_id, o.week_id), []).append(o)
    for members in groups.values():
        if len({m.child_id for m in members}) >= 2:
            outcomes = {m.outcome for m in members if m.reason != core.ALREADY_GIVEN}
            assert len(outcomes) <= 1, members


@settings(max_examples=300, deadline=None)
@given(problems())
def test_nobody_after_a_refusal_for_room_gets_that_week_in_the_round(problem):
    out = allocate(problem)
    wishes = {w.id: w for w in problem.wishes}

    def key(o):
        return (-o.points, problem.draw_rank[o.household_id])

    for refused in out:
        if refused.reason not in (core.FULL, core.GROUP_NO_ROOM, core.BUS_FULL):
            continue
        for other in out:
            if other.outcome != GIVEN or other.round != refused.round or other.week_id != refused.week_id:
                continue
            if refused.reason == core.BUS_FULL and not (
                    other.transport == "bus"
                    and wishes[other.wish_id].circuit_id == wishes[refused.wish_id].circuit_id):
                continue
            # the given one came first, and so had a higher priority (or equal and a better draw)
            assert other.order < refused.order
            assert key(other) <= key(refused)
