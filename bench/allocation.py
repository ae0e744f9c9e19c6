"""Allocation of a large wish campaign: 5,000 households × 3 children × 5 wishes (75,000 wishes).

Not a test (no timing assertion): run `.venv/bin/python -m bench.allocation [households]` and read the
time and peak memory of the pure core (`app.services.booking.allocation.allocate`), the draw, and the
canonical serialisation. The database part of a publication (one offer per given wish) is not
measured here.
"""
from __future__ import annotations

import random
import sys
import time
import tracemalloc

from app.services.booking.allocation import Problem, WishIn, allocate, result_bytes
from app.services.booking.draw import draw_ranks, draw_seed


def build(households: int, children: int = 3, wishes_per_child: int = 5, weeks: int = 8,
          seed: int = 15) -> tuple[list[WishIn], dict[int, int], dict[tuple[int, int], int]]:
    rnd = random.Random(seed)
    week_ids = list(range(1, weeks + 1))
    wishes: list[WishIn] = []
    wish_id = 0
    for h in range(1, households + 1):
        for c in range(children):
            child = h * 10 + c
            for rank, week in enumerate(rnd.sample(week_ids, wishes_per_child), start=1):
                wish_id += 1
                mode = rnd.choice(["onsite", "bus", "any"])
                circuit = None if mode == "onsite" else rnd.randint(1, 4)
                wishes.append(WishIn(wish_id, h, child, week, rank, mode, circuit, together=rnd.random() < 0.2))
    places = {w: households * children * wishes_per_child // (weeks * 3) for w in week_ids}
    seats = {(c, w): places[w] // 6 for c in range(1, 5) for w in week_ids}
    return wishes, places, seats


def run(households: int) -> tuple[dict[str, float], int, int, int, int]:
    wishes, places, seats = build(households)
    times = {}
    started = time.perf_counter()
    seed = draw_seed("bench", [w.id for w in wishes])
    ranks = draw_ranks(seed, {w.household_id for w in wishes})
    times["tirage"] = time.perf_counter() - started
    rnd = random.Random(1)
    problem = Problem(tuple(wishes), places, seats, {h: rnd.choice([0, 10, 20, 30]) for h in ranks},
                      child_points={w.child_id: rnd.choice([0, 5]) for w in wishes}, sibling_points=5,
                      draw_rank=ranks, max_per_child=3)
    started = time.perf_counter()
    outcomes = allocate(problem)
    times["attribution"] = time.perf_counter() - started
    started = time.perf_counter()
    data = result_bytes(outcomes)
    times["sérialisation"] = time.perf_counter() - started
    given = sum(1 for o in outcomes if o.outcome == "given")
    return times, len(wishes), given, sum(places.values()), len(data)


def main(households: int = 5000) -> None:
    """Times from a plain run; the memory peak from a second run under tracemalloc (which slows it)."""
    times, wishes, given, places, size = run(households)
    tracemalloc.start()
    run(households)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{households} foyers, {wishes} vœux, {given} attribués sur {places} places")
    print(" ; ".join(f"{name} {seconds:.2f} s" for name, seconds in times.items())
          + f" ; total {sum(times.values()):.2f} s ; résultat {size / 1e6:.1f} Mo")
    print(f"mémoire (pic tracemalloc, données comprises) : {peak / 1e6:.0f} Mo")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
